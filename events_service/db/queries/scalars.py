"""Scalar and vector analytics: histograms, latest values, listings, per-metric scroll - and the
pre-aggregates that make long series cheap to plot.

Pre-aggregation design (table `scalar_buckets`, migration 0003)
----------------------------------------------------------------
TimescaleDB's Apache build has no continuous aggregates, so ingestion keeps its own, in the same
transaction as the events it summarises:

* One row per (series, width, bucket) for widths 10, 100 and 1000 iterations, where
  bucket = floor(iter / width) (an index, not a start: no int64 overflow at the extremes).
  A row holds value_count, value_sum, min_value, max_value and min_iter / max_iter (the first
  and last iteration present). Only points a histogram may show are counted: a value, an
  iteration, and not the single-value iteration -2147483648.
* Every width-10 bucket a batch touched (new points, or stored twins it replaced) is recomputed
  from its raw points (at most 10, one index range scan through (series_key, iter) each, in a
  LATERAL join that cannot be planned as a scan of the table). Recomputing, not adding, keeps a
  bucket exact whatever the batch replaced, and sends one (series, bucket) pair per touched
  bucket instead of every point.
* Every width-100 and width-1000 bucket above a touched width-10 bucket is then recomputed
  from its (at most 10) children, and a bucket left without children is deleted. So each level
  always equals an aggregate of the level below, which equals an aggregate of the raw points.
* Compacted series (compact.py, migration 0010): a block holds the buckets of widths 10 and 100 of
  its points, and compaction of an ended task deletes the series' rows of those widths; every read
  of the buckets (histograms, the viewer, the recomputation from children below) goes through
  compact.buckets(), where a row wins over a block's bucket (a row is recomputed from the points of
  both forms, so it holds every point).
* Deletion: rows reference series(key) ON DELETE CASCADE; deleting a task's series (as
  delete_for_task does after deleting its events) removes its buckets in the same statement.
* Concurrency: ingestion holds a transaction advisory lock per series it writes, so two batches
  never maintain the buckets of one series at the same time.

Exactness: counts, minima, maxima, first/last iterations and bucket membership are exact. A mean
is sum / count, with the sum accumulated in a different order than a single SQL avg() over the
raw points (which has no defined order either); it is bit-identical whenever the partial sums are
exactly representable (tests use such values, including negatives and zeros) and otherwise
within a few ulps. tests/services/test_events_scalars.py compares against direct SQL over the
raw points, after re-sends that replace values, and after deleting all of a task's rows.

Reading: histograms by iteration read the coarsest level for per-series count / first / last
iteration, then build each interval-bucket from the stored buckets inside it plus the raw points
of stored buckets that straddle an edge (sampling.choose_width picks the width); when the interval
equals the width or is a multiple of it nothing straddles, and simpler queries merge whole stored
buckets (_stored_buckets, _merged_buckets); intervals below the finest width group the raw points
(_raw_buckets). Histograms by
time read the raw points (the pre-aggregates are by iteration). The primary key INCLUDEs the
payload (migration 0004), so every read of scalar_buckets is an index-only scan once vacuum has
set the visibility map: ingestion writes all series' buckets of a batch together, which leaves
one series' buckets on about as many heap pages as rows.
"""
from __future__ import annotations

from dataclasses import dataclass
from itertools import chain, count, dropwhile, groupby, islice
from operator import itemgetter
from typing import Any, Callable, Iterable, Iterator, Sequence

from psycopg.pq import TransactionStatus
from psycopg.rows import tuple_row
from sqlalchemy import text
from sqlalchemy.orm import Session

from events_service import sampling
from events_service.db.queries import compact, timerange
from events_service.db.queries.tasks import TASK_REF, Task, task_of
from events_service.sampling import INT64_MAX, INT64_MIN, SINGLE_VALUE_ITER, WIDTHS

SCALAR = "training_stats_scalar"
VECTOR = "training_stats_vector"
VECTOR_POINTS_LIMIT = 10000  # vector_metrics_iter_histogram: first 10000 events by iteration (as ClearML)


def _floor_div(expr: str, divisor: str) -> str:
    """SQL for floor(expr / divisor) on bigints, divisor > 0 (`/` truncates toward zero)."""
    return f"({expr} / {divisor} - CASE WHEN mod({expr}, {divisor}) < 0 THEN 1 ELSE 0 END)"


def _start(index: str, step: str) -> str:
    """SQL for index * step without leaving int64 (sampling.bucket_start)."""
    low = f"CAST('{INT64_MIN}' AS bigint)"
    return f"(CASE WHEN {index} < ({low} / {step}) THEN {low} ELSE {index} * {step} END)"


def _fetch_binary(session: Session, sql: str, params: dict[str, Any]) -> list[tuple]:
    """Rows in PostgreSQL's binary format, on the session's connection and transaction.

    The hot reads return large arrays or many rows: parsing binary instead of text, into plain
    tuples instead of SQLAlchemy Rows, cuts the client-side cost
    2-4x (measured with bench/queries.py). `sql` uses psycopg's %(name)s placeholders.
    """
    raw = session.connection().connection.driver_connection
    with raw.cursor(binary=True, row_factory=tuple_row) as cur:
        cur.execute(sql, params)
        return cur.fetchall()


# ---------------------------------------------------------------------------------------------
# Maintenance, called by ingest.store() inside the batch's transaction
# ---------------------------------------------------------------------------------------------

def _eligible(_series_key: int, iteration: int | None, value: float | None) -> bool:
    """A point histograms may show: it has an iteration (not the single-value one) and a value."""
    return iteration is not None and iteration != SINGLE_VALUE_ITER and value is not None


def maintain_buckets(session: Session, company_key: int,
                     inserted: Iterable[tuple[int, int | None, float | None]],
                     replaced: Iterable[Any], span: timerange.Span | None = None,
                     compacted: bool = True) -> None:
    """Bring scalar_buckets in step with a batch: `inserted` (series_key, iter, value) were just
    written, `replaced` rows (series_key, iter, value) were deleted as twins of new events;
    `span` covers every event of their series now (no bound when None; timerange.py);
    `compacted` False when none of their series was ever compacted (only rows are read).

    Every finest bucket the batch touched is recomputed from its raw points (at most `base`
    of them, one index range scan each), then every coarser bucket above it from its children.
    Recomputing instead of adding keeps the buckets exact whatever the batch replaced, and
    sends PostgreSQL one (series, bucket) pair per touched bucket instead of every point
    (dumping 1,000-element parameter arrays cost more than the whole recomputation).
    """
    base = WIDTHS[0]
    touched = {(r.series_key, r.iter // base) for r in replaced if _eligible(r.series_key, r.iter, r.value)}
    touched.update((s, i // base) for s, i, v in inserted if _eligible(s, i, v))
    if not touched:
        return
    _refresh_from_points(session, company_key, sorted(touched), span or timerange.Span(None, None), compacted)
    for width in WIDTHS[1:]:
        touched = {(s, k // 10) for s, k in touched}
        _refresh_from_children(session, company_key, width, sorted(touched), compacted)


_UPSERT_REPLACE = """
    ON CONFLICT (series_key, width, bucket) DO UPDATE SET
        value_count = EXCLUDED.value_count, value_sum = EXCLUDED.value_sum, min_value = EXCLUDED.min_value,
        max_value = EXCLUDED.max_value, min_iter = EXCLUDED.min_iter, max_iter = EXCLUDED.max_iter"""


def _refresh_from_points(session: Session, company_key: int, buckets: list[tuple[int, int]],
                         span: timerange.Span, compacted: bool = True) -> None:
    """Recompute finest-level buckets from the raw points; delete those left empty."""
    base = WIDTHS[0]
    points = compact.rows('series_key = p.series_key', span, ('p.lo', 'p.hi'), compacted=compacted)
    session.execute(text(f"""
        WITH p AS (SELECT * FROM unnest(CAST(:s AS bigint[]), CAST(:k AS bigint[]), CAST(:lo AS bigint[]),
                                        CAST(:hi AS bigint[])) AS p(series_key, bucket, lo, hi)),
        agg AS (  -- LATERAL: one index range scan per bucket, never a join planned as a full scan
            SELECT p.series_key, p.bucket, e.*
            FROM p CROSS JOIN LATERAL (
                SELECT count(value) AS n, sum(value) AS total, min(value) AS low, max(value) AS high,
                       min(iter) AS first, max(iter) AS last
                FROM {points} e
                WHERE iter BETWEEN p.lo AND p.hi
                    AND iter <> {SINGLE_VALUE_ITER} AND value IS NOT NULL) e),
        gone AS (DELETE FROM scalar_buckets b USING agg WHERE agg.n = 0 AND b.series_key = agg.series_key
                 AND b.width = {base} AND b.bucket = agg.bucket)
        INSERT INTO scalar_buckets (company_key, series_key, width, bucket, value_count, value_sum, min_value,
                                    max_value, min_iter, max_iter)
        SELECT :ck, series_key, {base}, bucket, n, total, low, high, first, last FROM agg WHERE n > 0
        {_UPSERT_REPLACE}"""), {
        "ck": company_key, "s": [b[0] for b in buckets], "k": [b[1] for b in buckets],
        "lo": [max(INT64_MIN, b[1] * base) for b in buckets],
        "hi": [min(INT64_MAX, b[1] * base + base - 1) for b in buckets]})


def _refresh_from_children(session: Session, company_key: int, width: int,
                           buckets: list[tuple[int, int]], compacted: bool = True) -> None:
    """Recompute buckets of `width` from their width/10 children; delete those left empty.
    `compacted` False: none of the series was ever compacted, so the children are rows only (the
    probe for blocks and the union made a batch's refresh 0.9 ms slower, 2.5% of add_batch)."""
    within = ("p.bucket * 10", "p.bucket * 10 + 9")
    if compacted:
        # the series with blocks (children there too): a probe per series, not per parent
        series = """s AS MATERIALIZED (
            SELECT d.series_key, EXISTS (SELECT 1 FROM scalar_blocks b WHERE b.series_key = d.series_key)
                   AS blocks
            FROM (SELECT DISTINCT series_key FROM p) d),"""
        join = " JOIN s USING (series_key)"
        children = compact.buckets("series_key = p.series_key", str(width // 10), within, gate="s.blocks")
    else:
        series = join = ""
        children = compact.buckets("series_key = p.series_key", str(width // 10), within, compacted=False)
    session.execute(text(f"""
        WITH p AS (SELECT * FROM unnest(CAST(:s AS bigint[]), CAST(:k AS bigint[])) AS p(series_key, bucket)),
        {series}
        agg AS (  -- LATERAL: one index probe per parent (a join here was planned as a full scan)
            SELECT p.series_key, p.bucket, c.*
            FROM p{join} CROSS JOIN LATERAL (
                SELECT sum(value_count) AS n, sum(value_sum) AS total, min(min_value) AS low,
                       max(max_value) AS high, min(min_iter) AS first, max(max_iter) AS last
                FROM {children} c) c),
        gone AS (DELETE FROM scalar_buckets b USING agg WHERE agg.n IS NULL AND b.series_key = agg.series_key
                 AND b.width = {width} AND b.bucket = agg.bucket)
        INSERT INTO scalar_buckets (company_key, series_key, width, bucket, value_count, value_sum, min_value,
                                    max_value, min_iter, max_iter)
        SELECT :ck, series_key, {width}, bucket, n, total, low, high, first, last FROM agg WHERE n IS NOT NULL
        {_UPSERT_REPLACE}"""), {
        "ck": company_key, "s": [b[0] for b in buckets], "k": [b[1] for b in buckets]})


# ---------------------------------------------------------------------------------------------
# Series listings
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Series:
    key: int
    task_key: int
    metric: str
    variant: str
    min_ts: int | None = None  # the series' time range (timerange.py), None when not read
    max_ts: int | None = None


def span(series: Sequence[Series]) -> timerange.Span:
    """The time range of these series' events, for bounding a read of them (timerange.py)."""
    return timerange.merge((s.min_ts, s.max_ts, True) for s in series)


def series_of(session: Session, task_keys: Sequence[int], event_type: str, metric: str | None = None,
              variant: str | None = None) -> list[Series]:
    """The tasks' series of one event type that hold events, sorted by (metric, variant)."""
    where = ["task_key = ANY(:tks)", "event_type = :type", "event_count > 0"]
    params: dict[str, Any] = {"tks": list(task_keys), "type": event_type}
    if metric is not None:
        where.append("metric = :metric")
        params["metric"] = metric
    if variant is not None:
        where.append("variant = :variant")
        params["variant"] = variant
    columns = "key, task_key, metric, variant, min_ts, max_ts"
    rows = session.execute(text(f"SELECT {columns} FROM series WHERE {' AND '.join(where)}"), params)
    return sorted((Series(*r) for r in rows), key=lambda s: (s.metric, s.variant, s.task_key))


def task_series(session: Session, company_key: int, task_id: str, event_type: str, metric: str | None = None,
                variant: str | None = None) -> tuple[Task, list[Series], int]:
    """The caller's task (400/101 when unknown, as tasks.require), its series as series_of lists them
    and their number of events, in one round trip: a page of get_scalar_metric_data paid for three."""
    where, params = "", {"ck": company_key, "id": task_id, "type": event_type}
    if metric is not None:
        where, params["metric"] = where + " AND s.metric = :metric", metric
    if variant is not None:
        where, params["variant"] = where + " AND s.variant = :variant", variant
    rows = session.execute(text(
        f"SELECT {TASK_REF}, s.key, s.metric, s.variant, s.event_count, s.min_ts, s.max_ts "
        "FROM tasks t LEFT JOIN series s "
        f"ON s.task_key = t.key AND s.event_type = :type AND s.event_count > 0{where} "
        "WHERE t.company_key = :ck AND t.id = :id"), params).all()
    task = task_of(rows, task_id)
    found = [r for r in rows if r[5] is not None]
    series = sorted((Series(r[5], task.key, r[6], r[7], r[9], r[10]) for r in found),
                    key=lambda s: (s.metric, s.variant))
    return task, series, sum(r[8] for r in found)


def metric_names(session: Session, task_keys: Sequence[int], event_type: str | None) -> dict[int, list[str]]:
    """task key -> its distinct metric names (of one event type, or of all), sorted."""
    params: dict[str, Any] = {"tks": list(task_keys)}
    type_filter = ""
    if event_type is not None:
        type_filter, params["type"] = " AND event_type = :type", event_type
    rows = session.execute(text(
        "SELECT DISTINCT task_key, metric FROM series WHERE task_key = ANY(:tks) AND event_count > 0"
        f"{type_filter}"), params)
    names: dict[int, list[str]] = {k: [] for k in task_keys}
    for task_key, metric in rows:
        names[task_key].append(metric)
    return {k: sorted(v) for k, v in names.items()}


# ---------------------------------------------------------------------------------------------
# Histograms
# ---------------------------------------------------------------------------------------------

@dataclass
class Curve:
    """One series' histogram: x and mean y per bucket; the bucket's min and max when bucketed."""
    x: list[Any]
    y: list[float]
    y_min: list[float] | None = None
    y_max: list[float] | None = None


def _iter_stats(session: Session, keys: list[int]) -> dict[int, tuple[int, int, int]]:
    """series key -> (points, first iteration, last iteration), from the coarsest pre-aggregates."""
    rows = session.execute(text(
        "SELECT series_key, sum(value_count)::bigint, min(min_iter), max(max_iter) FROM scalar_buckets "
        f"WHERE series_key = ANY(:keys) AND width = {sampling.STATS_WIDTH} GROUP BY series_key"),
        {"keys": keys})
    return {r[0]: (r[1], r[2], r[3]) for r in rows}


def _time_stats(session: Session, task_keys: list[int], keys: list[int], span: timerange.Span
                ) -> dict[int, tuple[int, int, int]]:
    """series key -> (points, first ts, last ts), from the raw points."""
    rows = session.execute(text(
        "SELECT series_key, count(*), min(ts), max(ts) "
        f"FROM {compact.rows('task_key = ANY(:tks) AND series_key = ANY(:keys)', span)} e "
        "WHERE value IS NOT NULL "
        f"AND (iter IS NULL OR iter <> {SINGLE_VALUE_ITER}) GROUP BY series_key"),
        {"tks": task_keys, "keys": keys})
    return {r[0]: (r[1], r[2], r[3]) for r in rows}


def histograms(session: Session, series: Sequence[Series], samples: int, key: str) -> dict[int, Curve]:
    """series key -> Curve for every series that has points; x is an iteration or epoch ms."""
    keys = [s.key for s in series]
    if not keys:
        return {}
    by_time = key != "iter"
    bound = span(series)  # every read of scalar events below is bounded by it
    stats = _time_stats(session, sorted({s.task_key for s in series}), keys, bound) if by_time \
        else _iter_stats(session, keys)
    plans = {k: sampling.choose_interval(n, lo, hi, samples) for k, (n, lo, hi) in stats.items()}
    curves: dict[int, Curve] = {}
    if by_time:
        curves.update(_time_buckets(session, plans, bound))
        return curves
    every_point = [k for k, step in plans.items() if step == 1]
    if every_point:
        curves.update(_iter_points(session, every_point, bound))
    bucketed = {k: step for k, step in plans.items() if step > 1}
    widths = {k: sampling.choose_width(stats[k][0], stats[k][1], stats[k][2], step)
              for k, step in bucketed.items()}
    stored = sorted(k for k, step in bucketed.items() if widths[k] == step)
    if stored:
        curves.update(_stored_buckets(session, stored, [bucketed[k] for k in stored]))
    merged = sorted(k for k, step in bucketed.items() if widths[k] not in (1, step) and step % widths[k] == 0)
    merged_set = set(merged)
    if merged:
        curves.update(_merged_buckets(session, merged, [widths[k] for k in merged],
                                      [bucketed[k] for k in merged]))
    raw = sorted(k for k in bucketed if widths[k] == 1)
    if raw:
        curves.update(_raw_buckets(session, raw, [bucketed[k] for k in raw], bound))
    assembled = {k: step for k, step in bucketed.items()
                 if widths[k] not in (1, step) and k not in merged_set}
    if assembled:
        curves.update(_iter_buckets(session, assembled, widths, bound))
    return curves


def _stored_buckets(session: Session, keys: list[int], widths: list[int]) -> dict[int, Curve]:
    """Intervals equal to a pre-aggregate width: the stored buckets are the answer, row for row.

    Per series, one index-only scan of the primary key (it INCLUDEs the payload, migration 0004)
    already yields the buckets in order, and the four arrays are aggregated from that ordered
    subquery: PostgreSQL 15 sorts again for every `array_agg(... ORDER BY ...)` (about half of
    this query's time at samples=1000). The four aggregates read one and the same row stream, so
    they stay aligned whatever the order; x ascending is checked by the tests.
    """
    rows = _fetch_binary(session, f"""
        SELECT p.series_key, a.x, a.y, a.y_min, a.y_max
        FROM unnest(CAST(%(keys)s AS bigint[]), CAST(%(widths)s AS bigint[])) AS p(series_key, width)
        CROSS JOIN LATERAL (
            SELECT array_agg({_start('b.bucket', 'p.width')}) AS x,
                   array_agg(b.value_sum / b.value_count) AS y,
                   array_agg(b.min_value) AS y_min, array_agg(b.max_value) AS y_max
            FROM (SELECT bucket, value_sum, value_count, min_value, max_value
                  FROM {compact.buckets('series_key = p.series_key', 'p.width')} b ORDER BY b.bucket) b) a
        WHERE a.x IS NOT NULL""", {"keys": keys, "widths": widths})
    return {r[0]: Curve(x=r[1], y=r[2], y_min=r[3], y_max=r[4]) for r in rows}


def _merged_buckets(session: Session, keys: list[int], widths: list[int],
                    steps: list[int]) -> dict[int, Curve]:
    """Intervals that are a multiple of the pre-aggregate width: every stored bucket lies inside one
    interval (both are aligned to 0), so each interval-bucket merges whole stored buckets and no raw
    point is read. The general query (_iter_buckets) materialises every stored row and sorts four
    times; here each series is one index-only scan, grouped by interval and ordered once (at
    samples=1000 over 10 x 20,000 iterations: 20,000 buckets, about 3x faster)."""
    rows = _fetch_binary(session, f"""
        SELECT p.series_key, a.x, a.y, a.y_min, a.y_max
        FROM unnest(CAST(%(keys)s AS bigint[]), CAST(%(widths)s AS bigint[]), CAST(%(steps)s AS bigint[]))
             AS p(series_key, width, step)
        CROSS JOIN LATERAL (
            SELECT array_agg({_start('g.k', 'p.step')}) AS x, array_agg(g.mean) AS y,
                   array_agg(g.low) AS y_min, array_agg(g.high) AS y_max
            FROM (SELECT {_floor_div('b.bucket', '(p.step / p.width)')} AS k,
                         sum(b.value_sum) / sum(b.value_count) AS mean,
                         min(b.min_value) AS low, max(b.max_value) AS high
                  FROM {compact.buckets('series_key = p.series_key', 'p.width')} b
                  GROUP BY 1 ORDER BY 1) g) a
        WHERE a.x IS NOT NULL""", {"keys": keys, "widths": widths, "steps": steps})
    return {r[0]: Curve(x=r[1], y=r[2], y_min=r[3], y_max=r[4]) for r in rows}


def _raw_buckets(session: Session, keys: list[int], steps: list[int], bound: timerange.Span
                 ) -> dict[int, Curve]:
    """Intervals too fine for any pre-aggregate (sampling.choose_width said 1): each series' raw
    points grouped by interval in one lateral query, ordered once, instead of going through the
    general query's union, regrouping and four sorts (about 2x faster at 10 x 20,000 points)."""
    rows = _fetch_binary(session, f"""
        SELECT p.series_key, a.x, a.y, a.y_min, a.y_max
        FROM unnest(CAST(%(keys)s AS bigint[]), CAST(%(steps)s AS bigint[])) AS p(series_key, step)
        CROSS JOIN LATERAL (
            SELECT array_agg({_start('g.k', 'p.step')}) AS x, array_agg(g.mean) AS y,
                   array_agg(g.low) AS y_min, array_agg(g.high) AS y_max
            FROM (SELECT {_floor_div('e.iter', 'p.step')} AS k, sum(e.value) / count(*) AS mean,
                         min(e.value) AS low, max(e.value) AS high
                  FROM {compact.rows('series_key = p.series_key', bound)} e WHERE e.iter IS NOT NULL
                  AND e.iter <> {SINGLE_VALUE_ITER} AND e.value IS NOT NULL
                  GROUP BY 1 ORDER BY 1) g) a
        WHERE a.x IS NOT NULL""", {"keys": keys, "steps": steps})
    return {r[0]: Curve(x=r[1], y=r[2], y_min=r[3], y_max=r[4]) for r in rows}


def _iter_points(session: Session, keys: list[int], bound: timerange.Span) -> dict[int, Curve]:
    """Every point of the series, by iteration (a series has at most one point per iteration)."""
    rows = _fetch_binary(
        session,
        "SELECT series_key, array_agg(iter ORDER BY iter), array_agg(value ORDER BY iter) "
        f"FROM {compact.rows('series_key = ANY(%(keys)s)', bound)} e "
        f"WHERE iter IS NOT NULL AND iter <> {SINGLE_VALUE_ITER} "
        "AND value IS NOT NULL GROUP BY series_key", {"keys": keys})
    return {r[0]: Curve(x=r[1], y=r[2]) for r in rows}


def _iter_buckets(session: Session, steps: dict[int, int], widths: dict[int, int], bound: timerange.Span
                  ) -> dict[int, Curve]:
    """Interval-buckets by iteration, built from pre-aggregates (raw points where they straddle)."""
    keys = sorted(steps)
    straddling = compact.rows('series_key = s.series_key', bound, ('s.min_iter', 's.max_iter'))
    k_lo, k_hi = _floor_div("b.min_iter", "p.step"), _floor_div("b.max_iter", "p.step")
    sql = f"""
        WITH plan AS (
            SELECT * FROM unnest(CAST(%(keys)s AS bigint[]), CAST(%(widths)s AS int[]),
                                 CAST(%(steps)s AS bigint[])) AS p(series_key, width, step)),
        stored AS (
            SELECT p.series_key, p.step, b.value_count, b.value_sum, b.min_value, b.max_value, b.min_iter,
                   b.max_iter, {k_lo} AS k, {k_hi} AS k_last
            FROM plan p CROSS JOIN LATERAL (
                SELECT * FROM {compact.buckets('series_key = p.series_key', 'p.width')} b OFFSET 0) b
            WHERE p.width > 1),
        parts AS (
            SELECT series_key, step, k, value_count AS n, value_sum AS total, min_value AS low,
                   max_value AS high
            FROM stored WHERE k = k_last
            UNION ALL
            SELECT s.series_key, s.step, {_floor_div('e.iter', 's.step')}, 1, e.value, e.value, e.value
            FROM stored s CROSS JOIN LATERAL (
                SELECT iter, value FROM {straddling} e
                WHERE e.iter BETWEEN s.min_iter AND s.max_iter OFFSET 0) e
            WHERE s.k <> s.k_last AND e.value IS NOT NULL AND e.iter <> {SINGLE_VALUE_ITER}
            UNION ALL
            SELECT p.series_key, p.step, {_floor_div('e.iter', 'p.step')}, 1, e.value, e.value, e.value
            FROM plan p CROSS JOIN LATERAL {compact.rows('series_key = p.series_key', bound)} e
            WHERE p.width = 1 AND e.iter IS NOT NULL AND e.iter <> {SINGLE_VALUE_ITER}
                AND e.value IS NOT NULL),
        buckets AS (
            SELECT series_key, step, k, sum(total) / sum(n) AS mean, min(low) AS low, max(high) AS high
            FROM parts GROUP BY series_key, step, k)
        SELECT series_key, array_agg({_start('k', 'step')} ORDER BY k), array_agg(mean ORDER BY k),
               array_agg(low ORDER BY k), array_agg(high ORDER BY k)
        FROM buckets GROUP BY series_key"""
    rows = _fetch_binary(session, sql, {"keys": keys, "widths": [widths[k] for k in keys],
                                        "steps": [steps[k] for k in keys]})
    return {r[0]: Curve(x=r[1], y=r[2], y_min=r[3], y_max=r[4]) for r in rows}


def _time_buckets(session: Session, steps: dict[int, int], bound: timerange.Span) -> dict[int, Curve]:
    """Buckets by event time (epoch ms) from the raw points; interval 1 averages equal timestamps."""
    keys = sorted(steps)
    sql = f"""
        WITH plan AS (SELECT * FROM unnest(CAST(%(keys)s AS bigint[]), CAST(%(steps)s AS bigint[]))
                      AS p(series_key, step)),
        buckets AS (
            SELECT p.series_key, p.step, {_floor_div('e.ts', 'p.step')} AS k, avg(e.value) AS mean,
                   min(e.value) AS low, max(e.value) AS high
            FROM plan p CROSS JOIN LATERAL {compact.rows('series_key = p.series_key', bound)} e
            WHERE e.value IS NOT NULL AND (e.iter IS NULL OR e.iter <> {SINGLE_VALUE_ITER})
            GROUP BY p.series_key, p.step, k)
        SELECT series_key, max(step), array_agg({_start('k', 'step')} ORDER BY k), array_agg(mean ORDER BY k),
               array_agg(low ORDER BY k), array_agg(high ORDER BY k)
        FROM buckets GROUP BY series_key"""
    rows = _fetch_binary(session, sql, {"keys": keys, "steps": [steps[k] for k in keys]})
    return {r[0]: Curve(x=r[2], y=r[3], y_min=r[4], y_max=r[5]) if r[1] > 1 else Curve(x=r[2], y=r[3])
            for r in rows}


# ---------------------------------------------------------------------------------------------
# Latest values, per-metric scroll, vectors
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Latest:
    task: Task
    last_iter: int                               # highest iteration over all the task's events, 0 if none
    last_received: int                           # newest ingestion time of its scalars (epoch ms), 0 if none
    values: list[tuple[str, str, float, float]]  # (metric, variant, last value, mean of the last 100)


def latest_values(session: Session, company_key: int, task_id: str) -> Latest:
    """The caller's task (400/101 when unknown) with its latest scalar values, sorted by name, in one
    round trip (a call this small paid a third of its time for the two more it took).

    Per series: two index scans on (series_key, iter) - the highest 100 iterations, and the
    (at most one, by de-duplication) event without iteration, which sorts after them - never a
    scan of the task's points. The summary reads the series rows only. The scans are bounded by
    the task's scalar time range, looked up first (timerange.py: a bound from the joined series
    rows would exclude chunks only at run time, after planning all of them).
    """
    bound = timerange.of_task_id(session, company_key, task_id, SCALAR)
    newest = compact.newest_values("series_key = s.key", bound, "100")
    rows = session.execute(text(f"""
        SELECT {TASK_REF}, summary.max_iter, summary.last_received, latest.metric, latest.variant,
               latest.last, latest.mean
        FROM tasks t
        CROSS JOIN LATERAL (
            SELECT max(max_iter) AS max_iter, max(last_received) FILTER (WHERE event_type = '{SCALAR}')
                AS last_received
            FROM series WHERE task_key = t.key AND event_count > 0) summary
        LEFT JOIN LATERAL (
            SELECT s.metric, s.variant, l.vals[1] AS last, l.mean
            FROM series s CROSS JOIN LATERAL (
                SELECT array_agg(value ORDER BY iter DESC NULLS LAST) AS vals, avg(value) AS mean FROM (
                    SELECT iter, value FROM (
                        (SELECT iter, value FROM {newest} e
                         WHERE e.iter IS NOT NULL AND e.value IS NOT NULL ORDER BY e.iter DESC LIMIT 100)
                        UNION ALL
                        (SELECT iter, value
                         FROM {compact.rows_without_iteration('series_key = s.key', bound)} e
                         WHERE e.iter IS NULL AND e.value IS NOT NULL LIMIT 100)) u
                    ORDER BY iter DESC NULLS LAST LIMIT 100) last_100) l
            WHERE s.task_key = t.key AND s.event_type = '{SCALAR}' AND s.event_count > 0
              AND l.mean IS NOT NULL) latest ON true
        WHERE t.company_key = :ck AND t.id = :id"""), {"ck": company_key, "id": task_id}).all()
    task = task_of(rows, task_id)
    values = sorted((r[7], r[8], r[9], r[10]) for r in rows if r[7] is not None)
    return Latest(task, rows[0][5] or 0, rows[0][6] or 0, values)


# A page's rows: the value goes as a double and scalar_json writes its text (orjson), the same for a
# point whether it is a row or in a block (compact.page_desc).
_PAGE_COLUMNS = "ts, iter, worker, received, series_key, extra, value"


def _stream_binary(session: Session, sql: str, params: dict[str, Any], size: int = 1000) -> Iterator[tuple]:
    """Rows as _fetch_binary gives them, handed over `size` at a time while PostgreSQL is still
    producing the rest (libpq's chunked rows mode, as db/queries/logs._fetch): the caller's work on
    the first rows overlaps the backend's on the last. Exhaust (or close) it before the session's
    next statement."""
    raw = session.connection().connection.driver_connection
    with raw.cursor(binary=True, row_factory=tuple_row) as cur:
        yield from cur.stream(sql, params, size=size)


def page_by_iter(session: Session, series_keys: Sequence[int], after: tuple[int | None, int] | None,
                 limit: int, span: timerange.Span | None = None) -> Iterable[tuple]:
    """The next `limit` scalar events of the series by (iter DESC NULLS LAST, series_key DESC), as
    _PAGE_COLUMNS rows: (ts, iter, worker, received, series_key, extra, value): a list when they are
    in memory (decoded blocks), else an iterator that streams them from the database (read it to the
    end before the session's next statement).

    (series, iter) is unique - de-duplication keeps one event per iteration, and one without -
    so (iter, series_key) is a total order. Every read is bounded by `span` (the series' time
    range; looked up when not given). The rows pass through iterators written in C only (no
    Python frame per row: a tenth of a 10,000-event page's time).

    The series' forms, their blocks and their rows are read in one snapshot (a REPEATABLE READ
    transaction of its own on an autocommit connection, as the API's reads are; else the caller's):
    a compaction committing between two reads would hide its points from both, or show them twice.
    """
    keys = sorted(series_keys, reverse=True)
    raw = session.connection().connection.driver_connection
    own = raw.info.transaction_status == TransactionStatus.IDLE
    if own:
        raw.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
    try:
        span, compacted = _series_forms(session, keys) if span is None else (span, True)
        rows: Iterable[tuple] = []
        if keys and (after is None or after[0] is not None):
            rows = _page_with_iteration(session, keys, after, limit, span, compacted)
    except BaseException:
        if own:
            raw.execute("ROLLBACK")
        raise
    if isinstance(rows, list):
        if own:
            raw.execute("COMMIT")
        return rows + list(_page_without_iteration(session, keys, after, span, lambda: limit - len(rows)))
    counted = count()
    with_iteration = map(itemgetter(0), zip(rows, counted))  # counts the rows as they pass

    def left() -> int:  # once the rows with an iteration are read: their snapshot ends
        if own:
            raw.execute("COMMIT")  # (reads alone; a failed one is rolled back by the pool)
        return limit - next(counted)
    return chain(with_iteration, _page_without_iteration(session, keys, after, span, left))


def _series_forms(session: Session, keys: Sequence[int]) -> tuple[timerange.Span, bool]:
    """The series' time range (timerange.of_series) and whether any of them may hold blocks."""
    rows = session.execute(text(
        f"SELECT {timerange.RANGE}, NOT ({compact.NEVER_COMPACTED}) FROM series "
        "WHERE key = ANY(:keys)"), {"keys": list(keys)}).all()
    return timerange.merge(r[:3] for r in rows), any(r[3] for r in rows)


def _page_without_iteration(session: Session, keys: list[int], after: tuple[int | None, int] | None,
                            span: timerange.Span, left: Callable[[], int]) -> Iterator[tuple]:
    """page_by_iter's events without an iteration, by series: `left()` of them, asked once those
    with an iteration are read."""
    below = keys if after is None or after[0] is not None else [k for k in keys if k < after[1]]
    wanted = left()
    if wanted > 0 and below:
        yield from _stream_binary(
            session, f"SELECT {_PAGE_COLUMNS} "
            f"FROM {compact.rows_without_iteration('series_key = ANY(%(keys)s)', span)} e "
            "ORDER BY series_key DESC LIMIT %(limit)s", {"keys": below, "limit": wanted})


def _page_with_iteration(session: Session, keys: list[int], after: tuple[int | None, int] | None,
                         limit: int, span: timerange.Span, compacted: bool) -> Iterable[tuple]:
    """page_by_iter's events with an iteration, `keys` descending. Each series' rows are read through
    its (series_key, iter) index from the keyset position down, at most `limit`, and merged in SQL;
    the blocks that can hold its next points are fetched whole and decoded here (compact.page_desc);
    then the two are merged, in a list. Series without blocks (none when not `compacted`): their
    rows, streamed."""
    params: dict[str, Any] = {"limit": limit}
    rows, blocks, tops = [], [], {}
    for n, key in enumerate(keys):
        bound, iters = "", None
        if after is not None:
            bound = f" AND iter {'<=' if key < after[1] else '<'} %(after_iter)s"
            params["after_iter"], iters = after[0], (str(INT64_MIN), "%(after_iter)s")
            tops[key] = after[0] if key < after[1] else after[0] - 1
        params[f"k{n}"] = key
        where = f"series_key = %(k{n})s"
        rows.append(f"(SELECT {_PAGE_COLUMNS} FROM {compact.rows(where, span, compacted=False)} e "
                    f"WHERE iter IS NOT NULL{bound} ORDER BY iter DESC LIMIT %(limit)s)")
        first = compact.First("iter desc", "%(limit)s", f"iter IS NOT NULL{bound}",
                              positioned=after is not None)
        blocks.append(compact.page_blocks(where, span, iters, first))
    # One series: its index order is the page order (naming series_key too would add a sort).
    order = "iter DESC" if len(keys) == 1 else "iter DESC, series_key DESC"
    rows_sql = f"SELECT * FROM ({' UNION ALL '.join(rows)}) u ORDER BY {order} LIMIT %(limit)s"
    fetched = compacted and _fetch_binary(session, f"SELECT * FROM ({' UNION ALL '.join(blocks)}) b "
                                          "ORDER BY series_key DESC, first_iter DESC", params)
    if not fetched:  # no blocks: the rows alone, streamed
        return _stream_binary(session, rows_sql, params)
    stored = _fetch_binary(session, rows_sql, params)
    streams: list[Iterable[tuple]] = [stored] if stored else []
    for key, series_blocks in groupby(fetched, key=itemgetter(0)):
        points: Iterable[tuple] = chain.from_iterable(map(compact.page_desc, list(series_blocks)))
        if key in tops:  # the first block may hold points at or above the position
            points = dropwhile(lambda point, top=tops[key]: point[1] > top, points)
        streams.append(islice(points, limit))
    if len(streams) == 1:
        return list(islice(streams[0], limit))
    # each stream is in page order: the sort merges runs
    return sorted(chain.from_iterable(streams), key=itemgetter(1, 4), reverse=True)[:limit]


def vector_points(session: Session, series_key: int) -> tuple[list[int], list[list[float]]]:
    """(iterations, vectors) of a vector series, ascending by iteration, the first 10000."""
    bound = timerange.of_series(session, [series_key]).sql()
    rows = session.execute(text(
        f"SELECT iter, value FROM vector_events WHERE series_key = :k AND {bound} AND iter IS NOT NULL "
        "ORDER BY iter LIMIT :limit"), {"k": series_key, "limit": VECTOR_POINTS_LIMIT}).all()
    return [r[0] for r in rows], [r[1] if r[1] is not None else [] for r in rows]
