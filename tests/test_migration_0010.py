"""Migration 0010 (block times and ids as a line plus residuals; no width-10 pre-aggregates for an ended
task's compacted series) on a database with compacted data: a downgrade gives back 0009's blocks and
buckets exactly, and the upgrade re-encodes them in place; reads answer as before."""
from __future__ import annotations

from alembic import command
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from events_service import compaction
from events_service.db.queries import compact
from tests.conftest import alembic_config, scratch_database
from tests.test_migration_0006 import answers, app_api, connect, populate

# 0009's blocks as rows: every array whole (the SQL of 0008's downgrade)
BLOCK_POINTS_0009 = """
    SELECT b.series_key, u.id, u.ts, coalesce(u.iter, b.first_iter + u.n - 1), u.value
    FROM scalar_blocks b
    CROSS JOIN LATERAL unnest(b.ids, b.times, b.vals, b.iters) WITH ORDINALITY AS u(id, ts, value, iter, n)
    ORDER BY 1, 4"""
ROWS = "SELECT series_key, id, ts, iter, value FROM scalar_events WHERE iter IS NOT NULL ORDER BY 1, 4"
BUCKETS = "SELECT * FROM scalar_buckets ORDER BY series_key, width, bucket"


def query(url, sql):
    with connect(url) as conn:
        return conn.execute(sql).fetchall()


def test_downgrade_restores_0009_blocks_and_buckets_and_upgrade_answers_as_before():
    with scratch_database("m0010") as url:
        cfg = alembic_config(url)
        command.upgrade(cfg, "head")
        app, api = app_api(url)
        populate(api, "t-0010")
        api.call("tasks.completed", task="t-0010", force=True)
        rows, buckets = query(url, ROWS), query(url, BUCKETS)
        assert {b[2] for b in buckets} == {10, 100, 1000}
        before = answers(api, "t-0010")
        engine = create_engine(url)
        with Session(bind=engine) as session:
            keys = compact.pending(session)
        assert compaction.compact_series(engine, keys).events == len(rows) == 120
        engine.dispose()
        compacted = query(url, BUCKETS)
        assert compacted == [b for b in buckets if b[2] == 1000]  # widths 10 and 100: the blocks' own
        encoded = query(url, "SELECT series_key, ids_base, ids_step, times_base, times_step, ids, times "
                             "FROM scalar_blocks ORDER BY 1")
        assert encoded and all(b[3] > 0 for b in encoded)  # times as a line (and residuals)
        assert answers(api, "t-0010") == before
        app.extensions["db_engine"].dispose()
        command.downgrade(cfg, "0009")
        assert query(url, BLOCK_POINTS_0009) == rows  # ids and times whole again, nothing lost
        assert query(url, BUCKETS) == buckets          # the width-10 buckets rebuilt from the points
        command.upgrade(cfg, "head")                   # re-encodes 0009's blocks in place
        assert query(url, BUCKETS) == compacted
        assert query(url, "SELECT series_key, ids_base, ids_step, times_base, times_step, ids, times "
                          "FROM scalar_blocks ORDER BY 1") == encoded
        assert answers(api, "t-0010") == before
        app.extensions["db_engine"].dispose()
