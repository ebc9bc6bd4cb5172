"""One engine per process, one session per request (on flask.g), closed at teardown."""
from __future__ import annotations

from flask import Flask, current_app, g
from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import Session


def make_engine(url: str, pool_size: int = 5) -> Engine:
    """pool_pre_ping lets a worker recover by itself after the database restarts."""
    return create_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)


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
