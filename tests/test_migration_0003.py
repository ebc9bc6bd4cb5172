"""Migration 0003 fills scalar_buckets from the scalars already stored, exactly."""
from __future__ import annotations

import psycopg
import pytest
from alembic import command
from sqlalchemy.engine import make_url

from events_service import sampling
from tests.conftest import alembic_config, scratch_database, server_dsn


@pytest.fixture(scope="module")
def scratch_url():
    with scratch_database("m0003") as url:
        yield url


def test_upgrade_backfills_exact_buckets(scratch_url):
    cfg = alembic_config(scratch_url)
    command.upgrade(cfg, "0002")
    with psycopg.connect(server_dsn(scratch_url, make_url(scratch_url).database), autocommit=True) as conn:
        company = conn.execute("INSERT INTO companies (id) VALUES ('c') RETURNING key").fetchone()[0]
        task = conn.execute("INSERT INTO tasks (company_key, id) VALUES (%s, 't') RETURNING key",
                            (company,)).fetchone()[0]
        series = conn.execute("INSERT INTO series (company_key, task_key, event_type, metric, variant) "
                              "VALUES (%s, %s, 'training_stats_scalar', 'm', 'v') RETURNING key",
                              (company, task)).fetchone()[0]
        conn.execute("""
            INSERT INTO scalar_events (company_key, task_key, series_key, ts, iter, received, value)
            SELECT %(c)s, %(t)s, %(s)s, 1000 + g, g, 1, (g %% 17 - 8) / 4.0 FROM generate_series(-55, 2503) g
            UNION ALL SELECT %(c)s, %(t)s, %(s)s, 1, -2147483648, 1, 99
            UNION ALL SELECT %(c)s, %(t)s, %(s)s, 1, NULL, 1, 99
            UNION ALL SELECT %(c)s, %(t)s, %(s)s, 1, 5000, 1, NULL""", {"c": company, "t": task, "s": series})
    command.upgrade(cfg, "head")
    with psycopg.connect(server_dsn(scratch_url, make_url(scratch_url).database)) as conn:
        for width in sampling.WIDTHS:
            stored = conn.execute(
                "SELECT bucket, value_count, value_sum, min_value, max_value, min_iter, max_iter "
                "FROM scalar_buckets WHERE width = %s ORDER BY bucket", (width,)).fetchall()
            expected = conn.execute(
                "SELECT floor(iter::numeric / %(w)s)::bigint, count(*), sum(value), min(value), max(value), "
                "min(iter), max(iter) FROM scalar_events WHERE iter IS NOT NULL AND iter <> -2147483648 "
                "AND value IS NOT NULL GROUP BY 1 ORDER BY 1", {"w": width}).fetchall()
            assert stored == expected and stored[0][0] < 0
