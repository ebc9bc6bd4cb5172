"""Log lines in their two physical forms: rows (log_events) and compact blocks (log_blocks).

This module is the only one that knows both (as db/queries/compact.py for scalars). Lines are written
as rows; once they can no longer change (their task ended) compaction moves a task's lines into
blocks of BLOCK consecutive lines in (ts, id) order, one array per column (design and measurements:
migrations/versions/0012_log_blocks.py). A task's blocks never overlap in (ts, id): compaction first
turns back into rows the blocks that overlap the rows it moves, so blocks in key order hold lines in
key order.

Reads: `rows()` gives every read of log lines one source, a subquery with the columns of a
log_events row (COLUMNS): the rows unioned with the unnested blocks, both restricted to the task the
caller names and to its time span (timerange.py). `oldest_first()` is the download's ordered source.
Writes (under the task's log series' transaction advisory locks, the ones ingestion takes):
`compact_task` moves a task's rows into blocks. A log line is never replaced (ingestion only drops
exact repeats, found through rows() as well), so blocks are never expanded for ingestion; a line sent
to a compacted task is stored as a row and compacted by a later pass.
"""
from __future__ import annotations

from typing import Sequence

from sqlalchemy import text
from sqlalchemy.orm import Session

from events_service.db.queries import compact, timerange
from events_service.db.queries.compact import ENDED, First, block_span  # blocks' min_ts/max_ts as here

BLOCK = 1000
COLUMNS = "company_key, task_key, series_key, id, ts, iter, worker, received, level, msg, extra"
# A block's lines as rows, COLUMNS then the line's place in its block (lb: the log_blocks rows of
# {blocks}); a column constant over the block is stored once (one_*) and its array is NULL.
_UNNESTED = """
    SELECT lb.company_key, lb.task_key,
           CASE WHEN lb.series_keys IS NULL THEN lb.one_series ELSE lu.series_key END AS series_key,
           lu.id, lu.ts,
           CASE WHEN lb.iters IS NULL THEN lb.one_iter ELSE lu.iter END AS iter,
           CASE WHEN lb.workers IS NULL THEN lb.one_worker ELSE lu.worker END AS worker,
           CASE WHEN lb.receiveds IS NULL THEN lb.one_received ELSE lu.received END AS received,
           CASE WHEN lb.levels IS NULL THEN lb.one_level ELSE lu.level END AS level,
           lu.msg, lu.extra{place}
    FROM {blocks} lb CROSS JOIN LATERAL unnest(lb.ids, lb.times, lb.msgs, lb.series_keys, lb.iters,
                                               lb.workers, lb.receiveds, lb.levels, lb.extras)
         WITH ORDINALITY AS lu(id, ts, msg, series_key, iter, worker, received, level, extra, ordinal)"""


def unnested(blocks: str, place: bool = False) -> str:
    """The lines of the log_blocks rows selected by `blocks` (a FROM item) as COLUMNS rows; with
    `place`, also their block's first key and their ordinal in it (block_ts, block_id, ordinal)."""
    columns = ", lb.min_ts AS block_ts, lb.first_id AS block_id, lu.ordinal" if place else ""
    return _UNNESTED.format(blocks=blocks, place=columns)


def rows(where: str, span: timerange.Span, first: First | None = None) -> str:
    """A parenthesised subquery of the log lines (COLUMNS) matching `where`, a condition on task_key /
    series_key / company_key only, within `span`; callers filter and order the lines themselves.

    `first` (compact.First, ordered by "ts asc" or "ts desc"; its filter only a keyset position
    `(ts, id) op (...)`): the caller reads only the first `limit` lines in that order. The rows' branch
    then stops at the limit through the (task_key, ts, id) index, and only the blocks that can hold
    one of the first `limit` block lines are unnested: blocks do not overlap, so every line of the
    blocks ahead of a block (in key order, after the position) comes before all of its own.
    """
    blocks = f"SELECT * FROM log_blocks WHERE {where} AND {block_span(span)}"
    raw = f"SELECT {COLUMNS} FROM log_events WHERE {where} AND {span.sql('ts')}"
    if first is None:
        return f"({raw} UNION ALL {unnested(f'({blocks})')})"
    direction = first.order.split()[1]
    raw = f"({raw} AND ({first.filter}) ORDER BY {first.order_by} LIMIT {first.limit})"
    edge = "(max_ts, last_id)" if direction == "asc" else "(min_ts, first_id)"
    blocks += f" AND ({first.filter.replace('(ts, id)', edge)})"
    # the leading block may hold lines on both sides of the position: its own lines do not count
    lead = " - first_value(n) OVER w" if first.positioned or "(ts, id)" in first.filter else ""
    chosen = (f"SELECT * FROM (SELECT *, coalesce(sum(n) OVER (w ROWS BETWEEN UNBOUNDED PRECEDING AND 1 "
              f"PRECEDING), 0){lead} AS surely_before FROM ({blocks}) lbk WINDOW w AS (PARTITION BY task_key "
              f"ORDER BY min_ts {direction}, first_id {direction})) lbk WHERE surely_before < {first.limit}")
    return (f"({raw} UNION ALL SELECT * FROM ({unnested(f'({chosen})')}) lbu WHERE {first.filter})")


def oldest_first(cursor, task_key: int, span: timerange.Span) -> tuple[str, str]:
    """The task's log lines for a download, oldest first: (FROM item aliased l, its ORDER BY).

    `cursor` is the download's (psycopg, in a REPEATABLE READ transaction, so that the choice made
    here holds for the read that follows). Either form alone streams from its first line on: rows
    only (a running task) through the (task_key, ts, id) index; blocks only (a compacted task) in
    key order, sorting only each block's lines (an incremental sort by ordinal). Both (lines sent
    after a compaction, until the next) are sorted as a whole.
    """
    tk = int(task_key)
    blocks = f"(SELECT * FROM log_blocks WHERE task_key = {tk} AND {block_span(span)})"
    raw = f"(SELECT {COLUMNS} FROM log_events WHERE task_key = {tk} AND {span.sql('ts')})"
    has_rows, has_blocks = cursor.execute(
        f"SELECT EXISTS (SELECT 1 FROM {raw} r), EXISTS (SELECT 1 FROM {blocks} b)").fetchone()
    if not has_blocks:
        return raw, "l.ts, l.id"
    if not has_rows:
        return f"({unnested(blocks, place=True)})", "l.block_ts, l.block_id, l.ordinal"
    return rows(f"task_key = {tk}", span), "l.ts, l.id"


def stored_twins(session: Session, task_key: int, times: Sequence[int]) -> set[tuple]:
    """(series, ts, worker, level, md5(msg)) of the task's stored lines at these times (either form)."""
    span = timerange.Span(min(times), max(times))  # as constants: only their chunks are planned
    found = session.execute(text(
        f"SELECT series_key, ts, worker, level, md5(msg) AS digest FROM {rows('task_key = :tk', span)} l "
        "WHERE ts = ANY(:ts)"), {"tk": task_key, "ts": list(times)})
    return {(r.series_key, r.ts, r.worker, r.level, r.digest) for r in found}


# --- compaction ---------------------------------------------------------------------------------

_SAME = "(count({c}) = 0 OR (count({c}) = count(*) AND min({c}) = max({c})))"
_VARYING = ("series_key", "iter", "worker", "level")
_AGGREGATE = f"""
    numbered AS (SELECT *, (row_number() OVER (ORDER BY ts, id) - 1) / {BLOCK} AS blk FROM moved),
    grouped AS (
        SELECT min(company_key) AS company_key, min(task_key) AS task_key, count(*) AS n,
               array_agg(id ORDER BY ts, id) AS ids, array_agg(ts ORDER BY ts, id) AS times,
               array_agg(msg ORDER BY ts, id) AS msgs,
               {', '.join(f"CASE WHEN {_SAME.format(c=c)} THEN min({c}) END AS one_{c}, "
                          f"CASE WHEN NOT {_SAME.format(c=c)} THEN array_agg({c} ORDER BY ts, id) END AS {c}s"
                          for c in _VARYING)},
               CASE WHEN min(received) = max(received) THEN min(received) END AS one_received,
               CASE WHEN min(received) <> max(received) THEN array_agg(received ORDER BY ts, id) END
                   AS receiveds,
               CASE WHEN count(extra) > 0 THEN array_agg(extra ORDER BY ts, id) END AS extras
        FROM numbered GROUP BY blk),
    made AS (
        INSERT INTO log_blocks (task_key, min_ts, first_id, max_ts, last_id, company_key, n, one_series,
                                one_iter, one_worker, one_level, one_received, ids, times, msgs, series_keys,
                                iters, workers, levels, receiveds, extras)
        SELECT task_key, times[1], ids[1], times[n], ids[n], company_key, n, one_series_key, one_iter,
               one_worker, one_level, one_received, ids, times, msgs, series_keys, iters, workers, levels,
               receiveds, extras
        FROM grouped RETURNING n)"""


def log_series(session: Session, task_key: int) -> list[int]:
    return list(session.execute(text(
        "SELECT key FROM series WHERE task_key = :tk AND event_type = 'log' ORDER BY key"),
        {"tk": task_key}).scalars())


def compact_task(session: Session, task_key: int, *, wait: bool = True, keep_ms: int | None = None
                 ) -> int | None:
    """Move the task's log rows into blocks, in the caller's transaction (which should hold nothing
    else: commit right after); the number of lines moved. Takes the task's log series' locks in
    ingestion's order (by key); without `wait`, None when one is held (being written or compacted).

    `keep_ms` (a running task): only the lines more than `keep_ms` older than the task's newest line
    move, and the task stays pending (its newer lines are compacted once it ends)."""
    keys = log_series(session, task_key)
    for key in keys:
        if wait:
            session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})
        elif not session.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": key}).scalar_one():
            return None
    if keep_ms is None:
        moved = _move(session, task_key, keys)
        session.execute(text("UPDATE series SET compacted_received = last_received WHERE key = ANY(:keys)"),
                        {"keys": keys})
        return moved
    newest = timerange.of_series(session, keys).hi
    return 0 if newest is None else _move(session, task_key, keys, before=newest - keep_ms)


def _span(session: Session, keys: list[int], before: int | None) -> timerange.Span:
    span = timerange.of_series(session, keys)
    return span if before is None else span.narrowed(hi=before - 1)


def _move(session: Session, task_key: int, keys: list[int], before: int | None = None) -> int:
    """Move the series' rows (those before the time `before`, if given) into blocks."""
    span = _span(session, keys, before)
    params = {"tk": task_key, "keys": keys}
    where = f"task_key = :tk AND series_key = ANY(:keys) AND {span.sql('ts')}"
    ends = session.execute(text(
        f"(SELECT ts, id FROM log_events WHERE {where} ORDER BY ts, id LIMIT 1) UNION ALL "
        f"(SELECT ts, id FROM log_events WHERE {where} ORDER BY ts DESC, id DESC LIMIT 1)"), params).all()
    if not ends:
        return 0
    (lo_ts, lo_id), (hi_ts, hi_id) = ends
    # Blocks overlapping the rows' key range become rows first (blocks never overlap), and so does a
    # partly filled block just before it (a log compacted again after new lines stays in full blocks).
    moving = f"""
        WITH gone AS (
            DELETE FROM log_blocks WHERE task_key = :tk AND (
                ((max_ts, last_id) >= (:lo_ts, :lo_id) AND (min_ts, first_id) <= (:hi_ts, :hi_id))
                OR (n < {BLOCK} AND (min_ts, first_id) = (
                    SELECT min_ts, first_id FROM log_blocks WHERE task_key = :tk
                    AND (min_ts, first_id) < (:lo_ts, :lo_id) ORDER BY min_ts DESC, first_id DESC LIMIT 1)))
            RETURNING *)
        INSERT INTO log_events ({COLUMNS}) SELECT {COLUMNS} FROM ({unnested('gone')}) g"""
    session.execute(text(moving), {**params, "lo_ts": lo_ts, "lo_id": lo_id, "hi_ts": hi_ts, "hi_id": hi_id})
    span = _span(session, keys, before)
    deleting = timerange.deletes(session, "log_events", span,
                                 "t.task_key = :tk AND t.series_key = ANY(:keys)", returning="t.*")
    if deleting is None:
        return 0
    ctes, union = deleting
    return session.execute(text(
        f"WITH {ctes}, moved AS ({union}), {_AGGREGATE} SELECT coalesce(sum(n), 0) FROM made"),
        params).scalar_one()


def pending(session: Session, *, task_keys: Sequence[int] | None = None, ended_only: bool = True,
            limit: int | None = None) -> list[int]:
    """Tasks with log lines written since they were last compacted (from `series` alone), ended ones
    (or `task_keys`), by key."""
    return compact.written_since_compacted(session, "log", "s.task_key", task_keys=task_keys,
                                           ended_only=ended_only, limit=limit)


def aging(session: Session, keep_ms: int, limit: int | None = None) -> list[int]:
    """Running tasks whose log has rows more than `keep_ms` older than its newest line, by key: the
    candidates from `series` (written since last compacted, newest line more than `keep_ms` after
    its last block), each then probed with its time range as constants (timerange.py)."""
    candidates = session.execute(text("""
        SELECT s.task_key, min(s.min_ts), max(s.max_ts) - :keep AS cutoff
        FROM series s JOIN tasks t ON t.key = s.task_key
        WHERE s.event_type = 'log' AND s.event_count > 0 AND NOT t.status = ANY(:ended)
          AND s.last_received IS DISTINCT FROM s.compacted_received
        GROUP BY s.task_key
        HAVING max(s.max_ts) - :keep > coalesce(
            (SELECT b.max_ts FROM log_blocks b WHERE b.task_key = s.task_key
             ORDER BY b.min_ts DESC, b.first_id DESC LIMIT 1), min(s.min_ts) - 1)
        ORDER BY s.task_key"""), {"keep": keep_ms, "ended": list(ENDED)}).all()
    found = []
    for task_key, lo, cutoff in candidates:
        span = timerange.Span(lo, cutoff - 1)
        if session.execute(text(f"SELECT EXISTS (SELECT 1 FROM log_events WHERE task_key = :tk AND "
                                f"{span.sql('ts')})"), {"tk": task_key}).scalar_one():
            found.append(task_key)
            if limit and len(found) >= limit:
                break
    return found


def delete_blocks(session: Session, task_key: int) -> int:
    """Delete the task's blocks (after its rows: delete_for_task); the number of lines they held."""
    return session.execute(text("WITH gone AS (DELETE FROM log_blocks WHERE task_key = :tk RETURNING n) "
                                "SELECT coalesce(sum(n), 0) FROM gone"), {"tk": task_key}).scalar_one()


def block_bytes(session: Session) -> int:
    """Bytes of every log block (heap, TOAST, index)."""
    return session.execute(text("SELECT pg_total_relation_size('log_blocks')")).scalar_one()


def total_bytes(session: Session) -> int:
    """Bytes of log lines in both forms (rows with their indexes, and blocks)."""
    return session.execute(text(
        "SELECT hypertable_size('log_events') + pg_total_relation_size('log_blocks')")).scalar_one()
