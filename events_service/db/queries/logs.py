"""Log reads for downloads, streamed (never the whole log in memory): lines formatted by
PostgreSQL (text), JSON line heads (json), or plain rows (text formats with specs/conversions).

Pages of get_task_log are read by events.page_by_time (keyset over (ts, id) on the
(task_key, ts, id) index), so they are not repeated here. The lines come from both their forms,
rows and compact blocks, through log_blocks.oldest_first.

Why the backend formats: filling a line in Python cost about three times what fetching its row
costs (the download ran at a third of `COPY ... TO STDOUT`, bench/logs.py). The backend builds
the line on its own core, in parallel with the worker (see _fetch), which joins bytes.
Measured alternatives (200k lines, worker CPU per line): `COPY (SELECT line ...) TO STDOUT`
1.7-2 us (a CopyData message and generator round per row, plus undoing COPY's escaping), bytea
lines from a binary cursor 0.3-0.7 us. Whole JSON lines in SQL (to_char twice, to_json three
times) made the backend the bottleneck (~230k lines/s); to_char costs it more than the rest of
the line, and the two times repeat, so the worker appends them (services/logs._json_lines).
"""
from __future__ import annotations

from itertools import islice
from typing import Any, Callable, Iterator, Sequence

from psycopg import sql
from sqlalchemy import Engine

from events_service.db.queries import log_blocks
from events_service.db.queries.timerange import Span

# Event time as YYYY-MM-DD HH:MM:SS,mmm UTC (Python logging's asctime). `timestamp 'epoch' +
# interval` is exact integer arithmetic and independent of the session's time zone.
ASCTIME = "to_char(timestamp 'epoch' + l.ts * interval '1 millisecond', 'YYYY-MM-DD HH24:MI:SS,MS')"

# Text placeholders as SQL; a missing field is written empty.
TEXT_FIELDS = {
    "timestamp": "l.ts::text",
    "asctime": ASCTIME,
    "level": "coalesce(l.level, '')",
    "worker": "coalesce(l.worker, '')",
    "msg": "coalesce(l.msg, '')",
}

# The rows of the text cursor path (formats PostgreSQL cannot write), in the order they are used.
TEXT_COLUMNS = "l.ts, l.level, l.worker, l.msg"


def _lines(columns: sql.Composable, task_key: int, span: Span | None) -> Callable[[Any], sql.Composable]:
    """The statement of the task's log lines oldest first, `columns` of them (alias l), made with the
    download's cursor (log_blocks.oldest_first: the lines' forms decide the order's plan); bounded
    by the task's log time range (timerange.py), or not when it is not given."""
    def statement(cursor: Any) -> sql.Composable:
        source, order = log_blocks.oldest_first(cursor, task_key, span or Span(None, None))
        return sql.SQL("SELECT {columns} FROM {source} l ORDER BY {order}").format(
            columns=columns, source=sql.SQL(source), order=sql.SQL(order))
    return statement


def text_line(parts: Sequence[tuple[str, str]]) -> sql.Composable:
    """The SQL expression of a text line: parts are ("literal", text) or ("field", placeholder).

    Literal text is bound as an escaped SQL literal, never pasted into the statement. The line
    ends with a newline.
    """
    pieces: list[sql.Composable] = []
    for kind, value in parts:
        if kind == "field":
            pieces.append(sql.SQL(TEXT_FIELDS[value]))
        elif value:
            pieces.append(sql.Literal(value))
    pieces.append(sql.Literal("\n"))
    return sql.SQL(" || ").join(pieces)


def json_heads(series: dict[int, str], default_series: str) -> sql.Composable:
    """The SQL of a JSON line's head, up to the value of `@timestamp`: `{"timestamp":..,"iter":..,
    "metric":..,"variant":..,"level":..,"msg":..,"worker":..,"@timestamp":"` with the keys,
    order and values of the stored event (iter, level, msg left out when absent, worker null).

    to_json escapes strings exactly as orjson does (non-ASCII left raw: the caller escapes it).
    The two times repeat from line to line, so the caller appends them from caches: to_char
    would cost the backend more than the rest of the line. `series` maps a series key to its
    `"metric":..,"variant":..` text, written as a CASE over the task's few log series.
    """
    if series:
        whens = [sql.SQL("WHEN {} THEN {}").format(sql.Literal(key), sql.Literal(text))
                 for key, text in series.items()]
        names = sql.SQL("CASE l.series_key {} ELSE {} END").format(
            sql.SQL(" ").join(whens), sql.Literal(default_series))
    else:
        names = sql.Literal(default_series)
    return sql.SQL(
        """'{{"timestamp":' || l.ts || coalesce(',"iter":' || l.iter, '') || ',' || {names}"""
        """ || coalesce(',"level":' || to_json(l.level)::text, '')"""
        """ || coalesce(',"msg":' || to_json(l.msg)::text, '')"""
        """ || ',"worker":' || coalesce(to_json(l.worker)::text, 'null') || ',"@timestamp":"'"""
    ).format(names=names)


def json_rows(engine: Engine, task_key: int, head: sql.Composable, batch: int = 5000, span: Span | None = None
              ) -> Iterator[list[tuple[bytes, int, int, str | None]]]:
    """The task's log oldest first as (head bytes, ts, received, extra fields as JSON text or None)
    rows, `batch` at a time (see _fetch)."""
    columns = sql.SQL("convert_to({head}, 'UTF8'), l.ts, l.received, nullif(l.extra, '{{}}')::text").format(
        head=head)
    yield from _fetch(engine, _lines(columns, task_key, span), batch)


def _fetch(engine: Engine, statement_of: Callable[[Any], sql.Composable], batch: int
           ) -> Iterator[list[tuple[Any, ...]]]:
    """Rows of `statement` in lists of `batch`, streamed: PostgreSQL sends rows continuously and
    libpq hands them over `batch` at a time (chunked rows mode), so the backend formats lines
    while the worker relays the previous ones. A named cursor's FETCH is a round trip per batch:
    backend and worker took turns, and the download ran at the sum of both costs.

    Memory stays at one batch (plus the socket's buffers) whatever the log's size. Takes the
    engine, not a session: it runs after the request's transaction has ended (while the response
    streams), on a connection of its own that is given back when the generator finishes or is
    closed (client gone: psycopg cancels the query). The statement is made by `statement_of` with
    the cursor, in the REPEATABLE READ transaction it then runs in (one snapshot for both).
    """
    with engine.connect() as conn:
        raw = conn.connection.driver_connection
        try:
            with raw.cursor(binary=True) as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                # Rows in index order: with costly lines the planner would rather sort the whole
                # log (a parallel seq scan), which is slower and sends nothing until it is done.
                cursor.execute("SET LOCAL max_parallel_workers_per_gather = 0")
                cursor.execute("SET LOCAL enable_sort = off")
                rows = cursor.stream(statement_of(cursor), size=batch)
                try:
                    while chunk := list(islice(rows, batch)):
                        yield chunk
                finally:
                    rows.close()  # before the cursor and the rollback: cancels an unfinished query
        finally:
            conn.rollback()


def formatted_lines(engine: Engine, task_key: int, line: sql.Composable, batch: int = 5000,
                    span: Span | None = None) -> Iterator[bytes]:
    """The task's log oldest first, one `line` (plus a newline) per event, formatted by PostgreSQL,
    as chunks of `batch` lines (see _fetch).

    The line comes as bytea (its UTF-8 bytes): the binary cursor then hands over bytes objects
    that are only joined, with no decoding or encoding per line. The statement is fully composed
    (escaped literals), so it is sent without parameters.
    """
    columns = sql.SQL("convert_to({line}, 'UTF8')").format(line=line)
    for rows in _fetch(engine, _lines(columns, task_key, span), batch):
        yield b"".join([row[0] for row in rows])


def stream(engine: Engine, task_key: int, batch: int = 5000, span: Span | None = None
           ) -> Iterator[list[tuple[Any, ...]]]:
    """The task's log lines oldest first as TEXT_COLUMNS rows, `batch` at a time (for text
    formats PostgreSQL cannot write)."""
    yield from _fetch(engine, _lines(sql.SQL(TEXT_COLUMNS), task_key, span), batch)
