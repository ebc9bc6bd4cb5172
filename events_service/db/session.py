"""One engine per process, one session per request (on flask.g), closed at teardown."""
from __future__ import annotations

from flask import Flask, current_app, g
from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import Session


# psycopg prepares a statement on the server after its 5th use, and PostgreSQL then may switch
# to a generic plan that does not know the sizes of our unnest(:array) parameters: measured, the
# bucket refresh of ingestion turned from a 0.1 ms index probe into a 60 ms sequential scan.
# Custom plans for every execution keep the statements prepared (no re-parse) and the plans right.
# extra_float_digits = 1 (PostgreSQL's default, stated so that no server setting can change it): a
# double written as text is its shortest exact form, which scalar_json sends to clients as is.
CONNECT_ARGS = {"options": "-c plan_cache_mode=force_custom_plan -c extra_float_digits=1"}


def make_engine(url: str, pool_size: int = 5) -> Engine:
    """pool_pre_ping lets a worker recover by itself after the database restarts.

    hide_parameters: a database error's text (logged, and the message of a 500) shows the SQL
    but never the bound values, which may be an access key, a secret's hash or user data.
    """
    return create_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True,
                         connect_args=CONNECT_ARGS, hide_parameters=True)


def init_app(app: Flask) -> None:
    # Created lazily: under gunicorn every worker process gets its own pool (no pool across fork).
    app.extensions["db_engine"] = None
    app.teardown_appcontext(_close)


def engine() -> Engine:
    app = current_app
    if app.extensions.get("db_engine") is None:
        app.extensions["db_engine"] = make_engine(app.config["DATABASE_URL"], app.config["POOL_SIZE"])
    return app.extensions["db_engine"]


def get() -> Session:
    """The request's session; the dispatcher owns its transaction (commit or rollback)."""
    if "db_session" not in g:
        g.db_session = Session(bind=engine(), expire_on_commit=False)
    return g.db_session


def _close(_exc: BaseException | None) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        session.close()
