"""/health, /ready and /metrics: cheap, without the API's authentication, never any stored data.

- /health: the process answers (no database call).
- /ready: one statement on the primary: the database answers and its alembic revision is the
  migrations' head (a worker started before `alembic upgrade` finished, or against a database left
  behind, is not ready). 503 with Retry-After otherwise, as the API's own database errors.
- /metrics: the Prometheus text format (metrics.py). Open unless EVENTS_METRICS_TOKEN is set, then
  it needs `Authorization: Bearer <token>`; or keep it off the network by binding the service to
  loopback (EVENTS_HOST, the default 127.0.0.1) behind a proxy that does not forward /metrics.
"""
from __future__ import annotations

import hmac
import logging

from alembic.script import ScriptDirectory
from flask import Blueprint, Response, current_app, request
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, ProgrammingError

from events_service import config, jsonutil
from events_service.db import session as db_session
from events_service.ops import metrics

log = logging.getLogger(__name__)
blueprint = Blueprint("ops", __name__)
RETRY_AFTER_SECONDS = "5"
SCHEMA_BEHIND = "schema is not at the migrations' head"
_heads: frozenset[str] | None = None


def migration_heads() -> frozenset[str]:
    """The revisions `alembic upgrade head` leads to (read once per process from migrations/)."""
    global _heads
    if _heads is None:
        _heads = frozenset(ScriptDirectory(str(config.PROJECT_DIR / "migrations")).get_heads())
    return _heads


def _json(payload: dict, status: int, headers: dict[str, str] | None = None) -> Response:
    return Response(jsonutil.dumps(payload), status=status, headers=headers, mimetype="application/json")


@blueprint.route("/health", methods=["GET", "HEAD"])
def health() -> Response:
    return _json({"status": "ok"}, 200)


@blueprint.route("/ready", methods=["GET", "HEAD"])
def ready() -> Response:
    try:
        with db_session.engine().connect() as conn:
            revisions = set(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())
    except ProgrammingError:  # no alembic_version table: a database never migrated
        revisions = set()
    except DBAPIError as error:  # refused or gone: not ready
        log.warning("not ready: %s", str(error.orig or error).splitlines()[0])
        return _json({"status": "unavailable", "reason": "database"}, 503,
                     {"Retry-After": RETRY_AFTER_SECONDS})
    if revisions != migration_heads():
        return _json({"status": "unavailable", "reason": SCHEMA_BEHIND}, 503,
                     {"Retry-After": RETRY_AFTER_SECONDS})
    return _json({"status": "ready"}, 200)


@blueprint.route("/metrics", methods=["GET"])
def metrics_page() -> Response:
    token = current_app.config["METRICS_TOKEN"]
    if token:
        sent = request.headers.get("Authorization", "")
        if not hmac.compare_digest(sent.encode(), f"Bearer {token}".encode()):
            return Response("metrics need the configured bearer token\n", status=401, mimetype="text/plain",
                            headers={"WWW-Authenticate": "Bearer"})
    body, content_type = metrics.render()
    return Response(body, status=200, headers={"Content-Type": content_type, "Cache-Control": "no-store"})
