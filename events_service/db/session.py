"""One engine per process, one session per request (on flask.g), closed at teardown."""
from __future__ import annotations

import logging
import time

from flask import Flask, current_app, g
from sqlalchemy import Engine, create_engine, event, exc
from sqlalchemy.orm import Session

from events_service.ops import metrics

log = logging.getLogger(__name__)


# psycopg prepares a statement on the server after its 5th use, and PostgreSQL then may switch
# to a generic plan that does not know the sizes of our unnest(:array) parameters: measured, the
# bucket refresh of ingestion turned from a 0.1 ms index probe into a 60 ms sequential scan.
# Custom plans for every execution keep the statements prepared (no re-parse) and the plans right.
# extra_float_digits = 1 (PostgreSQL's default, stated so that no server setting can change it): a
# double written as text is its shortest exact form, which scalar_json sends to clients as is.
CONNECT_ARGS = {"options": "-c plan_cache_mode=force_custom_plan -c extra_float_digits=1"}
# Behind a pooler in transaction mode (TRANSACTION_POOLING; PgBouncer before 1.21 has no prepared
# statements there, and refuses the `options` startup parameter): nothing prepared, every statement
# sent with its parameters and planned for them (an unnamed statement always gets a custom plan, so
# plan_cache_mode has nothing to do), and extra_float_digits left at PostgreSQL's default of 1
# (set it on the database if the server's configuration changes it).
POOLER_CONNECT_ARGS = {"prepare_threshold": None}
# After a read replica failed to answer, reads go to the primary for this long before it is tried again.
REPLICA_RETRY_SECONDS = 5.0


# A pooled connection idle for longer than this is pinged before use; see _ping_when_idle.
PING_AFTER_IDLE_SECONDS = 1.0


def make_engine(url: str, pool_size: int = 5, transaction_pooling: bool = False) -> Engine:
    """A pool that recovers by itself after the database restarts (_ping_when_idle).

    hide_parameters: a database error's text (logged, and the message of a 500) shows the SQL
    but never the bound values, which may be an access key, a secret's hash or user data.
    """
    engine = create_engine(url, pool_size=pool_size, max_overflow=pool_size, hide_parameters=True,
                           connect_args=POOLER_CONNECT_ARGS if transaction_pooling else CONNECT_ARGS)
    _ping_when_idle(engine)
    return engine


def _ping_when_idle(engine: Engine) -> None:
    """Ping a pooled connection before use only when it has been idle for a while.

    pool_pre_ping pinged on every checkout: one more round trip per request, 1.5 ms of a 10 ms call
    on these machines. A connection used within the last second is handed over as it is: if the
    database went away meanwhile, that request fails as a 503 (routes.database_unavailable), and the
    disconnect makes SQLAlchemy discard every connection of the pool opened before it, so the next
    request gets a new one. A connection that sat idle (where a restart, an idle timeout or a
    firewall is most likely to have broken it) is pinged, and silently replaced when it fails.
    """
    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_connection, record) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection, record, _proxy) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as error:
            raise exc.DisconnectionError() from error  # the pool replaces the connection and retries


def init_app(app: Flask) -> None:
    # Created lazily: under gunicorn every worker process gets its own pool (no pool across fork).
    app.extensions["db_engine"] = None
    app.teardown_appcontext(_close)


def engine() -> Engine:
    app = current_app
    if app.extensions.get("db_engine") is None:
        app.extensions["db_engine"] = _app_engine(app.config["DATABASE_URL"], "primary")
    return app.extensions["db_engine"]


def _app_engine(url: str, database: str) -> Engine:
    config = current_app.config
    created = make_engine(url, config["POOL_SIZE"], config["TRANSACTION_POOLING"])
    metrics.watch_pool(created, database)
    return created


def _replica_engine() -> Engine | None:
    """The read replica's pool, in autocommit (READ_DATABASE_URL), or None when there is none."""
    app = current_app
    if not app.config["READ_DATABASE_URL"]:
        return None
    if app.extensions.get("db_engine_replica") is None:
        app.extensions["db_engine_replica"] = _app_engine(app.config["READ_DATABASE_URL"], "replica") \
            .execution_options(isolation_level="AUTOCOMMIT")
    return app.extensions["db_engine_replica"]


def _reads_bind() -> Engine:
    """Where a read-only request goes: the replica when one is configured and answers, else the primary.

    The check costs no round trip while the replica works: it checks a pooled connection out and
    back in (pinged only when idle, _ping_when_idle), and the session then gets that same one. A
    replica that refuses connections is skipped for REPLICA_RETRY_SECONDS, with one log line; every
    read that falls back counts in events_replica_fallbacks_total. A replica that goes away in the
    middle of a request fails that request with a 503, as the primary would.
    """
    replica = _replica_engine()
    if replica is None:
        return _autocommit_engine()
    app = current_app
    if time.monotonic() >= app.extensions.get("replica_down_until", 0.0):
        try:
            replica.connect().close()
            return replica
        except exc.DBAPIError as error:
            app.extensions["replica_down_until"] = time.monotonic() + REPLICA_RETRY_SECONDS
            log.warning("read replica unavailable, reads go to the primary for %.0f s: %s",
                        REPLICA_RETRY_SECONDS, str(error.orig or error).splitlines()[0])
    metrics.REPLICA_FALLBACKS.inc()
    return _autocommit_engine()


def _autocommit_engine() -> Engine:
    """The same pool, each connection in autocommit while checked out (reset when it is returned)."""
    app = current_app
    if app.extensions.get("db_engine_autocommit") is None:
        app.extensions["db_engine_autocommit"] = engine().execution_options(isolation_level="AUTOCOMMIT")
    return app.extensions["db_engine_autocommit"]


def get(autocommit: bool = False) -> Session:
    """The request's session; the dispatcher owns its transaction (commit or rollback).

    `autocommit` (handlers that only read): every statement on its own, no BEGIN or COMMIT sent,
    on the read replica when there is one (_reads_bind).
    Like any session, it takes a connection from the pool only when it first runs a statement.
    """
    if "db_session" not in g:
        g.db_session = Session(bind=_reads_bind() if autocommit else engine(), expire_on_commit=False)
    return g.db_session


def _close(_exc: BaseException | None) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        session.close()
