"""The worker's side of the worker wire protocol, in one place.

The host's side is Sources/CrucibleWire/Worker (WorkerFrame.swift, WorkerJob.swift), and
Tests/CrucibleWireTests/WireAgreementTests.swift checks that the two agree: it imports this
module, compares its kinds and limits with the Swift ones, has it decode a job the host
encoded, and has the host decode frames encoded here.

A frame: u32 little-endian length (the kind byte and the payload), the kind byte, the payload.
"""

import json
import struct

FRAME = struct.Struct("<IB")

# Frame kinds, by the name the host gives them (WorkerFrameKind). The zygote, not this code,
# writes the other two: seccompViolation ("S") and confinementFailed ("F").
JOB = b"J"[0]  # host to worker: a job (see decode_job)
STDOUT = b"O"[0]  # captured stdout, a chunk
STDERR = b"E"[0]  # captured stderr, a chunk
OUTPUT_DROPPED = b"D"[0]  # DROPPED: the stream's kind byte, then how many bytes were dropped
RESULT = b"R"[0]  # TOKEN (the job's), then the result's JSON
WARM = b"W"[0]  # empty: the worker is ready for its job
TOOL_CALL = b"C"[0]  # a tool call's JSON
TOOL_ANSWER = b"A"[0]  # host to worker: the call's answer, JSON

KINDS = {
    "job": JOB, "stdout": STDOUT, "stderr": STDERR, "outputDropped": OUTPUT_DROPPED, "result": RESULT,
    "warm": WARM, "toolCall": TOOL_CALL, "toolAnswer": TOOL_ANSWER,
}

DROPPED = struct.Struct("<BQ")
TOKEN = struct.Struct("<Q")

# The job's header: flags, cell, the job's token (the result frame starts with it), stdout,
# stderr and value limits, then the byte lengths of the filename, the code and the JSON extras.
JOB_HEADER = struct.Struct("<BIQQQQHII")
KEEP_ALIVE = 1

# Field reads reported per job; the host keeps no more than this either.
MAX_READS = 10000

# Bytes the files written under /output may hold per job, unless the job's extras give
# `files_limit` (the host sends it only when it differs).
DEFAULT_FILES_LIMIT = 8 << 20


def decode_job(payload):
    """The job dictionary from a "J" frame's payload."""
    flags, cell, token, stdout_limit, stderr_limit, value_limit, name_size, code_size, extras_size = JOB_HEADER.unpack_from(payload)
    at = JOB_HEADER.size
    job = {
        "filename": payload[at : at + name_size].decode("utf-8", "replace"),
        "code": payload[at + name_size : at + name_size + code_size].decode("utf-8"),
        "keep_alive": bool(flags & KEEP_ALIVE),
        "cell": cell,
        "token": token,
        "stdout_limit": stdout_limit,
        "stderr_limit": stderr_limit,
        "value_limit": value_limit,
    }
    if extras_size:
        job.update(json.loads(payload[at + name_size + code_size : at + name_size + code_size + extras_size]))
    return job


def encode_job(code, filename="<cell>", cell=1, token=0, limits=(1 << 20, 1 << 20, 1 << 20), keep_alive=False):
    """A job's payload, as the host encodes one without extras (the worker's warm-up job uses it)."""
    name, text = filename.encode(), code.encode()
    flags = KEEP_ALIVE if keep_alive else 0
    return JOB_HEADER.pack(flags, cell, token, *limits, len(name), len(text), 0) + name + text


def frame(kind, payload):
    """One frame's bytes."""
    return FRAME.pack(len(payload) + 1, kind) + payload
