"""Reads only the pages for people need (events_service/viewer): the task list as keyset pages,
scalar histograms of an x range (the zoom of a chart), the console's search. Every other read of
the pages goes through the API's own services and queries.

Zoom by iteration (`range_histograms`, key "iter")
    A range that holds at most `samples` points of a series is answered point by point: the
    check reads at most samples + 1 index entries of (series_key, iter). Otherwise the interval
    is ceil(range / samples), raised to a multiple of the widest pre-aggregate width that fits in
    it (db/queries/scalars.py keeps widths 10, 100, 1000), so every interval-bucket is a union of
    whole stored buckets: one index-only scan of scalar_buckets over the range, no raw point read
    (an interval below 10 groups the raw points of the range, at most ~10 x samples rows). The
    first and last buckets may reach a little beyond the range, which is outside the chart's view.
By time (key "time", epoch ms: `time_histograms`)
    The pre-aggregates are by iteration, and grouping raw points by time read every point (1.8 s
    for 10 x 100,000 points, bench/viewer.py). Training logs its points in iteration order, so the
    chart by time is built from the same iteration buckets, each drawn at the time of its first
    point (one index probe of (series_key, iter) per bucket) with its mean and min/max band: x is
    exact for every point shown one by one, and a merged bucket is placed at its first point's time.
    A zoom names its time range and the iteration window that covers it (the page derives it from
    the points it shows, which carry their first iteration `it`): a window of at most `samples`
    points is answered point by point, filtered to the time range; a wider one by its buckets.
    Without an iteration window (`range_histograms`, key "time") the raw points of the time range are
    read through the (task_key, ts, id) index and grouped by interval.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

from sqlalchemy import text
from sqlalchemy.orm import Session

from events_service.db.queries import compact, log_blocks, timerange
from events_service.db.queries.scalars import Curve, Series, _fetch_binary, _floor_div, _iter_stats, _start
from events_service.sampling import INT64_MAX, INT64_MIN, SINGLE_VALUE_ITER, WIDTHS

# --- the task list ------------------------------------------------------------------------------

# Sort keys of the task list: column expression, never NULL (keyset comparisons need a value).
SORTS = {
    "name": "t.name",
    "status": "t.status",
    "last_iteration": "t.last_iteration",
    "last_update": "coalesce(t.last_update, t.created)",
    "created": "t.created",
}
TASK_ROW = ("t.key, t.id, t.name, t.status, t.last_iteration, "
            "coalesce(t.last_update, t.created) AS last_update, t.tags, p.id AS project_id, "
            "p.name AS project_name")


def _like_pattern(search: str) -> str:
    escaped = search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def task_page(session: Session, company_key: int, project_key: int | None, *, search: str, sort: str,
              descending: bool, after: tuple[Any, int] | None, limit: int) -> list[Any]:
    """`limit` tasks of the company (of one project, unless None) after the keyset position
    (sort value, task key), ordered by the sort key then the task key; names containing `search`
    (case-insensitive) only. A page deep in the list costs what the first one does."""
    column = SORTS[sort]
    op, direction = ("<", "DESC") if descending else (">", "ASC")
    where = ["t.company_key = :ck"]
    params: dict[str, Any] = {"ck": company_key, "limit": limit}
    if project_key is not None:
        where.append("t.project_key = :pk")
        params["pk"] = project_key
    if search:
        where.append("t.name ILIKE :pattern")
        params["pattern"] = _like_pattern(search)
    if after is not None:
        where.append(f"({column}, t.key) {op} (:after_value, :after_key)")
        params["after_value"], params["after_key"] = after
    sql = (f"SELECT {TASK_ROW}, {column} AS sort_value FROM tasks t "
           "LEFT JOIN projects p ON p.key = t.project_key "
           f"WHERE {' AND '.join(where)} ORDER BY {column} {direction}, t.key {direction} LIMIT :limit")
    return list(session.execute(text(sql), params))


def project_list(session: Session, company_key: int) -> list[Any]:
    """The company's projects by name, with their number of tasks."""
    return list(session.execute(text(
        "SELECT p.key, p.id, p.name, p.description, coalesce(c.n, 0) AS tasks FROM projects p "
        "LEFT JOIN (SELECT project_key, count(*) AS n FROM tasks WHERE company_key = :ck "
        "GROUP BY project_key) c ON c.project_key = p.key "
        "WHERE p.company_key = :ck ORDER BY p.name, p.key"), {"ck": company_key}))


# --- scalar histograms of a range -----------------------------------------------------------------

def _every_point(session: Session, keys: list[int], lo: int, hi: int, samples: int,
                 span: timerange.Span) -> set[int]:
    """The series whose range [lo, hi] by iteration holds at most `samples` points."""
    shown = f"iter BETWEEN :lo AND :hi AND iter <> {SINGLE_VALUE_ITER} AND value IS NOT NULL"
    first = compact.First("iter asc", ":over", shown, values_only=True, positioned=True)
    source = compact.rows("series_key = k", span, (":lo", ":hi"), first)
    rows = session.execute(text(
        f"SELECT k, (SELECT count(*) FROM (SELECT 1 FROM {source} e "
        f"WHERE {shown} ORDER BY e.iter LIMIT :over) c) FROM unnest(CAST(:keys AS bigint[])) AS k"),
        {"keys": keys, "lo": lo, "hi": hi, "over": samples + 1})
    return {k for k, n in rows if n <= samples}


def _iter_points_in(session: Session, keys: list[int], lo: int, hi: int, span: timerange.Span
                    ) -> dict[int, Curve]:
    rows = _fetch_binary(session, f"""
        SELECT series_key, array_agg(iter ORDER BY iter), array_agg(value ORDER BY iter)
        FROM {compact.rows('series_key = ANY(%(keys)s)', span, ('%(lo)s', '%(hi)s'))} e
        WHERE iter BETWEEN %(lo)s AND %(hi)s AND iter <> {SINGLE_VALUE_ITER}
        AND value IS NOT NULL GROUP BY series_key""", {"keys": keys, "lo": lo, "hi": hi})
    return {r[0]: Curve(x=r[1], y=r[2]) for r in rows}


def iter_plan(lo: int, hi: int, samples: int) -> tuple[int, int]:
    """(interval, stored width to merge, or 1 for raw points) for a range by iteration."""
    interval = max(1, -(-(hi - lo + 1) // samples))
    width = max((w for w in WIDTHS if w <= interval), default=1)
    return -(-interval // width) * width, width


def _iter_buckets_in(session: Session, keys: list[int], lo: int, hi: int, samples: int,
                     span: timerange.Span) -> dict[int, Curve]:
    interval, width = iter_plan(lo, hi, samples)
    if width == 1:
        sql = f"""
            SELECT series_key, array_agg({_start('k', '%(step)s')} ORDER BY k), array_agg(mean ORDER BY k),
                   array_agg(low ORDER BY k), array_agg(high ORDER BY k)
            FROM (SELECT series_key, {_floor_div('iter', '%(step)s')} AS k, avg(value) AS mean,
                         min(value) AS low, max(value) AS high
                  FROM {compact.rows('series_key = ANY(%(keys)s)', span, ('%(lo)s', '%(hi)s'))} e
                  WHERE iter BETWEEN %(lo)s AND %(hi)s
                  AND iter <> {SINGLE_VALUE_ITER} AND value IS NOT NULL GROUP BY 1, 2) g
            GROUP BY series_key"""
        params = {"keys": keys, "lo": lo, "hi": hi, "step": interval}
    else:
        sql = f"""
            SELECT series_key, array_agg({_start('k', '%(step)s')} ORDER BY k), array_agg(mean ORDER BY k),
                   array_agg(low ORDER BY k), array_agg(high ORDER BY k)
            FROM (SELECT series_key, {_floor_div('bucket', '%(ratio)s')} AS k,
                         sum(value_sum) / sum(value_count) AS mean, min(min_value) AS low,
                         max(max_value) AS high
                  FROM {compact.buckets('series_key = ANY(%(keys)s)', '%(width)s',
                                        ('%(b_lo)s', '%(b_hi)s'))} b
                  GROUP BY 1, 2) g
            GROUP BY series_key"""
        params = {"keys": keys, "width": width, "ratio": interval // width, "step": interval,
                  "b_lo": lo // width, "b_hi": hi // width}
    rows = _fetch_binary(session, sql, params)
    return {r[0]: Curve(x=r[1], y=r[2], y_min=r[3], y_max=r[4]) for r in rows}


def _time_buckets_in(session: Session, task_keys: list[int], keys: list[int], lo: int, hi: int,
                     samples: int, span: timerange.Span) -> dict[int, Curve]:
    """By event time: every point when the range holds at most `samples` of a series, else
    buckets of ceil(range / samples) ms with their min and max."""
    where = (f"e.task_key = ANY(%(tks)s) AND e.ts BETWEEN %(lo)s AND %(hi)s AND e.series_key = ANY(%(keys)s) "
             f"AND e.value IS NOT NULL AND (e.iter IS NULL OR e.iter <> {SINGLE_VALUE_ITER})")
    params = {"tks": task_keys, "keys": keys, "lo": lo, "hi": hi, "over": samples + 1,
              "step": max(1, -(-(hi - lo + 1) // samples))}
    span = span.narrowed(lo, hi)
    shown = (f"ts BETWEEN %(lo)s AND %(hi)s AND value IS NOT NULL "
             f"AND (iter IS NULL OR iter <> {SINGLE_VALUE_ITER})")
    first = compact.First("ts asc", "%(over)s", shown, values_only=True, positioned=True)

    def source(series: str, first: compact.First | None = None) -> str:
        return compact.rows(f"task_key = ANY(%(tks)s) AND series_key = {series}", span, first=first)

    counts = _fetch_binary(session, f"""
        SELECT k, (SELECT count(*) FROM (SELECT 1 FROM {source('k', first)} e
                   WHERE {where}
                   ORDER BY e.ts LIMIT %(over)s) c) FROM unnest(CAST(%(keys)s AS bigint[])) AS k""", params)
    few = [k for k, n in counts if n <= samples]
    many = [k for k, n in counts if n > samples]
    curves: dict[int, Curve] = {}
    if few:
        rows = _fetch_binary(session, f"""
            SELECT e.series_key, array_agg(e.ts ORDER BY e.ts, e.id), array_agg(e.value ORDER BY e.ts, e.id)
            FROM {source('ANY(%(few)s)')} e WHERE {where.replace('%(keys)s', '%(few)s')} GROUP BY 1""",
                             {**params, "few": few})
        curves.update({r[0]: Curve(x=r[1], y=r[2]) for r in rows})
    if many:
        rows = _fetch_binary(session, f"""
            SELECT series_key, array_agg({_start('k', '%(step)s')} ORDER BY k), array_agg(mean ORDER BY k),
                   array_agg(low ORDER BY k), array_agg(high ORDER BY k)
            FROM (SELECT e.series_key, {_floor_div('e.ts', '%(step)s')} AS k, avg(e.value) AS mean,
                         min(e.value) AS low, max(e.value) AS high
                  FROM {source('ANY(%(many)s)')} e WHERE {where.replace('%(keys)s', '%(many)s')}
                  GROUP BY 1, 2) g
            GROUP BY series_key""", {**params, "many": many})
        curves.update({r[0]: Curve(x=r[1], y=r[2], y_min=r[3], y_max=r[4]) for r in rows})
    return curves


def range_histograms(session: Session, series: Sequence[Series], key: str, lo: int, hi: int,
                     samples: int) -> dict[int, Curve]:
    """series key -> Curve of its points with x in [lo, hi] (iterations, or epoch ms for "time"),
    at most about `samples` points each; see the module docstring."""
    keys = sorted(s.key for s in series)
    if not keys:
        return {}
    span = timerange.of_series(session, keys)  # every read of scalar events below is bounded by it
    if key == "time":
        return _time_buckets_in(session, sorted({s.task_key for s in series}), keys, lo, hi, samples, span)
    few = _every_point(session, keys, lo, hi, samples, span)
    curves = _iter_points_in(session, sorted(few), lo, hi, span) if few else {}
    many = [k for k in keys if k not in few]
    if many:
        curves.update(_iter_buckets_in(session, many, lo, hi, samples, span))
    return curves


@dataclass
class TimeCurve(Curve):
    """A curve by time: x in epoch ms, and each point's (or bucket's) first iteration."""
    it: list[int] = field(default_factory=list)


def time_histograms(session: Session, series: Sequence[Series], samples: int,
                    iterations: tuple[int, int] | None = None,
                    times: tuple[int, int] | None = None) -> dict[int, TimeCurve]:
    """series key -> TimeCurve over the iteration window (the whole series when None), points whose
    time is outside `times` left out when shown one by one; see the module docstring."""
    keys = sorted(s.key for s in series)
    if not keys:
        return {}
    stats = _iter_stats(session, keys)
    span = timerange.of_series(session, keys)  # every read of scalar events below is bounded by it
    # the window, narrowed to the iterations each series has (a page may leave its end open)
    wanted = iterations or (INT64_MIN, INT64_MAX)
    windows = {k: (max(lo, wanted[0]), min(hi, wanted[1])) for k, (_n, lo, hi) in stats.items()
               if max(lo, wanted[0]) <= min(hi, wanted[1])}
    few = sorted(_every_point(session, sorted(windows), *wanted, samples, span)) if iterations is not None \
        else sorted(k for k in windows if stats[k][0] <= samples)
    curves: dict[int, TimeCurve] = {}
    if few:
        curves.update(_time_points(session, few, [windows[k] for k in few], times, span))
    # (first iteration, last iteration, interval, stored width or 1) per bucketed series
    plans = {k: (lo, hi, *iter_plan(lo, hi, samples)) for k, (lo, hi) in windows.items() if k not in few}
    raw = sorted(k for k, plan in plans.items() if plan[3] == 1)
    if raw:
        curves.update(_time_of_raw_buckets(session, raw, [plans[k] for k in raw], span))
    stored = sorted(k for k, plan in plans.items() if plan[3] > 1)
    if stored:
        curves.update(_time_of_stored_buckets(session, stored, [plans[k] for k in stored], span))
    return curves


def _time_points(session: Session, keys: list[int], windows: list[tuple[int, int]],
                 times: tuple[int, int] | None, span: timerange.Span) -> dict[int, TimeCurve]:
    in_time = "" if times is None else " AND e.ts BETWEEN %(t_lo)s AND %(t_hi)s"
    rows = _fetch_binary(session, f"""
        SELECT p.k, array_agg(e.ts ORDER BY e.ts, e.iter), array_agg(e.value ORDER BY e.ts, e.iter),
               array_agg(e.iter ORDER BY e.ts, e.iter)
        FROM unnest(CAST(%(keys)s AS bigint[]), CAST(%(los)s AS bigint[]), CAST(%(his)s AS bigint[]))
             AS p(k, lo, hi)
        CROSS JOIN LATERAL (
            SELECT e.ts, e.iter, e.value FROM {compact.rows('series_key = p.k', span, ('p.lo', 'p.hi'))} e
            WHERE e.iter BETWEEN p.lo AND p.hi AND e.iter <> {SINGLE_VALUE_ITER}
            AND e.value IS NOT NULL{in_time} ORDER BY e.iter) e
        GROUP BY p.k""", {"keys": keys, "los": [w[0] for w in windows], "his": [w[1] for w in windows],
                          "t_lo": times[0] if times else None, "t_hi": times[1] if times else None})
    return {r[0]: TimeCurve(x=r[1], y=r[2], it=r[3]) for r in rows}


def _time_of_raw_buckets(session: Session, keys: list[int], plans: list[tuple], span: timerange.Span
                         ) -> dict[int, TimeCurve]:
    """Intervals below the narrowest stored width: the raw points of the window grouped by
    iteration interval, each group at its first point's time."""
    rows = _fetch_binary(session, f"""
        SELECT k, array_agg(ts ORDER BY g), array_agg(mean ORDER BY g), array_agg(low ORDER BY g),
               array_agg(high ORDER BY g), array_agg(first_iter ORDER BY g)
        FROM (SELECT p.k, {_floor_div('e.iter', 'p.step')} AS g, min(e.ts) AS ts, avg(e.value) AS mean,
                     min(e.value) AS low, max(e.value) AS high, min(e.iter) AS first_iter
              FROM unnest(CAST(%(keys)s AS bigint[]), CAST(%(los)s AS bigint[]), CAST(%(his)s AS bigint[]),
                          CAST(%(steps)s AS bigint[])) AS p(k, lo, hi, step)
              CROSS JOIN LATERAL (
                  SELECT e.iter, e.ts, e.value
                  FROM {compact.rows('series_key = p.k', span, ('p.lo', 'p.hi'))} e
                  WHERE e.iter BETWEEN p.lo AND p.hi AND e.iter <> {SINGLE_VALUE_ITER} AND e.value IS NOT NULL
                  ORDER BY e.iter) e
              GROUP BY 1, 2) b
        GROUP BY k""", {"keys": keys, "los": [p[0] for p in plans], "his": [p[1] for p in plans],
                        "steps": [p[2] for p in plans]})
    return {r[0]: TimeCurve(x=r[1], y=r[2], y_min=r[3], y_max=r[4], it=r[5]) for r in rows}


def _time_of_stored_buckets(session: Session, keys: list[int], plans: list[tuple], span: timerange.Span
                            ) -> dict[int, TimeCurve]:
    """Whole stored buckets merged by iteration interval (as _iter_buckets_in), each placed at the
    time of its first point: one probe of the (series_key, iter) index per bucket (about 100 ms
    for 10 x 1,000 buckets; one index scan per series for all its first iterations, tried, was
    2x slower)."""
    rows = _fetch_binary(session, f"""
        WITH b AS (
            SELECT p.k, {_floor_div('s.bucket', 'p.ratio')} AS g,
                   sum(s.value_sum) / sum(s.value_count) AS mean,
                   min(s.min_value) AS low, max(s.max_value) AS high, min(s.min_iter) AS first_iter
            FROM unnest(CAST(%(keys)s AS bigint[]), CAST(%(widths)s AS int[]), CAST(%(ratios)s AS bigint[]),
                        CAST(%(b_los)s AS bigint[]), CAST(%(b_his)s AS bigint[]))
                 AS p(k, width, ratio, b_lo, b_hi)
            CROSS JOIN LATERAL {compact.buckets('series_key = p.k', 'p.width', ('p.b_lo', 'p.b_hi'))} s
            GROUP BY 1, 2)
        SELECT b.k, array_agg(t.ts ORDER BY b.g), array_agg(b.mean ORDER BY b.g),
               array_agg(b.low ORDER BY b.g), array_agg(b.high ORDER BY b.g),
               array_agg(b.first_iter ORDER BY b.g)
        FROM b CROSS JOIN LATERAL (
            SELECT e.ts FROM {compact.rows('series_key = b.k', span, ('b.first_iter', 'b.first_iter'))} e
            WHERE e.iter = b.first_iter
            LIMIT 1) t
        GROUP BY b.k""", {"keys": keys, "widths": [p[3] for p in plans],
                          "ratios": [p[2] // p[3] for p in plans], "b_los": [p[0] // p[3] for p in plans],
                          "b_his": [p[1] // p[3] for p in plans]})
    return {r[0]: TimeCurve(x=r[1], y=r[2], y_min=r[3], y_max=r[4], it=r[5]) for r in rows}


# --- the console's search --------------------------------------------------------------------------

def search_log(session: Session, task_key: int, needle: str, before: tuple[int, int] | None,
               limit: int) -> list[Any]:
    """The task's newest `limit` log lines containing `needle` (case-insensitive), older than the
    keyset position (ts, id) when given; newest first."""
    where = "msg ILIKE :pattern"
    params: dict[str, Any] = {"tk": task_key, "pattern": _like_pattern(needle), "limit": limit}
    span = timerange.of_task(session, task_key, "log")
    if before is not None:
        where += " AND (ts, id) < (:ts, :id)"
        params["ts"], params["id"] = before
        span = span.narrowed(hi=before[0])
    return list(session.execute(text(
        f"SELECT ts, id, level, msg FROM {log_blocks.rows('task_key = :tk', span)} l WHERE {where} "
        "ORDER BY ts DESC, id DESC LIMIT :limit"), params))
