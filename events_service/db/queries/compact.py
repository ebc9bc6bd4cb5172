"""Scalar events in their two physical forms: rows (scalar_events) and compact blocks (scalar_blocks).

This module is the only one that knows both. A series' points are written as rows; once they can
no longer change (the task ended) compaction moves them into blocks of BLOCK consecutive
iterations, one array per column (design and measurements: migrations/versions/0008_scalar_blocks.py).

Reads: `rows()` gives every read of scalar events one source, a subquery with the columns of a
scalar_events row (company_key, task_key, series_key, id, ts, iter, worker, received, value,
extra): the rows, unioned with the unnested blocks, both restricted to the series or task the
caller names and to its time span (timerange.py: the rows' bound is the constant that excludes
chunks; the blocks' bound skips blocks). Queries select from it as they selected from the table.

Writes (both under the series' transaction advisory lock, the one ingestion takes, so a batch
for a series and its compaction never interleave):
- `compact_series` moves a series' rows with an iteration into blocks, in the caller's
  transaction; a block that already holds points of the same 1,000 iterations is merged.
- `expand` turns the blocks holding given (series, iteration) keys back into rows: ingestion calls
  it for re-sent events, which then replace their stored twin as rows do (one event per key).
Events without an iteration (at most one per series) always stay rows.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from sqlalchemy import text
from sqlalchemy.orm import Session

from events_service.db.queries import timerange

BLOCK = 1000
COLUMNS = "company_key, task_key, series_key, id, ts, iter, worker, received, value, extra"
_BUCKET = f"floor(iter::numeric / {BLOCK})::bigint"
# A block's points as rows, the columns in COLUMNS' order (cb: the scalar_blocks rows of {blocks}).
_UNNESTED = """
    SELECT cb.company_key, cb.task_key, cb.series_key, cu.id, cu.ts,
           coalesce(cu.iter, cb.first_iter + cu.ordinal - 1) AS iter,
           CASE WHEN cb.workers IS NULL THEN cb.one_worker ELSE cu.worker END AS worker,
           coalesce(cu.received, cb.one_received) AS received, cu.value, cu.extra
    FROM {blocks} cb CROSS JOIN LATERAL unnest(cb.ids, cb.times, cb.vals, cb.iters, cb.workers, cb.receiveds,
                                               cb.extras)
         WITH ORDINALITY AS cu(id, ts, value, iter, worker, received, extra, ordinal)"""


@dataclass(frozen=True)
class First:
    """A read of only the first `limit` (SQL) events in `order` ("iter asc", "iter desc", "ts asc",
    "ts desc"; ts orders break ties by id) among those matching `filter` (SQL on the events' columns,
    unqualified); `values_only` when `filter` keeps only events with a value; `positioned` when it
    also starts after a position (a keyset page, a range), which may leave out part of the first
    block in the order."""
    order: str
    limit: str
    filter: str = "true"
    values_only: bool = False
    positioned: bool = False

    @property
    def order_by(self) -> str:
        key, direction = self.order.split()
        return f"iter {direction}" if key == "iter" else f"ts {direction}, id {direction}"


def rows(where: str, span: timerange.Span, iters: tuple[str, str] | None = None,
         first: First | None = None, compacted: bool = True) -> str:
    """A parenthesised subquery of the scalar events (COLUMNS) matching `where`, a condition on
    series_key / task_key / company_key only (it may name outer columns, inside a LATERAL), within
    `span`; callers filter and order the points themselves. Hints:
    `iters` = SQL (lo, hi): only blocks holding iterations in [lo, hi];
    `first`: the caller reads only the first events in an order (First). The rows' branch then
    reads them through its index and stops at the limit (PostgreSQL plans the union as a subquery,
    so the caller's ORDER BY ... LIMIT would not reach the index), and a block is skipped when
    more than `limit` points of other blocks surely come before all of its own (a block's points
    lie within its iteration and time range). The caller still orders and limits the union.
    `compacted` False: the caller knows that none of the series has ever been compacted
    (NEVER_COMPACTED), so only the rows are read (ingestion's pre-aggregate refresh, per batch).
    """
    blocks = f"SELECT * FROM scalar_blocks WHERE {where} AND {_block_span(span)}"
    if iters is not None:
        blocks += f" AND last_iter >= {iters[0]} AND first_iter <= {iters[1]}"
    raw = f"SELECT {COLUMNS} FROM scalar_events WHERE {where} AND {span.sql('ts')}"
    if not compacted:
        return f"({raw})"
    unnested = _UNNESTED.format(blocks=f"({blocks})")
    if first is not None:
        raw = f"({raw} AND ({first.filter}) ORDER BY {first.order_by} LIMIT {first.limit})"
        unnested = _UNNESTED.format(blocks=f"({_first_blocks(blocks, span, first)})")
        unnested = f"SELECT * FROM ({unnested}) cbu WHERE {first.filter}"
    return f"({raw} UNION ALL {unnested})"


def newest_values(where: str, span: timerange.Span, limit: str) -> str:
    """A parenthesised subquery of (iter, value) of the newest `limit` (SQL) points with an iteration
    and a value of the series matching `where` (as in rows()), within `span`; the caller orders by
    iter DESC and limits. As rows() with `first`, but only the blocks' values and iterations are
    read (a third of the decompression of unnesting every column), and only the last points of a
    block (_last_values_of_blocks). (Slicing the blocks of pages too made them slower: a page of
    500 gained nothing, one of 10,000 lost 20-30%, in-process on a compacted 100,000-point series.)"""
    first = First("iter desc", limit, "iter IS NOT NULL AND value IS NOT NULL", values_only=True)
    raw = (f"SELECT iter, value FROM scalar_events WHERE {where} AND {span.sql('ts')} AND {first.filter} "
           f"ORDER BY iter DESC LIMIT {limit}")
    blocks = f"SELECT * FROM scalar_blocks WHERE {where} AND {_block_span(span)}"
    blocks = _last_values_of_blocks(_first_blocks(blocks, span, first), limit)
    return (f"(({raw}) UNION ALL SELECT coalesce(cu.iter, cb.first_iter + cu.ordinal - 1) AS iter, cu.value "
            f"FROM ({blocks}) cb CROSS JOIN LATERAL unnest(cb.vals, cb.iters) WITH ORDINALITY "
            "AS cu(value, iter, ordinal) WHERE cu.value IS NOT NULL)")


def _first_blocks(blocks: str, span: timerange.Span, first: First) -> str:
    """`blocks` without those that cannot hold any of the first `limit` events in `order`."""
    count = "n_values" if first.values_only else "n"
    key, direction = first.order.split()
    if key == "iter":
        # one series' blocks hold disjoint iteration ranges: every point of the blocks ahead of a
        # block comes first, except that the leading block may hold only points before the position
        window = f"PARTITION BY series_key ORDER BY bucket {direction}"
        lead = f" - first_value({count}) OVER w" if first.positioned else ""
        return (f"SELECT * FROM (SELECT *, coalesce(sum({count}) OVER (w ROWS BETWEEN UNBOUNDED PRECEDING "
                f"AND 1 PRECEDING), 0){lead} AS surely_before FROM ({blocks}) cbk "
                f"WINDOW w AS ({window})) cbk WHERE surely_before < {first.limit}")
    # by time: the points of the blocks lying wholly before a block in time (and, when positioned,
    # wholly after the position, which is then the span's bound) come first. With `edge` the
    # earliest block end (in the order) by which blocks hold `limit` points (one sort, not a
    # count per pair of blocks), a block is needed when it starts at or before the edge.
    if direction == "asc":
        end, start, edge, cmp = "max_ts", "min_ts", "min", "<="
        inside = f"min_ts > {int(span.lo)}" if first.positioned and span.lo is not None else "true"
    else:
        end, start, edge, cmp = "min_ts", "max_ts", "max", ">="
        inside = f"max_ts < {int(span.hi)}" if first.positioned and span.hi is not None else "true"
    return (f"WITH cbb AS MATERIALIZED ({blocks}), cbe AS (SELECT {edge}({end}) AS edge FROM ("
            f"SELECT {end}, sum({count}) OVER (ORDER BY {end} {direction}) AS ahead FROM cbb "
            f"WHERE {inside}) cbj WHERE ahead >= {first.limit}) "
            f"SELECT cbb.* FROM cbb, cbe WHERE cbe.edge IS NULL OR cbb.{start} {cmp} cbe.edge")


# A series has blocks only if it was compacted: compact_series, the one writer of blocks, sets
# compacted_received to last_received, which ingestion sets on every write (never NULL once the
# series has rows). Read under the series' lock, the marker cannot change before the transaction ends.
NEVER_COMPACTED = "compacted_received IS NULL"


def _last_values_of_blocks(blocks: str, limit: str) -> str:
    """Of `blocks` (_first_blocks by "iter desc" of the points with a value, not positioned), the
    values and iterations of the points that can be among the last `limit` with a value: a block's
    points are in iteration order, and at most `limit` - surely_before of them are wanted, plus
    those without a value. Arrays sliced to positions lo..n; first_iter becomes that of the first
    point kept (a point's iteration is first_iter + its position - 1 when `iters` is NULL)."""
    lo = f"greatest(n_values - greatest({limit} - surely_before, 0) + 1, 1)"
    return (f"SELECT first_iter + cbs.lo - 1 AS first_iter, vals[cbs.lo:n] AS vals, iters[cbs.lo:n] AS iters "
            f"FROM (SELECT *, {lo} AS lo FROM ({blocks}) cbs) cbs")


def rows_without_iteration(where: str, span: timerange.Span) -> str:
    """As rows(), for reads of the events without an iteration only: those are never compacted."""
    return f"(SELECT {COLUMNS} FROM scalar_events WHERE {where} AND {span.sql('ts')} AND iter IS NULL)"


def _block_span(span: timerange.Span) -> str:
    if span.empty:
        return "false"
    parts = ["true"]
    if span.lo is not None:
        parts.append(f"max_ts >= {int(span.lo)}")
    if span.hi is not None:
        parts.append(f"min_ts <= {int(span.hi)}")
    return " AND ".join(parts)


def lock_series(session: Session, series_key: int) -> None:
    """The series' transaction advisory lock, as ingestion takes it (db/queries/ingest._series)."""
    session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": series_key})


def expand(session: Session, keys: Sequence[tuple[int, int]]) -> int:
    """Turn the blocks holding these (series_key, iter) back into rows; the number of points moved.
    The caller holds the series' locks."""
    if not keys:
        return 0
    return session.execute(text(f"""
        WITH gone AS (
            DELETE FROM scalar_blocks b
            USING (SELECT DISTINCT s, {_BUCKET.replace('iter', 'i')} AS k
                   FROM unnest(CAST(:s AS bigint[]), CAST(:i AS bigint[])) AS c(s, i)) c
            WHERE b.series_key = c.s AND b.bucket = c.k RETURNING b.*),
        moved AS (
            INSERT INTO scalar_events ({COLUMNS}) {_UNNESTED.format(blocks='gone')} RETURNING 1)
        SELECT count(*) FROM moved"""), {"s": [k[0] for k in keys], "i": [k[1] for k in keys]}).scalar_one()


_AGGREGATE = f"""
    INSERT INTO scalar_blocks (series_key, bucket, company_key, task_key, first_iter, last_iter, min_ts,
                               max_ts, n, n_values, one_worker, one_received, ids, times, vals, iters,
                               workers, receiveds, extras)
    SELECT series_key, {_BUCKET}, min(company_key), min(task_key), min(iter), max(iter), min(ts), max(ts),
           count(*), count(value), CASE WHEN {{same_worker}} THEN min(worker) END,
           CASE WHEN min(received) = max(received) THEN min(received) END,
           array_agg(id ORDER BY iter), array_agg(ts ORDER BY iter), array_agg(value ORDER BY iter),
           CASE WHEN max(iter) - min(iter) + 1 <> count(*) THEN array_agg(iter ORDER BY iter) END,
           CASE WHEN NOT {{same_worker}} THEN array_agg(worker ORDER BY iter) END,
           CASE WHEN min(received) <> max(received) THEN array_agg(received ORDER BY iter) END,
           CASE WHEN count(extra) > 0 THEN array_agg(extra ORDER BY iter) END
    FROM moved GROUP BY series_key, {_BUCKET}
    RETURNING n""".replace("{same_worker}", "(count(worker) = 0 OR (count(worker) = count(*) "
                           "AND min(worker) = max(worker)))")


def compact_series(session: Session, series_key: int, *, wait: bool = True) -> int | None:
    """Move the series' rows with an iteration into blocks, in the caller's transaction (which should
    hold nothing else: commit right after); the number of points moved. Without `wait`, None when
    the series is locked (being written or compacted): ingestion is never made to wait for it."""
    if wait:
        lock_series(session, series_key)
    elif not session.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": series_key}).scalar_one():
        return None
    moved = _move(session, series_key)
    session.execute(text("UPDATE series SET compacted_received = last_received WHERE key = :k"),
                    {"k": series_key})
    return moved


def _move(session: Session, series_key: int) -> int:
    span = timerange.of_series(session, [series_key])
    if span.empty:
        return 0
    # Blocks of the iterations about to be compacted (a task resumed, or a re-sent point expanded
    # its block) become rows first, so that each (series, bucket) stays one block.
    buckets = session.execute(text(
        f"SELECT DISTINCT {_BUCKET} FROM scalar_events WHERE series_key = :k AND iter IS NOT NULL "
        f"AND {span.sql('ts')}"), {"k": series_key}).scalars().all()
    if not buckets:
        return 0
    expand(session, [(series_key, b * BLOCK) for b in buckets])
    deleting = timerange.deletes(session, "scalar_events", span, "t.series_key = :k AND t.iter IS NOT NULL",
                                 returning="t.*")
    if deleting is None:
        return 0
    ctes, union = deleting
    return session.execute(text(
        f"WITH {ctes}, moved AS ({union}), made AS ({_AGGREGATE}) SELECT coalesce(sum(n), 0) FROM made"),
        {"k": series_key}).scalar_one()


ENDED = ("completed", "stopped", "failed", "published", "closed")


def pending(session: Session, *, task_keys: Sequence[int] | None = None, ended_only: bool = True,
            limit: int | None = None) -> list[int]:
    """Scalar series written since they were last compacted (from `series` alone), of ended tasks
    (or of `task_keys`), by key."""
    where = ["s.event_type = 'training_stats_scalar'", "s.event_count > 0",
             "s.last_received IS DISTINCT FROM s.compacted_received"]
    if ended_only:
        where.append("t.status = ANY(:ended)")
    if task_keys is not None:
        where.append("s.task_key = ANY(:tks)")
    return list(session.execute(text(
        f"SELECT s.key FROM series s JOIN tasks t ON t.key = s.task_key WHERE {' AND '.join(where)} "
        "ORDER BY s.key" + (" LIMIT :limit" if limit else "")),
        {"ended": list(ENDED), "tks": list(task_keys or []), "limit": limit}).scalars())


def try_lock_pass(session: Session) -> bool:
    """The compaction pass' transaction lock (two-int key space: never a series' lock): one runner at a
    time over every worker and host. Transaction-scoped, so it holds under PgBouncer's transaction pooling."""
    return session.execute(text("SELECT pg_try_advisory_xact_lock(1163285587, 1)")).scalar_one()


def block_points(session: Session, task_key: int) -> int:
    """Points of the task held in blocks."""
    return session.execute(text("SELECT coalesce(sum(n), 0) FROM scalar_blocks WHERE task_key = :tk"),
                           {"tk": task_key}).scalar_one()


def block_bytes(session: Session) -> int:
    """Bytes of every compact block (heap, TOAST, index)."""
    return session.execute(text("SELECT pg_total_relation_size('scalar_blocks')")).scalar_one()
