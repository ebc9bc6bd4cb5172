"""Who looks at the pages: an access/secret key pair checked once at sign-in, then a cookie.

The cookie holds the same signed token auth.login hands the SDK (events_service.auth), so a
page request needs no credentials lookup, only the token's signature and expiry and the
company's key. It is HttpOnly (no script reads it), SameSite=Strict (no other site's page can
send it along, which is what a cross-site request forgery needs) and Secure when the page was
served over https. The pages only read; signing out deletes the cookie.
"""
from __future__ import annotations

from dataclasses import dataclass

from flask import Response, current_app, request

from events_service import auth, errors
from events_service.api.routes import check_key_pair, check_token
from events_service.db import session as db_session

COOKIE = "events_viewer"
# A session lasts a working day; the token inside also expires then.
SESSION_SECONDS = 12 * 3600


@dataclass(frozen=True)
class Viewer:
    identity: auth.Identity
    company_key: int


def check_keys(access_key: str, secret_key: str) -> auth.Identity | None:
    """The identity of an active key pair, as the API's Basic authentication checks it; None otherwise."""
    try:
        return check_key_pair(db_session.get(autocommit=True), access_key, secret_key)[0]
    except errors.ApiError:
        return None


def sign_in(response: Response, identity: auth.Identity) -> None:
    token = auth.issue_token(identity, current_app.config["SECRET_KEY"], SESSION_SECONDS)
    response.set_cookie(COOKIE, token, max_age=SESSION_SECONDS, path="/", httponly=True, samesite="Strict",
                        secure=request.is_secure)


def sign_out(response: Response) -> None:
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="Strict", secure=request.is_secure)


def current() -> Viewer | None:
    """The signed-in viewer of this request, or None (no cookie, a forged or expired one, a company
    that no longer exists)."""
    token = request.cookies.get(COOKIE)
    if not token:
        return None
    try:
        return Viewer(*check_token(token))
    except errors.ApiError:
        return None
