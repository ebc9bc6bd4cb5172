"""The engine's pool: a connection is pinged before use only after it sat idle, and an idle
connection the database dropped is replaced without the caller seeing an error."""
from __future__ import annotations

import time

import pytest
from sqlalchemy import text

from events_service.db import session as db_session


@pytest.fixture
def engine(database_url):
    engine = db_session.make_engine(database_url, pool_size=1)
    yield engine
    engine.dispose()


@pytest.fixture
def pings(engine, monkeypatch):
    """The connections pinged, counted on the dialect the pool pings with."""
    count = []
    real = engine.dialect.do_ping
    monkeypatch.setattr(engine.dialect, "do_ping", lambda conn: count.append(1) or real(conn))
    return count


def backend_pid(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT pg_backend_pid()")).scalar_one()


def test_a_connection_used_a_moment_ago_is_not_pinged(engine, pings):
    first = backend_pid(engine)
    assert backend_pid(engine) == first  # the same pooled connection, handed over as it is
    assert pings == []


def test_an_idle_connection_is_pinged_before_use(engine, pings, monkeypatch):
    monkeypatch.setattr(db_session, "PING_AFTER_IDLE_SECONDS", 0.05)
    first = backend_pid(engine)
    time.sleep(0.1)
    assert backend_pid(engine) == first
    assert pings == [1]


def test_an_idle_connection_the_database_dropped_is_replaced_silently(engine, database_url, monkeypatch):
    monkeypatch.setattr(db_session, "PING_AFTER_IDLE_SECONDS", 0.05)
    dropped = backend_pid(engine)
    other = db_session.make_engine(database_url, pool_size=1)
    try:
        with other.connect() as conn:
            assert conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": dropped}).scalar_one()
    finally:
        other.dispose()
    time.sleep(0.1)
    assert backend_pid(engine) != dropped  # no error: the ping failed and the pool reconnected
