"""Handlers of the `auth` service: auth.login turns the caller's credentials into a token."""
from __future__ import annotations

from typing import Any

from events_service import auth
from events_service.api.call import Call
from events_service.api.registry import endpoint


@endpoint("auth.login", "2.1")
def login(call: Call, req: dict[str, Any]) -> dict[str, Any]:
    """A JWT for the authenticated caller (the dispatcher checked the Basic credentials or token).

    `expiration_sec` (the SDK sends it as a query parameter when configured) shortens or lengthens
    the lifetime, up to TOKEN_MAX_EXPIRATION_SEC.
    """
    ttl = min(req.get("expiration_sec") or call.config["TOKEN_EXPIRATION_SEC"],
              call.config["TOKEN_MAX_EXPIRATION_SEC"])
    return {"token": auth.issue_token(call.identity, call.config["SECRET_KEY"], ttl)}
