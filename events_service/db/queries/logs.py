"""Log reads: the whole log as a server-side cursor for downloads.

Pages of get_task_log are read by events.page_by_time (keyset over (ts, id) on the
(task_key, ts, id) index), so they are not repeated here.
"""
from __future__ import annotations

from typing import Any, Iterator

from sqlalchemy import Engine

# The download's rows, in the order it writes them. Times are formatted in Python (cached per
# second): to_char() in the query halves the rows PostgreSQL sends per second. Text lines need
# only the first four columns, and every column fewer is measurably faster to fetch.
TEXT_COLUMNS = "ts, level, worker, msg"
JSON_COLUMNS = TEXT_COLUMNS + ", iter, series_key, received, extra"
STREAM_SQL = "SELECT {columns} FROM log_events WHERE task_key = %(tk)s ORDER BY ts, id"


def stream(engine: Engine, task_key: int, batch: int = 5000, full: bool = True
           ) -> Iterator[list[tuple[Any, ...]]]:
    """The task's log lines oldest first, `batch` rows at a time, from a server-side (named) cursor.

    Rows are tuples of JSON_COLUMNS, or of TEXT_COLUMNS when not `full`.
    Takes the engine, not a session: it runs after the request's transaction has ended (while the
    response streams), on a connection of its own that is given back when the generator finishes
    or is closed (client gone). Memory stays at one batch whatever the log's size.
    """
    with engine.connect() as conn:
        raw = conn.connection.driver_connection
        try:
            with raw.cursor(name="download_task_log", binary=True) as cursor:  # binary: ~30% faster rows
                cursor.itersize = batch
                columns = JSON_COLUMNS if full else TEXT_COLUMNS
                cursor.execute(STREAM_SQL.format(columns=columns), {"tk": task_key})
                while rows := cursor.fetchmany(batch):
                    yield rows
        finally:
            conn.rollback()
