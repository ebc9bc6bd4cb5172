"""The time range a read of the event hypertables is bounded by, written into its SQL as constants.

The hypertables are partitioned by event time in 7-day chunks, the reads go by task or series.
Without a condition on `ts` PostgreSQL plans, and TimescaleDB scans, every chunk of the table for
every read, so one task's reads slow down as other tasks' data adds chunks (bench/chunks.py).
`series` keeps each series' [min_ts, max_ts] (ingestion widens it, nothing narrows it: it covers
every stored event), and reads add `ts BETWEEN lo AND hi` for the series or task they read.

The bounds are integer literals in the statement text, not bind parameters: TimescaleDB excludes
chunks at plan time only for constants on the time column; a parameter is a constant only in a
custom plan (db/session forces those, but a pooler or another client may not), and a value coming
from a join is excluded at run time only, after every chunk has been planned.

Any new read of an event hypertable (viewer pages, metrics, views) follows the same rule: take a
Span (of_series, of_tasks, of_task_id, or scalars.span() of Series rows already read) and add
`span.sql("alias.ts")` to its WHERE; a DELETE goes through delete() below. tests/services/
test_time_bounds.py checks every endpoint by locking other weeks' chunks while it reads.

A span is looked up in its own statement before the read. Between the two, a concurrent batch may
commit events outside the span: the read then answers as if it had started before that batch for
those events (reads in autocommit already see one snapshot per statement).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

from sqlalchemy import text
from sqlalchemy.orm import Session

from events_service.db.models import CHUNK_INTERVAL_MS

# Bounds as the statement text needs them when a side is open: int64's extremes.
_LOWEST, _HIGHEST = -(2 ** 63), 2 ** 63 - 1


@dataclass(frozen=True)
class Span:
    """[lo, hi] of event times (epoch ms); `empty` when the series hold no event at all."""
    lo: int | None
    hi: int | None
    empty: bool = False

    def sql(self, column: str = "ts") -> str:
        """`column BETWEEN lo AND hi` with the bounds as literals; `false` for an empty span."""
        if self.empty:
            return "false"
        lo = _LOWEST if self.lo is None else int(self.lo)
        hi = _HIGHEST if self.hi is None else int(self.hi)
        return f"{column} BETWEEN {lo} AND {hi}"

    def narrowed(self, lo: int | None = None, hi: int | None = None) -> "Span":
        """This span within [lo, hi] (a read that asks for a time range itself)."""
        if self.empty:
            return self
        if lo is not None and self.lo is not None:
            lo = max(lo, self.lo)
        if hi is not None and self.hi is not None:
            hi = min(hi, self.hi)
        lo = self.lo if lo is None else lo
        hi = self.hi if hi is None else hi
        return EMPTY if lo is not None and hi is not None and lo > hi else Span(lo, hi)

    def chunk_aligned(self) -> "Span":
        """This span widened to whole chunks (CHUNK_INTERVAL_MS; chunk ranges are multiples of it):
        it excludes the same chunks, and its text stays the same for every batch of a week, so a
        statement that is run per ingested batch is planned once and then reused as prepared (a
        bound moving with every batch made each batch's statement new text, planned again)."""
        if self.empty:
            return self
        lo = None if self.lo is None else max(_LOWEST, self.lo // CHUNK_INTERVAL_MS * CHUNK_INTERVAL_MS)
        hi = None if self.hi is None \
            else min(_HIGHEST, (self.hi // CHUNK_INTERVAL_MS + 1) * CHUNK_INTERVAL_MS - 1)
        return Span(lo, hi)


EMPTY = Span(None, None, empty=True)


def merge(ranges: Iterable[tuple[int | None, int | None, bool]]) -> Span:
    """One span over series rows given as (min_ts, max_ts, holds events)."""
    lo: int | None = None
    hi: int | None = None
    unbounded_below = found = False
    for min_ts, max_ts, holds in ranges:
        if not holds and max_ts is None:
            continue
        found = True
        if min_ts is None:
            unbounded_below = True  # events stored before min_ts was kept (should not happen: 0006 fills it)
        else:
            lo = min_ts if lo is None else min(lo, min_ts)
        if max_ts is None:
            return Span(None, None)  # events without a known newest time: no bound at all
        hi = max_ts if hi is None else max(hi, max_ts)
    if not found:
        return EMPTY
    return Span(None if unbounded_below else lo, hi)


# The columns of a series row that merge() takes.
RANGE = "min_ts, max_ts, event_count > 0"


def of_series(session: Session, series_keys: Sequence[int]) -> Span:
    """The span of these series' events."""
    if not series_keys:
        return EMPTY
    rows = session.execute(text(f"SELECT {RANGE} FROM series WHERE key = ANY(:keys)"),
                           {"keys": list(series_keys)})
    return merge(rows)


def of_tasks(session: Session, task_keys: Sequence[int], event_types: Sequence[str]) -> dict[str, Span]:
    """event type -> the span of the tasks' events of that type (EMPTY when they have none)."""
    spans = {t: EMPTY for t in event_types}
    if not task_keys or not event_types:
        return spans
    rows = session.execute(text(
        f"SELECT event_type, {RANGE} FROM series WHERE task_key = ANY(:tks) AND event_type = ANY(:types)"),
        {"tks": list(task_keys), "types": list(event_types)}).all()
    for event_type in event_types:
        spans[event_type] = merge(r[1:] for r in rows if r[0] == event_type)
    return spans


def of_task_id(session: Session, company_key: int, task_id: str, event_type: str) -> Span:
    """The span of one task's events of one type, the task named by the caller's id (EMPTY if unknown)."""
    rows = session.execute(text(
        f"SELECT {RANGE} FROM series WHERE event_type = :type AND task_key = "
        "(SELECT key FROM tasks WHERE company_key = :ck AND id = :id)"),
        {"type": event_type, "ck": company_key, "id": task_id})
    return merge(rows)


def of_task(session: Session, task_key: int, event_type: str) -> Span:
    """The span of one task's events of one type."""
    return of_tasks(session, [task_key], [event_type])[event_type]


# The chunks of a hypertable whose time range overlaps [lo, hi], from TimescaleDB's catalog (the
# timescaledb_information.chunks view answers the same in 17 ms instead of 1 ms, at 260 chunks).
_CHUNKS = """
    SELECT format('%I.%I', c.schema_name, c.table_name)
    FROM _timescaledb_catalog.chunk c
    JOIN _timescaledb_catalog.hypertable h ON h.id = c.hypertable_id
    JOIN _timescaledb_catalog.chunk_constraint cc ON cc.chunk_id = c.id
    JOIN _timescaledb_catalog.dimension_slice ds ON ds.id = cc.dimension_slice_id
    WHERE h.schema_name = 'public' AND h.table_name = :table AND NOT c.dropped
      AND ds.range_start <= :hi AND ds.range_end > :lo
    ORDER BY ds.range_start"""


def chunks(session: Session, table: str, span: Span) -> list[str]:
    """Qualified names of the chunks of `table` that may hold events of `span`."""
    if span.empty:
        return []
    lo = _LOWEST if span.lo is None else span.lo
    hi = _HIGHEST if span.hi is None else span.hi
    return list(session.execute(text(_CHUNKS), {"table": table, "lo": lo, "hi": hi}).scalars())


def delete(session: Session, table: str, span: Span, where: str, params: dict, *, using: str = "",
           returning: str | None = None) -> list | int:
    """DELETE FROM each chunk of `table` in `span` (alias t) `using` ... WHERE `where` (the time bound
    added), in one statement; the RETURNING rows, or the number deleted when `returning` is None.

    A DELETE on the hypertable itself would take a lock on every chunk while it is planned (the
    planner expands a statement's target table before excluding any of its chunks): the chunks
    of `span` are named instead. Callers hold the locks that keep new events out of `span`.
    """
    deleting = deletes(session, table, span, where, using=using,
                       returning=returning if returning is not None else "1 AS one")
    if deleting is None:
        return [] if returning is not None else 0
    ctes, union = deleting
    if returning is None:
        return session.execute(text(f"WITH {ctes} SELECT count(*) FROM ({union}) u"), params).scalar_one()
    return session.execute(text(f"WITH {ctes} {union}"), params).all()


def deletes(session: Session, table: str, span: Span, where: str, *, using: str = "",
            returning: str) -> tuple[str, str] | None:
    """The statement parts of delete(), for a statement that does more with the deleted rows: (the
    WITH items, one DELETE per chunk, and a SELECT of all their RETURNING rows); None when no chunk
    is in `span`."""
    names = chunks(session, table, span)
    if not names:
        return None
    parts = [f"d{n} AS (DELETE FROM {name} t {using} WHERE {where} AND {span.sql('t.ts')} "
             f"RETURNING {returning})" for n, name in enumerate(names)]
    return ", ".join(parts), " UNION ALL ".join(f"SELECT * FROM d{n}" for n in range(len(names)))
