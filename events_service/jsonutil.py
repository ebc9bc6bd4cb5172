"""JSON encoding: orjson for speed, the stdlib when orjson cannot (integers beyond 64 bits)."""
from __future__ import annotations

import json
from typing import Any, Callable, Iterator

import orjson


class RawJSON:
    """JSON text already written (a page of documents, scalar_json), put into the output as it is."""
    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


class StreamedJSON:
    """JSON text written while the response is sent: `chunks()` yields its bytes, so that the client
    reads the first while the rest is written (a page of documents, scalar_json). dumps() writes it
    whole; streamed() as it goes."""
    __slots__ = ("chunks",)

    def __init__(self, chunks: Callable[[], Iterator[bytes]]) -> None:
        self.chunks = chunks


# Where a StreamedJSON goes in the text around it: a NUL byte never occurs in orjson's output
# (it escapes one in a string), so the mark cannot be found anywhere else.
_MARK = b"\x00streamed\x00"


def _raw_fragment(value: Any) -> Any:
    if isinstance(value, RawJSON):
        return orjson.Fragment(value.text)
    if isinstance(value, StreamedJSON):
        return orjson.Fragment(b"".join(value.chunks()))
    raise TypeError(f"Type is not JSON serializable: {type(value).__name__}")


def _raw_parsed(value: Any) -> Any:
    if isinstance(value, RawJSON):
        return json.loads(value.text)
    if isinstance(value, StreamedJSON):
        return json.loads(b"".join(value.chunks()))
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def dumps(value: Any) -> bytes:
    """Compact JSON bytes of `value`; integers of any size are written exactly (JSON allows them,
    and clients and jsonb may send and store them), which orjson refuses."""
    try:
        return orjson.dumps(value, default=_raw_fragment)
    except TypeError:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=_raw_parsed).encode()


def streamed(value: Any) -> bytes | Iterator[bytes]:
    """dumps(value), but with the text of a StreamedJSON inside (at most one) written as it is sent:
    the text before it, its chunks, the text after it."""
    found: list[StreamedJSON] = []

    def mark(item: Any) -> Any:
        if isinstance(item, StreamedJSON) and not found:
            found.append(item)
            return orjson.Fragment(_MARK)
        return _raw_fragment(item)
    try:
        text = orjson.dumps(value, default=mark)
    except TypeError:
        return dumps(value)
    if not found:
        return text
    head, tail = text.split(_MARK, 1)
    return _around(head, found[0].chunks(), tail)


def _around(head: bytes, chunks: Iterator[bytes], tail: bytes) -> Iterator[bytes]:
    yield head
    yield from chunks
    yield tail


def as_sent(value: Any) -> Any:
    """`value` as a client reads it back (RawJSON parsed, integers exact): what response checks see."""
    return json.loads(dumps(value))
