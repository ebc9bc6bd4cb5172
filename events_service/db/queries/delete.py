"""Deleting all events of a task (delete_for_task).

Under the task's row lock, like the ingest (ingest.lock_tasks), so a batch being stored for the
task cannot interleave with the deletion (it would write rows of series deleted here).
"""
from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

from events_service.db.queries import compact, log_blocks, timerange
from events_service.db.queries.events import SOURCES


def lock_status(session: Session, task_key: int) -> str:
    """Lock the task's row for the rest of the transaction; its status read under the lock."""
    return session.execute(text("SELECT status FROM tasks WHERE key = :tk FOR UPDATE"),
                           {"tk": task_key}).scalar_one()


def delete_events(session: Session, task_key: int) -> int:
    """Delete the task's events of every type, then its series; returns the number of events deleted.

    Deleting the series rows keeps every per-series statistic and pre-aggregate exact (tables
    keyed by series cascade). The task row and its last_iteration stay, as in ClearML.
    """
    deleted = 0
    spans = timerange.of_tasks(session, [task_key], list(SOURCES))
    for event_type, (table, _) in SOURCES.items():
        deleted += timerange.delete(session, table, spans[event_type], "t.task_key = :tk", {"tk": task_key})
    deleted += compact.block_points(session, task_key)  # the compact blocks go with their series (CASCADE)
    deleted += log_blocks.delete_blocks(session, task_key)  # compact log lines (after their rows)
    session.execute(text("DELETE FROM series WHERE task_key = :tk"), {"tk": task_key})
    return deleted
