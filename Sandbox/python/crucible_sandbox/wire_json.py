"""JSON for the worker's hot paths: one C call per document, both ways.

json.dumps and json.loads with options build an encoder or decoder and run several
Python-level frames on every call (encode, iterencode, detect_encoding, decode,
raw_decode); on a fresh worker's cold caches and on every tool call those frames cost
more than the JSON itself. These build the C encoder and scanner once.
"""

import json

_make_encoder = json.encoder.c_make_encoder
_scanner = json.decoder.JSONDecoder().scan_once


def encoder(allow_nan, separators, check_circular=False):
    """A function value -> str, like json.dumps(value, ensure_ascii=False, ...).

    Without check_circular a cycle ends in RecursionError rather than ValueError: use it
    only for values already known to be acyclic."""
    if _make_encoder is None:  # pragma: no cover - CPython always has _json
        return json.JSONEncoder(
            ensure_ascii=False, allow_nan=allow_nan, separators=separators, check_circular=check_circular
        ).encode
    item_separator, key_separator = separators  # json.dumps' order
    default = json.JSONEncoder().default
    if not check_circular:
        encode = _make_encoder(None, default, json.encoder.encode_basestring, None, key_separator, item_separator,
                               False, False, allow_nan)
        return lambda value: "".join(encode(value, 0))

    def encode_checked(value):
        # The markers dict must be new per document: it holds ids of the containers being encoded.
        return "".join(_make_encoder({}, default, json.encoder.encode_basestring, None, key_separator,
                                     item_separator, False, False, allow_nan)(value, 0))

    return encode_checked


def decode(data):
    """json.loads(data) for UTF-8 bytes or str that the host wrote: a JSON value, nothing around it."""
    text = data.decode("utf-8") if isinstance(data, (bytes, bytearray)) else data
    try:
        value, end = _scanner(text, 0)
    except StopIteration:
        return json.loads(text)  # raises the usual JSONDecodeError, with the position
    if end != len(text):
        return json.loads(text)  # whitespace around it is fine; anything else raises
    return value
