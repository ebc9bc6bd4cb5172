"""Log reads: the task's log count, and the whole log as a server-side cursor for downloads.

Pages of get_task_log are read by events.page_by_time (keyset over (ts, id) on the
(task_key, ts, id) index), so they are not repeated here.
"""
from __future__ import annotations

from typing import Any, Iterator

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

# One row per log line, in the order the download writes them. Both times are formatted by
# PostgreSQL (a separate process, so the formatting runs beside the Python that writes lines):
#   asctime     the event's own time, YYYY-MM-DD HH:MM:SS,mmm UTC (timestamp without time zone
#               arithmetic from the epoch: no session time zone involved)
#   @timestamp  the ingestion time, as the JSON documents of the read endpoints show it.
STREAM_SQL = """
    SELECT l.ts,
           to_char(timestamp 'epoch' + l.ts * interval '1 millisecond', 'YYYY-MM-DD HH24:MI:SS,MS') AS asctime,
           l.level, l.worker, l.msg, l.iter, l.series_key,
           to_char(timestamp 'epoch' + l.received * interval '1 millisecond',
                   'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS received_iso,
           l.extra
    FROM log_events l
    WHERE l.task_key = %(tk)s
    ORDER BY l.ts, l.id
"""
STREAM_COLUMNS = ("ts", "asctime", "level", "worker", "msg", "iter", "series_key", "received_iso", "extra")


def total(session: Session, task_key: int) -> int:
    """Number of log events of the task, from the per-series counters the ingest keeps exact.

    O(number of log series) instead of counting a million rows: the first page of a big log
    stays cheap. The counters move in the same transaction as the rows they count.
    """
    return session.execute(text(
        "SELECT coalesce(sum(event_count), 0)::bigint FROM series WHERE task_key = :tk AND event_type = 'log'"),
        {"tk": task_key}).scalar_one()


def stream(engine: Engine, task_key: int, batch: int = 5000) -> Iterator[list[tuple[Any, ...]]]:
    """The task's log lines oldest first, `batch` rows at a time, from a server-side (named) cursor.

    Takes the engine, not a session: it runs after the request's transaction has ended (while the
    response streams), on a connection of its own that is given back when the generator finishes
    or is closed (client gone). Memory stays at one batch whatever the log's size.
    """
    with engine.connect() as conn:
        raw = conn.connection.driver_connection
        try:
            with raw.cursor(name="download_task_log") as cursor:
                cursor.itersize = batch
                cursor.execute(STREAM_SQL, {"tk": task_key})
                while rows := cursor.fetchmany(batch):
                    yield rows
        finally:
            conn.rollback()
