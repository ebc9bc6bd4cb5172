"""The service through PgBouncer (Debian 12's 1.18) in transaction pooling mode.

The endpoint suite (tests/services) runs again with the app's database URL pointed at a private
PgBouncer (conftest.app_database_url), in a pytest of its own on a database of its own. The other
tests pin down the facts behind EVENTS_TRANSACTION_POOLING: 1.18 refuses the `options` startup
parameter the direct connections send, and server-side prepared statements do not survive the
pooling (a prepared statement lives on one server connection; the next transaction may get another).
"""
from __future__ import annotations

import os
import subprocess
import sys

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from events_service.db.session import make_engine
from tests.conftest import ROOT, dsn, free_port
from tests.ops.pgbouncer import pgbouncer


@pytest.fixture(scope="module")
def bouncer(database_url):
    with pgbouncer(database_url, free_port()) as url:
        yield url


def test_endpoint_suite_through_pgbouncer(database_url):
    url = make_url(database_url)
    own = url.set(database=f"{url.database}_pgbouncer").render_as_string(hide_password=False)
    env = dict(os.environ, EVENTS_TEST_DATABASE_URL=own, EVENTS_TEST_THROUGH_PGBOUNCER="1")
    run = subprocess.run([sys.executable, "-m", "pytest", "tests/services", "-q", "-x", "-p",
                          "no:cacheprovider"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    with psycopg.connect(dsn(url.set(database="postgres").render_as_string(hide_password=False)),
                         autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{make_url(own).database}" WITH (FORCE)')
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert " passed" in run.stdout and " failed" not in run.stdout


def test_direct_connection_settings_are_refused_by_pgbouncer(bouncer):
    engine = make_engine(bouncer, pool_size=1)  # the settings for a direct connection
    try:
        with pytest.raises(Exception, match="unsupported startup parameter: options"):
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
    finally:
        engine.dispose()


def test_transaction_pooling_setting_prepares_nothing(bouncer):
    engine = make_engine(bouncer, pool_size=2, transaction_pooling=True)
    try:
        # two client connections, interleaved, each running one statement more often than psycopg's
        # prepare threshold: with prepared statements one of them lands on the other's server
        # connection sooner or later ("prepared statement _pg3_0 does not exist")
        with engine.connect() as first, engine.connect() as second:
            for i in range(20):
                for conn in (first, second):
                    assert conn.execute(text("SELECT CAST(:n AS int) + 1"), {"n": i}).scalar() == i + 1
                    conn.commit()
            assert first.connection.driver_connection.prepare_threshold is None
    finally:
        engine.dispose()


def test_psycopg_default_prepares_and_breaks_through_pgbouncer(bouncer):
    """Why the setting exists: psycopg's default (prepare after 5 runs) fails here."""
    with psycopg.connect(dsn(bouncer)) as first, psycopg.connect(dsn(bouncer)) as second:
        with pytest.raises(psycopg.errors.Error, match="prepared statement"):
            for i in range(20):
                for conn in (first, second):
                    conn.execute("SELECT %s::int + 1", (i,)).fetchone()
                    conn.commit()
