"""jsonutil.streamed: a body written as it is sent reads as the same JSON as one written whole."""
from __future__ import annotations

import json

from events_service import jsonutil


def test_streamed_writes_the_text_around_a_streamed_value_in_order():
    made = []

    def chunks():
        made.append(1)
        yield b'[{"a":1}'
        yield b',{"a":2}]'
    # a string holding the text of the mark cannot be taken for it: orjson escapes the NUL byte
    payload = {"meta": {"note": "\x00streamed\x00"},
               "data": {"events": jsonutil.StreamedJSON(chunks), "n": 2}}
    body = jsonutil.streamed(payload)
    assert not isinstance(body, bytes) and made == []  # nothing written before it is sent
    parts = list(body)
    assert parts[1:3] == [b'[{"a":1}', b',{"a":2}]']
    assert json.loads(b"".join(parts)) == {"meta": {"note": "\x00streamed\x00"},
                                           "data": {"events": [{"a": 1}, {"a": 2}], "n": 2}}
    assert b"".join(parts) == jsonutil.dumps(payload)  # written whole, the same bytes


def test_streamed_without_a_streamed_value_is_the_whole_body():
    payload = {"data": {"events": jsonutil.RawJSON("[1,2]"), "big": 2 ** 70}}
    whole = b'{"data":{"events":[1,2],"big":1180591620717411303424}}'
    assert jsonutil.streamed(payload) == jsonutil.dumps(payload) == whole
