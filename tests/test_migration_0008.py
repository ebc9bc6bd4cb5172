"""Migration 0008 (scalar_blocks) on a database with compacted data: a downgrade moves the blocks back
to rows (nothing lost), and reads answer as before once upgraded again."""
from __future__ import annotations

from alembic import command
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from events_service import compaction
from events_service.db.queries import compact
from tests.conftest import alembic_config, scratch_database
from tests.test_migration_0006 import answers, app_api, connect, populate


def scalar_rows(url):
    with connect(url) as conn:
        return conn.execute("SELECT company_key, task_key, series_key, id, ts, iter, worker, received, "
                            "value, extra FROM scalar_events ORDER BY id").fetchall()


def test_downgrade_moves_blocks_back_to_rows_and_upgrade_answers_as_before():
    with scratch_database("m0008") as url:
        cfg = alembic_config(url)
        command.upgrade(cfg, "head")
        app, api = app_api(url)
        populate(api, "t-0008")
        rows_before = scalar_rows(url)
        before = answers(api, "t-0008")
        engine = create_engine(url)
        with Session(bind=engine) as session:
            keys = compact.pending(session, ended_only=False)
        assert compaction.compact_series(engine, keys).events == len(rows_before) == 120
        engine.dispose()
        assert scalar_rows(url) == []
        assert answers(api, "t-0008") == before
        app.extensions["db_engine"].dispose()
        command.downgrade(cfg, "0006")
        assert scalar_rows(url) == rows_before  # every event back as the row it was, ids and all
        command.upgrade(cfg, "head")
        assert answers(api, "t-0008") == before
        app.extensions["db_engine"].dispose()
