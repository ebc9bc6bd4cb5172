"""Credentials and tokens, free of Flask and SQL: key pairs, secret hashing, the JWT of auth.login.

How a caller proves who it is (ClearML's scheme, which the clearml SDK speaks):
- `auth.login` with HTTP Basic `access_key:secret_key` returns a JWT; every other call carries
  `Authorization: Bearer <jwt>` (or Basic credentials again). The token names the company and the
  user, so a Bearer call needs no database lookup; it expires (`exp`), and on the 401 that follows
  the SDK logs in again by itself.
- The token must be a JWT: the SDK decodes it (without checking the signature) to read
  `api_version`, which picks the request classes it uses (2.9, 2.13, 2.20 or 2.23 in clearml 2.1).
  It claims "2.20": the lowest claim under which the SDK calls what a typical script needs
  (get_reported_single_values refuses below 2.20; the task's models lists, delete_artifacts and
  model metadata start at 2.13). Requests at any version are served by the highest schema version
  not above it, so older URLs keep working; a claim below 2.9 makes clearml 2.x crash
  (../shared/docs/clearml-sdk.md).
- Signing: HS256 through PyJWT, the library the SDK itself uses to read the token. It checks the
  signature in constant time and `exp`/`iat` for us; a hand-rolled HS256 would be ~40 lines that
  would each need the same tests. The key is derived from the server's SECRET_KEY with a label, so
  tokens and scroll ids (also HMAC with that secret) can never be swapped for one another.
- Secrets are stored as salted SHA-256 and compared with hmac.compare_digest. They are 288-bit
  random strings made by this server, not passwords a person picks: no dictionary or brute force
  can reach them, which is what slow KDFs (bcrypt, scrypt) defend against, and a slow hash would
  cost every Basic-authenticated call. The stored text names its scheme, so it can change later.
  An unknown access key still costs one hash and one comparison, like a known one.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import string
import time
from dataclasses import dataclass
from typing import Any

import jwt

from events_service import errors

API_VERSION_CLAIM = "2.20"
SERVER_VERSION = "0.1.0"
HASH_SCHEME = "sha256"
ACCESS_KEY_ALPHABET = string.ascii_uppercase + string.digits
_DUMMY_HASH = f"{HASH_SCHEME}$00000000000000000000000000000000$" + "0" * 64


@dataclass(frozen=True)
class Identity:
    """Who is calling: the company scopes every read and write."""

    company_id: str
    user_id: str
    user_name: str = ""
    company_name: str = ""


def new_access_key() -> str:
    """24 upper-case letters and digits, like ClearML's access keys."""
    return "".join(secrets.choice(ACCESS_KEY_ALPHABET) for _ in range(24))


def new_secret_key() -> str:
    """48 url-safe characters (288 random bits)."""
    return secrets.token_urlsafe(36)


def hash_secret(secret: str, salt: str | None = None) -> str:
    """`sha256$<salt>$<hex digest of salt + secret>`: what the credentials table stores."""
    salt = salt if salt is not None else secrets.token_hex(16)
    digest = hashlib.sha256(f"{salt}{secret}".encode()).hexdigest()
    return f"{HASH_SCHEME}${salt}${digest}"


def verify_secret(secret: str, stored: str | None) -> bool:
    """Constant-time comparison of a presented secret with a stored hash (None = unknown key)."""
    scheme, _, rest = (stored or _DUMMY_HASH).partition("$")
    salt, _, _digest = rest.partition("$")
    candidate = hash_secret(secret, salt)
    same = hmac.compare_digest(candidate.encode(), (stored or _DUMMY_HASH).encode())
    return same and stored is not None and scheme == HASH_SCHEME


def parse_authorization(header: str | None) -> tuple[str, str, str]:
    """("basic", access_key, secret) or ("bearer", token, ""); 401 with ClearML's subcode otherwise."""
    if not header or not header.strip():
        raise errors.NoCredentials()
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer":
        if not value:
            raise errors.NoCredentials()
        return "bearer", value, ""
    if scheme.lower() != "basic":
        raise errors.BadAuthType(scheme=scheme)
    try:
        decoded = base64.b64decode(value, validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):  # binascii.Error; ValueError: non-ASCII text (was a 500)
        raise errors.BadCredentials("basic credentials are not base64 of access_key:secret_key")
    access_key, colon, secret = decoded.partition(":")
    if not colon or not access_key or not secret:
        raise errors.BadCredentials("basic credentials are not access_key:secret_key")
    return "basic", access_key, secret


def token_key(secret_key: str) -> bytes:
    """The HS256 key: the server secret with a label, distinct from the scroll-token key."""
    return hmac.new(secret_key.encode(), b"events-service auth.login token", hashlib.sha256).digest()


def issue_token(identity: Identity, secret_key: str, ttl_sec: int, now: float | None = None) -> str:
    """A signed JWT with the identity, an expiry and the claims the clearml SDK reads."""
    issued = int(time.time() if now is None else now)
    claims: dict[str, Any] = {
        "iat": issued,
        "exp": issued + ttl_sec,
        "sub": identity.user_id,
        "identity": {"company": identity.company_id, "company_name": identity.company_name,
                     "user": identity.user_id, "user_name": identity.user_name, "role": "user"},
        "api_version": API_VERSION_CLAIM,
        "server_version": SERVER_VERSION,
        "feature_set": "basic",
        "env": "events-service",
    }
    return jwt.encode(claims, token_key(secret_key), algorithm="HS256")


def read_token(token: str, secret_key: str, now: float | None = None) -> Identity:
    """The identity in a token this server signed; 401/30 when it is forged, malformed or expired."""
    options: dict[str, Any] = {"require": ["exp", "iat", "identity"]}
    try:
        if now is None:
            claims = jwt.decode(token, token_key(secret_key), algorithms=["HS256"], options=options)
        else:  # tests: check expiry against a given clock
            claims = jwt.decode(token, token_key(secret_key), algorithms=["HS256"],
                                options={**options, "verify_exp": False})
            if claims["exp"] <= now:
                raise jwt.ExpiredSignatureError("Signature has expired")
    except jwt.ExpiredSignatureError:
        raise errors.InvalidToken("token expired")
    except jwt.PyJWTError as exc:
        raise errors.InvalidToken(str(exc).lower() or "malformed token")
    who = claims.get("identity")
    if not isinstance(who, dict) or not isinstance(who.get("company"), str) or not who["company"]:
        raise errors.InvalidToken("token names no company")
    return Identity(company_id=who["company"], user_id=str(who.get("user") or ""),
                    user_name=str(who.get("user_name") or ""),
                    company_name=str(who.get("company_name") or ""))
