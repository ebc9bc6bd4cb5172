"""JSON encoding: orjson for speed, the stdlib when orjson cannot (integers beyond 64 bits)."""
from __future__ import annotations

import json
from typing import Any

import orjson


class RawJSON:
    """JSON text already written (a page of documents, scalar_json), put into the output as it is."""
    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


def _raw_fragment(value: Any) -> Any:
    if isinstance(value, RawJSON):
        return orjson.Fragment(value.text)
    raise TypeError(f"Type is not JSON serializable: {type(value).__name__}")


def _raw_parsed(value: Any) -> Any:
    if isinstance(value, RawJSON):
        return json.loads(value.text)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def dumps(value: Any) -> bytes:
    """Compact JSON bytes of `value`; integers of any size are written exactly (JSON allows them,
    and clients and jsonb may send and store them), which orjson refuses."""
    try:
        return orjson.dumps(value, default=_raw_fragment)
    except TypeError:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=_raw_parsed).encode()


def as_sent(value: Any) -> Any:
    """`value` as a client reads it back (RawJSON parsed, integers exact): what response checks see."""
    return json.loads(dumps(value))
