"""Scalar events in their two physical forms: rows (scalar_events) and compact blocks (scalar_blocks).

This module is the only one that knows both. A series' points are written as rows; once they can
no longer change (the task ended) compaction moves them into blocks of BLOCK consecutive
iterations, one array per column (design and measurements: migrations/versions/0008_scalar_blocks.py).

Reads: `rows()` gives every read of scalar events one source, a subquery with the columns of a
scalar_events row (company_key, task_key, series_key, id, ts, iter, worker, received, value,
extra): the rows, unioned with the unnested blocks, both restricted to the series or task the
caller names and to its time span (timerange.py: the rows' bound is the constant that excludes
chunks; the blocks' bound skips blocks). Queries select from it as they selected from the table.
One read decodes blocks in Python instead: a page by iteration (scalars.page_by_iter) fetches the
blocks that can hold it (page_blocks) and turns each into rows newest first (page_desc), which is
cheaper than unnesting and sorting them in SQL.

Writes (both under the series' transaction advisory lock, the one ingestion takes, so a batch
for a series and its compaction never interleave):
- `compact_series` moves a series' rows with an iteration into blocks, in the caller's
  transaction; a block that already holds points of the same 1,000 iterations is merged.
- `age_series` does the same for a running task's series, only for its whole blocks far behind the
  series' newest iteration (aging, migration 0011); the newest stay rows.
- `expand` turns the blocks holding given (series, iteration) keys back into rows: ingestion calls
  it for re-sent events, which then replace their stored twin as rows do (one event per key). An
  aged series' `aged_through` goes below the first such block, so the next pass ages it again.
Events without an iteration (at most one per series) always stay rows.

Pre-aggregates (migration 0010): a block also holds its series' buckets of widths 10 and 100
(scalars.py keeps them as scalar_buckets rows while the points are rows). `buckets()` is the one
source of the pre-aggregates for every read: the rows, plus a block's buckets that no row has.
Compaction of an ended task deletes the series' rows of those widths; `expand` turns a block's
buckets back into rows with its points.
"""
from __future__ import annotations

from dataclasses import dataclass
from itertools import repeat
from typing import Iterable, Iterator, Sequence

from sqlalchemy import text
from sqlalchemy.orm import Session

from events_service.db.queries import timerange
from events_service.sampling import INT64_MAX, INT64_MIN, SINGLE_VALUE_ITER

BLOCK = 1000
COLUMNS = "company_key, task_key, series_key, id, ts, iter, worker, received, value, extra"
_BUCKET = f"floor(iter::numeric / {BLOCK})::bigint"
# A block's points as rows, the columns in COLUMNS' order (cb: the scalar_blocks rows of {blocks}).
# ids and times are stored as a line plus residuals (fit()): arithmetic on the ordinal, no window.
# The arrays are unnested in the select list (in step; a NULL array gives NULLs): 2x faster than
# unnest() in FROM, which first copies every row into a tuplestore (20,000 points: 4.5 vs 9 ms).
_UNNESTED = """
    SELECT cu.company_key, cu.task_key, cu.series_key,
           cu.ids_base + (cu.ordinal - 1) * cu.ids_step + coalesce(cu.u_id, 0) AS id,
           cu.times_base + (cu.ordinal - 1) * cu.times_step + coalesce(cu.u_ts, 0) AS ts,
           coalesce(cu.u_iter, cu.first_iter + (cu.ordinal - 1)) AS iter,
           CASE WHEN cu.one_worker_only THEN cu.one_worker ELSE cu.u_worker END AS worker,
           coalesce(cu.u_received, cu.one_received) AS received, cu.u_value AS value, cu.u_extra AS extra
    FROM (SELECT cb.company_key, cb.task_key, cb.series_key, cb.ids_base, cb.ids_step, cb.times_base,
                 cb.times_step, cb.first_iter, cb.workers IS NULL AS one_worker_only, cb.one_worker,
                 cb.one_received, unnest(cb.ids) AS u_id, unnest(cb.times) AS u_ts,
                 unnest(cb.vals) AS u_value,
                 unnest(cb.iters) AS u_iter, unnest(cb.workers) AS u_worker,
                 unnest(cb.receiveds) AS u_received, unnest(cb.extras) AS u_extra,
                 generate_series(1, cb.n) AS ordinal
          FROM {blocks} cb) cu"""


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


def _blocks(where: str, span: timerange.Span, iters: tuple[str, str] | None = None) -> str:
    """SELECT of the scalar_blocks rows of the series matching `where` within `span` (rows()'s hints);
    `iters` bounds their buckets: a range of the primary key, not a scan of the series."""
    blocks = f"SELECT * FROM scalar_blocks WHERE {where} AND {block_span(span)}"
    if iters is not None:
        lo, hi = (f"floor(CAST({i} AS numeric) / {BLOCK})::bigint" for i in iters)
        blocks += (f" AND last_iter >= {iters[0]} AND first_iter <= {iters[1]}"
                   f" AND bucket BETWEEN {lo} AND {hi}")
    return blocks


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
    blocks = _blocks(where, span, iters)
    raw = f"SELECT {COLUMNS} FROM scalar_events WHERE {where} AND {span.sql('ts')}"
    if not compacted:
        return f"({raw})"
    unnested = _UNNESTED.format(blocks=f"({blocks})")
    if first is not None:
        raw = f"({raw} AND ({first.filter}) ORDER BY {first.order_by} LIMIT {first.limit})"
        unnested = _UNNESTED.format(blocks=f"({_first_blocks(blocks, span, first)})")
        unnested = f"SELECT * FROM ({unnested}) cbu WHERE {first.filter}"
    return f"({raw} UNION ALL {unnested})"


# A block as page_desc() decodes it, in this order: a page of one series reads ten or so blocks, and
# turning their arrays into rows in Python (zip over the arrays, in C) beats unnesting and sorting
# them in SQL and sending every point as a row (bench/queries.py --compact: a 10,000-point page's
# statement took 13 ms, the fetch of its 11 blocks 2 ms).
PAGE_BLOCK_COLUMNS = ("series_key, first_iter, n, times_base, times_step, times, vals, iters, one_worker, "
                      "workers, one_received, receiveds, extras")


def page_blocks(where: str, span: timerange.Span, iters: tuple[str, str] | None, first: First) -> str:
    """A parenthesised subquery of the blocks (PAGE_BLOCK_COLUMNS) of the series matching `where` that
    can hold the first `first.limit` points in `first.order` ("iter desc" only): the blocks rows()
    unnests with the same hints, for page_desc() to decode (the caller orders them)."""
    assert first.order == "iter desc", first.order
    chosen = _first_blocks(_blocks(where, span, iters), span, first)
    return f"(SELECT {PAGE_BLOCK_COLUMNS} FROM ({chosen}) cb)"


def page_desc(block: tuple) -> Iterator[tuple]:
    """A block (PAGE_BLOCK_COLUMNS) as the (ts, iter, worker, received, series_key, extra, value) of
    its points, newest iteration first: _UNNESTED's arithmetic, element for element, in Python."""
    (series_key, first_iter, n, times_base, times_step, times, vals, iters, one_worker, workers,
     one_received, receiveds, extras) = block
    last = n - 1
    if times is None:
        ts: Iterable[int] = (range(times_base + last * times_step, times_base - times_step, -times_step)
                             if times_step else repeat(times_base, n))
    else:
        ts = [times_base + o * times_step + (r or 0) for o, r in zip(range(last, -1, -1), reversed(times))]
    its: Iterable[int] = range(first_iter + last, first_iter - 1, -1)
    if iters is not None:
        its = [i if i is not None else d for i, d in zip(reversed(iters), its)]
    if receiveds is None:
        received: Iterable[int | None] = repeat(one_received, n)
    elif one_received is None:  # coalesce(r, NULL) is r
        received = reversed(receiveds)
    else:
        received = [r if r is not None else one_received for r in reversed(receiveds)]
    return zip(ts, its, repeat(one_worker, n) if workers is None else reversed(workers), received,
               repeat(series_key, n), repeat(None, n) if extras is None else reversed(extras), reversed(vals))


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
    blocks = _last_values_of_blocks(_first_blocks(_blocks(where, span), span, first), limit)
    return (f"(({raw}) UNION ALL "
            f"SELECT coalesce(cu.iter, cb.first_iter + (cu.ordinal - 1)) AS iter, cu.value "
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


# A series has blocks only if it was compacted or aged: the two writers of blocks set a marker in the
# transaction that writes them - compact_series sets compacted_received to last_received, which
# ingestion sets on every write (never NULL once the series has rows), and age_series sets
# aged_through. Read under the series' lock, the markers cannot change before the transaction ends.
NEVER_COMPACTED = "compacted_received IS NULL AND aged_through IS NULL"
# Only compact_series drops a series' pre-aggregate rows of the widths blocks hold (when its task has
# ended; migration 0010 did so for series compacted before): aging keeps every row, so the buckets of
# a series that was only aged are all rows, and its blocks' own need not be read (compact.buckets).
ROWS_MAY_BE_DROPPED = "compacted_received IS NOT NULL"


def _last_values_of_blocks(blocks: str, limit: str) -> str:
    """Of `blocks` (_first_blocks by "iter desc" of the points with a value, not positioned), the
    values and iterations of the points that can be among the last `limit` with a value: a block's
    points are in iteration order, and at most `limit` - surely_before of them are wanted, plus
    those without a value. Arrays sliced to positions lo..n; first_iter becomes that of the first
    point kept (a point's iteration is first_iter + its position - 1 when `iters` is NULL)."""
    lo = f"greatest(n_values - greatest({limit} - surely_before, 0) + 1, 1)"
    return (f"SELECT first_iter + (cbs.lo - 1) AS first_iter, vals[cbs.lo:n] AS vals, "
            "iters[cbs.lo:n] AS iters "
            f"FROM (SELECT *, {lo} AS lo FROM ({blocks}) cbs) cbs")


def rows_without_iteration(where: str, span: timerange.Span) -> str:
    """As rows(), for reads of the events without an iteration only: those are never compacted."""
    return f"(SELECT {COLUMNS} FROM scalar_events WHERE {where} AND {span.sql('ts')} AND iter IS NULL)"


def block_span(span: timerange.Span) -> str:
    """SQL on a block row's min_ts / max_ts (scalar_blocks, log_blocks): the blocks within `span`."""
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
            INSERT INTO scalar_events ({COLUMNS}) {_UNNESTED.format(blocks='gone')} RETURNING 1),
        kept AS (  -- the blocks' pre-aggregates become rows (a row already there holds every point)
            INSERT INTO scalar_buckets ({BUCKET_COLUMNS}, company_key)
            {' UNION ALL '.join(_block_buckets('gone', 'true', str(w)) for w in PRE_WIDTHS)}
            ON CONFLICT (series_key, width, bucket) DO NOTHING),
        lowered AS (  -- an aged series whose old block became rows is due for aging again (aging())
            UPDATE series s SET aged_through = g.bucket - 1
            FROM (SELECT series_key, min(bucket) AS bucket FROM gone GROUP BY series_key) g
            WHERE s.key = g.series_key AND s.aged_through >= g.bucket)
        SELECT count(*) FROM moved"""), {"s": [k[0] for k in keys], "i": [k[1] for k in keys]}).scalar_one()


_FIT_LIMIT = 2 ** 62  # values within +-2^62: no prediction or residual leaves int64


def fit(array: str) -> str:
    """SQL of one row (base, step, residuals) for a non-empty bigint array: element o (1-based) is
    base + (o - 1) * step + residual_o, the residuals NULL when all are 0 (design: migration 0010).
    base is the first element, step (last - first) / (n - 1); when an element lies beyond +-2^62,
    base and step are 0 and the residuals are the elements."""
    n = f"cardinality({array})"
    return f"""
        SELECT f.base, f.step,
               CASE WHEN bool_and(u.v = f.base + (u.o - 1) * f.step) THEN NULL
                    ELSE array_agg(u.v - (f.base + (u.o - 1) * f.step) ORDER BY u.o) END AS residuals
        FROM (SELECT CASE WHEN r.fits THEN {array}[1] ELSE 0 END AS base,
                     CASE WHEN r.fits AND {n} > 1 THEN ({array}[{n}] - {array}[1]) / ({n} - 1) ELSE 0 END
                     AS step
              FROM (SELECT min(v) > -{_FIT_LIMIT} AND max(v) < {_FIT_LIMIT} AS fits
                    FROM unnest({array}) v) r) f
        CROSS JOIN unnest({array}) WITH ORDINALITY AS u(v, o)
        GROUP BY f.base, f.step"""


# A block's own pre-aggregates (migration 0010): for widths 10 and 100, one element per bucket of the
# block (BLOCK / width of them, NULL where the bucket has no point with a value): value sums, minima and
# maxima; counts and the first / last iteration (as offsets from first_iter) NULL when every bucket
# with a point is full (width points: its iterations are then implied).
PRE_WIDTHS = (10, 100)
_PRE_ARRAYS = (("sums", "total"), ("mins", "low"), ("maxs", "high"), ("counts", "n"), ("firsts", "first"),
               ("lasts", "last"))
_PRE_COLUMNS = ", ".join(f"{name}_{w}" for w in PRE_WIDTHS for name, _ in _PRE_ARRAYS)


def _pre_arrays(grouped: str, width: int) -> str:
    partial = f"bool_or(g.n < {width})"
    columns = [f"CASE WHEN count(g.n) > 0 THEN array_agg(g.{src} ORDER BY s.pos) END AS {name}_{width}"
               for name, src in _PRE_ARRAYS[:3]]
    columns += [f"CASE WHEN {partial} THEN array_agg(g.{src}::smallint ORDER BY s.pos) END AS {name}_{width}"
                for name, src in _PRE_ARRAYS[3:]]
    return (f"SELECT {', '.join(columns)} FROM generate_series(0, {BLOCK // width - 1}) AS s(pos) "
            f"LEFT JOIN {grouped} g ON g.pos = s.pos")


def _pre_aggregates() -> str:
    """SQL (LATERAL over `a`, a block being made: a.vals, a.iters, a.first_iter, a.bucket) of its
    pre-aggregate arrays, _PRE_COLUMNS in order. Width 100 sums its width-10 sums in order, as
    scalars.maintain_buckets sums the children of a bucket row."""
    assert PRE_WIDTHS == (10, 100)
    return f"""
        WITH p AS (SELECT u.v, coalesce(a.iters[u.o], a.first_iter + (u.o - 1)) AS i
                   FROM unnest(a.vals) WITH ORDINALITY AS u(v, o)),
        g10 AS (SELECT floor(p.i::numeric / 10)::bigint - a.bucket * {BLOCK // 10} AS pos, count(*) AS n,
                       sum(p.v ORDER BY p.i) AS total, min(p.v) AS low, max(p.v) AS high,
                       min(p.i) - a.first_iter AS first, max(p.i) - a.first_iter AS last
                FROM p WHERE p.v IS NOT NULL AND p.i <> {SINGLE_VALUE_ITER} GROUP BY 1),
        g100 AS (SELECT pos / 10 AS pos, sum(n) AS n, sum(total ORDER BY pos) AS total, min(low) AS low,
                        max(high) AS high, min(first) AS first, max(last) AS last FROM g10 GROUP BY 1)
        SELECT * FROM ({_pre_arrays('g10', 10)}) a10, ({_pre_arrays('g100', 100)}) a100"""


BUCKET_COLUMNS = "series_key, width, bucket, value_count, value_sum, min_value, max_value, min_iter, max_iter"


def buckets(where: str, width: str, within: tuple[str, str] | None = None, gate: str = "true",
            compacted: bool = True) -> str:
    """A parenthesised subquery of the pre-aggregates (BUCKET_COLUMNS of scalar_buckets) of `width`
    (SQL) of the series matching `where` (on series_key only): the scalar_buckets rows and, for widths
    10 and 100, the buckets blocks hold; `within` = SQL (lo, hi): only buckets lo..hi. A row of the same
    bucket wins over a block's: ingestion recomputes a row from the points of both forms, so it holds
    every point, while a block's covers its own (a running task's rows stay beside its blocks).
    `gate`: SQL false when the series surely has no block (then no block is looked up); `compacted`
    False: the caller knows that none of the series was ever compacted (rows(): only rows are read)."""
    rows_within = "" if within is None else f" AND bucket BETWEEN {within[0]} AND {within[1]}"
    if not compacted:
        return f"(SELECT {BUCKET_COLUMNS} FROM scalar_buckets WHERE {where} AND width = {width}{rows_within})"
    per = f"({BLOCK} / {width})"
    # A block's bucket only where no row has it. Only a series compact_series ran on can have such
    # buckets (ROWS_MAY_BE_DROPPED: an aged one's blocks are not read); per block of one, its rows
    # (at most BLOCK / width, one index range scan) are kept as an array each of its buckets is looked
    # up in, and a block whose every bucket has a row is not unnested. (An index probe per bucket made
    # the default histogram of an aged task 2.7x slower than of its rows. No sort of the union either:
    # a reader of a series in rows alone reads as before.)
    blocks = f"""(SELECT * FROM (SELECT series_key, bucket, first_iter, company_key, {_PRE_COLUMNS}, ARRAY(
            SELECT r.bucket FROM scalar_buckets r WHERE r.series_key = cb.series_key AND r.width = {width}
                AND r.bucket BETWEEN cb.bucket * {per} AND cb.bucket * {per} + {per} - 1) AS shadowed
        FROM scalar_blocks cb WHERE {gate} AND {where}{_blocks_within(within, per)} AND EXISTS (
            SELECT 1 FROM series s WHERE s.key = cb.series_key AND s.{ROWS_MAY_BE_DROPPED}) OFFSET 0) cb
        WHERE cardinality(cb.shadowed) < {per})"""
    unshadowed = f"NOT (cb.bucket * {per} + cb.o - 1 = ANY(cb.shadowed))"
    return f"""(SELECT {BUCKET_COLUMNS} FROM scalar_buckets WHERE {where} AND width = {width}{rows_within}
        UNION ALL
        {_block_buckets(blocks, 'true', width, within, unshadowed, with_company=False,
                        kept=', cb.shadowed')})"""


def _blocks_within(within: tuple[str, str] | None, per: str) -> str:
    """SQL " AND ..." on cb.bucket: the blocks holding buckets within (lo, hi) of `per` to a block."""
    if within is None:
        return ""
    return (f" AND cb.bucket BETWEEN floor(({within[0]})::numeric / {per})::bigint "
            f"AND floor(({within[1]})::numeric / {per})::bigint")


def _block_buckets(blocks: str, where: str, width: str, within: tuple[str, str] | None = None,
                   condition: str = "true", with_company: bool = True, kept: str = "") -> str:
    """SELECT of the buckets of `width` held by the `blocks` (a table, CTE or subquery: cb) matching
    `where` and `condition` (on cb: series_key, bucket, first_iter, the `kept` columns of `blocks`
    (", a, b"), and its bucket's: pre_ and _PRE_ARRAYS' sources, and its position o): BUCKET_COLUMNS,
    then (`with_company`) the block's company_key.
    The arrays are unnested in the select list (one ProjectSet): 3x faster than unnest() in FROM,
    which first copies every row into a tuplestore."""
    per = f"({BLOCK} / {width})"
    k = f"(cb.bucket * {per} + cb.o - 1)"
    blocks_within, bucket_within = _blocks_within(within, per), ""
    if within is not None:
        bucket_within = f" AND {k} BETWEEN {within[0]} AND {within[1]}"
    arrays = ", ".join(f"unnest(CASE WHEN {width} = {PRE_WIDTHS[0]} THEN cb.{name}_{PRE_WIDTHS[0]} "
                       f"ELSE cb.{name}_{PRE_WIDTHS[1]} END) AS pre_{src}" for name, src in _PRE_ARRAYS)
    # a full bucket's first and last iterations are its bounds (it cannot be the one at an int64 limit)
    return f"""
        SELECT cb.series_key, CAST({width} AS smallint), {k}, CAST(coalesce(cb.pre_n, {width}) AS integer),
               cb.pre_total, cb.pre_low,
               cb.pre_high,
               CASE WHEN cb.pre_first IS NULL THEN {k} * {width} ELSE cb.first_iter + cb.pre_first END,
               CASE WHEN cb.pre_last IS NULL THEN {k} * {width} + {width} - 1
                    ELSE cb.first_iter + cb.pre_last END
               {", cb.company_key" if with_company else ""}
        FROM (SELECT cb.series_key, cb.bucket, cb.first_iter, cb.company_key{kept}, {arrays},
                     generate_series(1, {per}) AS o
              FROM {blocks} cb WHERE {where} AND {width} IN {PRE_WIDTHS}{blocks_within}) cb
        WHERE cb.pre_total IS NOT NULL{bucket_within} AND ({condition})"""


_AGGREGATE = f"""
    INSERT INTO scalar_blocks (series_key, bucket, company_key, task_key, first_iter, last_iter, min_ts,
                               max_ts, n, n_values, one_worker, one_received, ids_base, ids_step, ids,
                               times_base, times_step, times, vals, iters, workers, receiveds, extras,
                               {_PRE_COLUMNS})
    SELECT a.series_key, a.bucket, a.company_key, a.task_key, a.first_iter, a.last_iter, a.min_ts, a.max_ts,
           a.n, a.n_values, a.one_worker, a.one_received, fi.base, fi.step, fi.residuals,
           ft.base, ft.step, ft.residuals, a.vals, a.iters, a.workers, a.receiveds, a.extras, g.*
    FROM (
        SELECT series_key, {_BUCKET} AS bucket, min(company_key) AS company_key, min(task_key) AS task_key,
               min(iter) AS first_iter, max(iter) AS last_iter, min(ts) AS min_ts, max(ts) AS max_ts,
               count(*) AS n, count(value) AS n_values,
               CASE WHEN {{same_worker}} THEN min(worker) END AS one_worker,
               CASE WHEN min(received) = max(received) THEN min(received) END AS one_received,
               array_agg(id ORDER BY iter) AS ids, array_agg(ts ORDER BY iter) AS times,
               array_agg(value ORDER BY iter) AS vals,
               CASE WHEN max(iter) - min(iter) + 1 <> count(*) THEN array_agg(iter ORDER BY iter)
                    END AS iters,
               CASE WHEN NOT {{same_worker}} THEN array_agg(worker ORDER BY iter) END AS workers,
               CASE WHEN min(received) <> max(received) THEN array_agg(received ORDER BY iter)
                    END AS receiveds,
               CASE WHEN count(extra) > 0 THEN array_agg(extra ORDER BY iter) END AS extras
        FROM moved GROUP BY series_key, {_BUCKET}) a
    CROSS JOIN LATERAL ({fit('a.ids')}) fi
    CROSS JOIN LATERAL ({fit('a.times')}) ft
    CROSS JOIN LATERAL ({_pre_aggregates()}) g
    RETURNING n""".replace("{same_worker}", "(count(worker) = 0 OR (count(worker) = count(*) "
                           "AND min(worker) = max(worker)))")


def _take(session: Session, series_key: int, wait: bool) -> bool:
    """The series' lock; without `wait`, False at once when another transaction holds it."""
    if wait:
        lock_series(session, series_key)
        return True
    return session.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": series_key}).scalar_one()


def compact_series(session: Session, series_key: int, *, wait: bool = True) -> int | None:
    """Move the series' rows with an iteration into blocks, in the caller's transaction (which should
    hold nothing else: commit right after); the number of points moved. Without `wait`, None when
    the series is locked (being written or compacted): ingestion is never made to wait for it."""
    if not _take(session, series_key, wait):
        return None
    moved = _move(session, series_key)
    session.execute(text("UPDATE series SET compacted_received = last_received WHERE key = :k"),
                    {"k": series_key})
    _drop_block_buckets(session, series_key)
    return moved


def _drop_block_buckets(session: Session, series_key: int) -> None:
    """When the series' task has ended (every point with an iteration is now in a block), its rows of
    the widths blocks hold go: ~31 of a finished point's ~54 bytes (migration 0010). A running task
    keeps them (they win over the blocks' own, compact.buckets)."""
    sql = f"""
        DELETE FROM scalar_buckets b USING scalar_blocks cb, series s, tasks t
        WHERE b.series_key = :k AND b.width IN {PRE_WIDTHS} AND s.key = :k AND t.key = s.task_key
            AND t.status = ANY(:ended) AND cb.series_key = :k
            AND cb.bucket = floor(b.bucket::numeric / ({BLOCK} / b.width))::bigint"""
    session.execute(text(sql), {"k": series_key, "ended": list(ENDED)})


def _move(session: Session, series_key: int, through: int | None = None) -> int:
    """Move the series' rows with an iteration into blocks (`through`: only those of the buckets up
    to this one); the number of points moved. The caller holds the series' lock."""
    span = timerange.of_series(session, [series_key])
    if span.empty:
        return 0
    below = "" if through is None else f" AND iter <= {_last_iter(through)}"
    # Blocks of the iterations about to be compacted (a task resumed, or a re-sent point expanded
    # its block) become rows first, so that each (series, bucket) stays one block.
    buckets = session.execute(text(
        f"SELECT DISTINCT {_BUCKET} FROM scalar_events WHERE series_key = :k AND iter IS NOT NULL{below} "
        f"AND {span.sql('ts')}"), {"k": series_key}).scalars().all()
    if not buckets:
        return 0
    expand(session, [(series_key, max(b * BLOCK, INT64_MIN)) for b in buckets])
    deleting = timerange.deletes(session, "scalar_events", span,
                                 "t.series_key = :k AND t.iter IS NOT NULL" + below.replace("iter", "t.iter"),
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
    return written_since_compacted(session, "training_stats_scalar", "s.key", task_keys=task_keys,
                                   ended_only=ended_only, limit=limit)


def written_since_compacted(session: Session, event_type: str, column: str, *,
                            task_keys: Sequence[int] | None, ended_only: bool,
                            limit: int | None) -> list[int]:
    """`column` (s.key or s.task_key), distinct and in order, of the series of `event_type` written since
    they were last compacted (series.compacted_received, which compaction sets to last_received), of
    ended tasks (or of `task_keys`): what is left to compact, from `series` alone."""
    where = [f"s.event_type = '{event_type}'", "s.event_count > 0",
             "s.last_received IS DISTINCT FROM s.compacted_received"]
    if ended_only:
        where.append("t.status = ANY(:ended)")
    if task_keys is not None:
        where.append("s.task_key = ANY(:tks)")
    return list(session.execute(text(
        f"SELECT DISTINCT {column} FROM series s JOIN tasks t ON t.key = s.task_key "
        f"WHERE {' AND '.join(where)} ORDER BY {column}" + (" LIMIT :limit" if limit else "")),
        {"ended": list(ENDED), "tks": list(task_keys or []), "limit": limit}).scalars())


# Aging (design and measurements: migrations/versions/0011_aging.py): the old blocks of a series
# still being written. AGE is the default of the setting COMPACT_AGE_ITERATIONS.
AGE = 100
STEP = 10  # buckets moved per transaction at most: the series' lock is held for ~10,000 points' move


def _last_iter(bucket: int) -> int:
    """The bucket's last iteration, within int64 (the lowest bucket's first one may lie below it)."""
    return min(bucket * BLOCK + BLOCK - 1, INT64_MAX)


def aged_through(max_iter: int, age: int) -> int:
    """The last bucket whose iterations all lie at least `age` behind the series' newest, `max_iter`."""
    return (max_iter - age + 1) // BLOCK - 1


def aging(session: Session, age: int, *, task_keys: Sequence[int] | None = None,
          limit: int | None = None) -> list[int]:
    """Scalar series of running tasks (of those among `task_keys`, if given) with a bucket that became
    old since they were last aged (from `series` alone), by key."""
    where = ["s.event_type = 'training_stats_scalar'", "s.max_iter IS NOT NULL", "t.status <> ALL(:ended)",
             f"floor((s.max_iter::numeric - :age + 1) / {BLOCK})::bigint - 1 > coalesce(s.aged_through, -1)"]
    if task_keys is not None:
        where.append("s.task_key = ANY(:tks)")
    return list(session.execute(text(
        f"SELECT s.key FROM series s JOIN tasks t ON t.key = s.task_key WHERE {' AND '.join(where)} "
        "ORDER BY s.key" + (" LIMIT :limit" if limit else "")),
        {"ended": list(ENDED), "age": age, "tks": list(task_keys or []), "limit": limit}).scalars())


def age_series(session: Session, series_key: int, age: int, *, wait: bool = True,
               step: int = STEP) -> tuple[int, bool] | None:
    """Move the rows of the series' old buckets (every iteration at least `age` behind the series'
    newest) into blocks, at most `step` buckets of them, in the caller's transaction (commit right
    after); (points moved, whether every old bucket is a block now). Without `wait`, None when the
    series is locked (being written): a batch is never waited for, while one arriving during the
    move waits for it (a few tens of ms at most: `step`)."""
    if not _take(session, series_key, wait):
        return None
    max_iter = session.execute(text("SELECT max_iter FROM series WHERE key = :k"),
                               {"k": series_key}).scalar_one_or_none()
    if max_iter is None:
        return 0, True
    through = aged_through(max_iter, age)
    span = timerange.of_series(session, [series_key])
    lowest = None if _last_iter(through) < INT64_MIN else session.execute(text(
        f"SELECT min(iter) FROM scalar_events WHERE series_key = :k AND iter IS NOT NULL "
        f"AND iter <= {_last_iter(through)} AND {span.sql('ts')}"), {"k": series_key}).scalar_one()
    upto = through if lowest is None else min(through, lowest // BLOCK + step - 1)
    moved = 0 if lowest is None else _move(session, series_key, upto)
    # the last bucket aged so far: still due while below `through`; never NULL once blocks exist
    # (NEVER_COMPACTED), so it is set in the move's own transaction
    session.execute(text("UPDATE series SET aged_through = :b WHERE key = :k"), {"b": upto, "k": series_key})
    return moved, upto == through


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
