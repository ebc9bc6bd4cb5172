"""JSON encoding: orjson for speed, the stdlib when orjson cannot (integers beyond 64 bits)."""
from __future__ import annotations

import json
from typing import Any

import orjson


def dumps(value: Any) -> bytes:
    """Compact JSON bytes of `value`; integers of any size are written exactly (JSON allows them,
    and clients and jsonb may send and store them), which orjson refuses."""
    try:
        return orjson.dumps(value)
    except TypeError:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
