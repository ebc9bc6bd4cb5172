"""Migrations: one head, upgrade -> downgrade -> upgrade, and models that match (alembic check)."""
from __future__ import annotations

import psycopg
import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy.engine import make_url

from tests.conftest import alembic_config, database_url_from_env, scratch_database, server_dsn


@pytest.fixture(scope="module")
def scratch_url():
    with scratch_database("migrations") as url:
        yield url


def tables(url):
    with psycopg.connect(server_dsn(url, make_url(url).database)) as conn:
        return {r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}


def hypertables(url):
    with psycopg.connect(server_dsn(url, make_url(url).database)) as conn:
        return {r[0] for r in conn.execute("SELECT hypertable_name FROM timescaledb_information.hypertables")}


def test_single_head():
    assert len(ScriptDirectory.from_config(alembic_config(database_url_from_env())).get_heads()) == 1


def test_upgrade_downgrade_upgrade_and_check(scratch_url):
    cfg = alembic_config(scratch_url)
    command.upgrade(cfg, "head")
    assert hypertables(scratch_url) == {"scalar_events", "vector_events", "image_events", "plot_events",
                                        "log_events"}
    command.downgrade(cfg, "base")
    assert tables(scratch_url) <= {"alembic_version"}
    command.upgrade(cfg, "head")
    assert {"companies", "tasks", "series"} <= tables(scratch_url)
    command.check(cfg)  # raises when the models and the migrated database differ


def test_every_table_carries_the_company(scratch_url):
    with psycopg.connect(server_dsn(scratch_url, make_url(scratch_url).database)) as conn:
        rows = conn.execute(
            "SELECT table_name FROM information_schema.tables t WHERE table_schema = 'public' "
            "AND table_name NOT IN ('alembic_version', 'companies') AND NOT EXISTS (SELECT 1 FROM "
            "information_schema.columns c WHERE c.table_name = t.table_name "
            "AND c.column_name = 'company_key')"
        ).fetchall()
    assert rows == []


def bucket_key(url):
    with psycopg.connect(server_dsn(url, make_url(url).database)) as conn:
        return conn.execute("SELECT pg_get_indexdef('pk_scalar_buckets'::regclass)").fetchone()[0]


def test_0004_bucket_key_covers_the_payload_and_downgrades(scratch_url):
    """Histograms rely on index-only scans of scalar_buckets: the key must carry every payload column."""
    cfg = alembic_config(scratch_url)
    command.upgrade(cfg, "head")
    payload = "INCLUDE (value_count, value_sum, min_value, max_value, min_iter, max_iter)"
    assert bucket_key(scratch_url).endswith(f"(series_key, width, bucket) {payload}")
    command.downgrade(cfg, "0003")
    assert bucket_key(scratch_url).endswith("(series_key, width, bucket)")
    command.upgrade(cfg, "head")
    assert payload in bucket_key(scratch_url)
