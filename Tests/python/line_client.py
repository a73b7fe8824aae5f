"""A JSON-RPC peer spoken to one line at a time, for tests that must see exactly what a server
writes (ids as sent, errors with id null) or send what a well-behaved client never would."""

import json
import os
import select
import subprocess
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CRUCIBLE = os.path.join(HERE, "..", "..", ".build", "debug", "crucible")


class LineClient:
    def __init__(self, *args, prefix=None):
        """Starts `crucible ARGS`; `prefix` is shell run before it (`ulimit -n 300`)."""
        command = [CRUCIBLE, *args]
        if prefix:
            command = ["bash", "-c", prefix + "; exec " + " ".join(command)]
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.buffer = b""

    def send(self, line):
        """One line: bytes as they are, text encoded as UTF-8, anything else as JSON."""
        if isinstance(line, str):
            line = line.encode()
        elif not isinstance(line, bytes):
            line = json.dumps(line).encode()
        self.process.stdin.write(line + b"\n")
        self.process.stdin.flush()

    def request(self, id, method, params=None):
        message = {"jsonrpc": "2.0", "id": id, "method": method}
        if params is not None:
            message["params"] = params
        self.send(message)

    def read_line(self, timeout=60):
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no line from crucible within %s s" % timeout)
            if select.select([self.process.stdout], [], [], remaining)[0]:
                chunk = os.read(self.process.stdout.fileno(), 1 << 20)
                if not chunk:
                    raise EOFError("crucible closed its output")
                self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return line

    def read(self, timeout=60):
        return json.loads(self.read_line(timeout))

    def call(self, id, method, params=None, timeout=60):
        """The answer to this request; answers to others still in flight are skipped."""
        self.request(id, method, params)
        while True:
            message = self.read(timeout)
            if isinstance(message, dict) and message.get("id") == id:
                return message

    def close(self, timeout=60):
        """Closes stdin, reads what is left (a server blocked writing to a full pipe cannot exit),
        and returns the messages that were still unread; the exit status is in `process`."""
        self.process.stdin.close()
        deadline = time.monotonic() + timeout
        rest = b""
        while True:
            assert time.monotonic() < deadline, "crucible did not exit within %s s of its input closing" % timeout
            chunk = os.read(self.process.stdout.fileno(), 1 << 20)
            if not chunk:
                break
            rest += chunk
        self.process.wait(timeout=max(1, deadline - time.monotonic()))
        return [json.loads(line) for line in (self.buffer + rest).splitlines() if line.strip()]
