"""Stateless scroll tokens: the frozen query and the keyset position, signed with HMAC-SHA256.

A token is base64url(JSON state) + "." + base64url(first 16 bytes of the HMAC of that text).
It binds the endpoint, the company and the query (tasks, filters, order, page size), so it
cannot be forged, edited or replayed against another task or company: any mismatch is
400/1104 "Invalid scroll id". Tokens expire `ttl` seconds after the page that issued them
(each page issues a fresh one). Decoding is O(size of token); no server-side state.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any

import orjson

from events_service.errors import InvalidScrollId
from events_service import jsonutil

DEFAULT_TTL = 24 * 3600


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(key: str, body: str) -> str:
    return _b64(hmac.new(key.encode(), body.encode(), hashlib.sha256).digest()[:16])


def encode(state: dict[str, Any], key: str, ttl: int = DEFAULT_TTL, now: float | None = None) -> str:
    """Sign `state` (JSON-able) into a token valid for `ttl` seconds."""
    body = _b64(jsonutil.dumps({**state, "exp": int((now or time.time()) + ttl)}))
    return f"{body}.{_sign(key, body)}"


def decode(token: str, key: str, bind: dict[str, Any], now: float | None = None) -> dict[str, Any]:
    """Verify and open a token; every item of `bind` must equal the token's."""
    try:
        body, signature = token.split(".")
        valid = hmac.compare_digest(_sign(key, body), signature)
        state = orjson.loads(_unb64(body)) if valid else None
    except (ValueError, TypeError):
        state = None
    if not isinstance(state, dict):
        raise InvalidScrollId(scroll_id=token)
    if any(state.get(k) != v for k, v in bind.items()):
        raise InvalidScrollId("issued for another query", scroll_id=token)
    if state.get("exp", 0) < (now or time.time()):
        raise InvalidScrollId("expired", scroll_id=token)
    return state
