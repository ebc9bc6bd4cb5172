"""Migration 0012 (log_blocks) on a database with compacted logs: a downgrade moves the blocks back to
rows (nothing lost), and reads answer as before once upgraded again."""
from __future__ import annotations

from alembic import command
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from events_service import compaction
from events_service.db.queries import log_blocks
from tests.conftest import alembic_config, scratch_database
from tests.test_migration_0006 import answers, app_api, connect, populate


def log_rows(url):
    with connect(url) as conn:
        return conn.execute("SELECT company_key, task_key, series_key, id, ts, iter, worker, received, "
                            "level, msg, extra FROM log_events ORDER BY id").fetchall()


def test_downgrade_moves_log_blocks_back_to_rows_and_upgrade_answers_as_before():
    with scratch_database("m0012") as url:
        cfg = alembic_config(url)
        command.upgrade(cfg, "head")
        app, api = app_api(url)
        populate(api, "t-0012")
        rows_before = log_rows(url)
        before = answers(api, "t-0012")
        engine = create_engine(url)
        with Session(bind=engine) as session:
            keys = log_blocks.pending(session, ended_only=False)
        assert compaction.compact_logs(engine, keys).events == len(rows_before) > 0
        engine.dispose()
        assert log_rows(url) == []
        assert answers(api, "t-0012") == before
        app.extensions["db_engine"].dispose()
        command.downgrade(cfg, "0011")
        assert log_rows(url) == rows_before  # every line back as the row it was, ids and all
        command.upgrade(cfg, "head")
        assert answers(api, "t-0012") == before
        app.extensions["db_engine"].dispose()
