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
Zoom by time (key "time", epoch ms)
    The pre-aggregates are by iteration, so a time range reads the raw points of the range through
    the (task_key, ts, id) index of scalar_events, grouped by interval in the database.
"""
from __future__ import annotations

from typing import Any, Sequence

from sqlalchemy import text
from sqlalchemy.orm import Session

from events_service.db.queries.scalars import Curve, Series, _fetch_binary, _floor_div, _start
from events_service.sampling import SINGLE_VALUE_ITER, WIDTHS

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

def _every_point(session: Session, keys: list[int], lo: int, hi: int, samples: int) -> set[int]:
    """The series whose range [lo, hi] by iteration holds at most `samples` points."""
    rows = session.execute(text(
        "SELECT k, (SELECT count(*) FROM (SELECT 1 FROM scalar_events e WHERE e.series_key = k "
        f"AND e.iter BETWEEN :lo AND :hi AND e.iter <> {SINGLE_VALUE_ITER} AND e.value IS NOT NULL "
        "LIMIT :over) c) FROM unnest(CAST(:keys AS bigint[])) AS k"),
        {"keys": keys, "lo": lo, "hi": hi, "over": samples + 1})
    return {k for k, n in rows if n <= samples}


def _iter_points_in(session: Session, keys: list[int], lo: int, hi: int) -> dict[int, Curve]:
    rows = _fetch_binary(session, f"""
        SELECT series_key, array_agg(iter ORDER BY iter), array_agg(value ORDER BY iter) FROM scalar_events
        WHERE series_key = ANY(%(keys)s) AND iter BETWEEN %(lo)s AND %(hi)s AND iter <> {SINGLE_VALUE_ITER}
        AND value IS NOT NULL GROUP BY series_key""", {"keys": keys, "lo": lo, "hi": hi})
    return {r[0]: Curve(x=r[1], y=r[2]) for r in rows}


def iter_plan(lo: int, hi: int, samples: int) -> tuple[int, int]:
    """(interval, stored width to merge, or 1 for raw points) for a range by iteration."""
    interval = max(1, -(-(hi - lo + 1) // samples))
    width = max((w for w in WIDTHS if w <= interval), default=1)
    return -(-interval // width) * width, width


def _iter_buckets_in(session: Session, keys: list[int], lo: int, hi: int, samples: int) -> dict[int, Curve]:
    interval, width = iter_plan(lo, hi, samples)
    if width == 1:
        sql = f"""
            SELECT series_key, array_agg({_start('k', '%(step)s')} ORDER BY k), array_agg(mean ORDER BY k),
                   array_agg(low ORDER BY k), array_agg(high ORDER BY k)
            FROM (SELECT series_key, {_floor_div('iter', '%(step)s')} AS k, avg(value) AS mean,
                         min(value) AS low, max(value) AS high
                  FROM scalar_events WHERE series_key = ANY(%(keys)s) AND iter BETWEEN %(lo)s AND %(hi)s
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
                  FROM scalar_buckets WHERE series_key = ANY(%(keys)s) AND width = %(width)s
                  AND bucket BETWEEN %(b_lo)s AND %(b_hi)s GROUP BY 1, 2) g
            GROUP BY series_key"""
        params = {"keys": keys, "width": width, "ratio": interval // width, "step": interval,
                  "b_lo": lo // width, "b_hi": hi // width}
    rows = _fetch_binary(session, sql, params)
    return {r[0]: Curve(x=r[1], y=r[2], y_min=r[3], y_max=r[4]) for r in rows}


def _time_buckets_in(session: Session, task_keys: list[int], keys: list[int], lo: int, hi: int,
                     samples: int) -> dict[int, Curve]:
    """By event time: every point when the range holds at most `samples` of a series, else
    buckets of ceil(range / samples) ms with their min and max."""
    where = (f"e.task_key = ANY(%(tks)s) AND e.ts BETWEEN %(lo)s AND %(hi)s AND e.series_key = ANY(%(keys)s) "
             f"AND e.value IS NOT NULL AND (e.iter IS NULL OR e.iter <> {SINGLE_VALUE_ITER})")
    params = {"tks": task_keys, "keys": keys, "lo": lo, "hi": hi, "over": samples + 1,
              "step": max(1, -(-(hi - lo + 1) // samples))}
    counts = _fetch_binary(session, f"""
        SELECT k, (SELECT count(*) FROM (SELECT 1 FROM scalar_events e WHERE e.series_key = k AND {where}
                   LIMIT %(over)s) c) FROM unnest(CAST(%(keys)s AS bigint[])) AS k""", params)
    few = [k for k, n in counts if n <= samples]
    many = [k for k, n in counts if n > samples]
    curves: dict[int, Curve] = {}
    if few:
        rows = _fetch_binary(session, f"""
            SELECT e.series_key, array_agg(e.ts ORDER BY e.ts, e.id), array_agg(e.value ORDER BY e.ts, e.id)
            FROM scalar_events e WHERE {where.replace('%(keys)s', '%(few)s')} GROUP BY 1""",
                             {**params, "few": few})
        curves.update({r[0]: Curve(x=r[1], y=r[2]) for r in rows})
    if many:
        rows = _fetch_binary(session, f"""
            SELECT series_key, array_agg({_start('k', '%(step)s')} ORDER BY k), array_agg(mean ORDER BY k),
                   array_agg(low ORDER BY k), array_agg(high ORDER BY k)
            FROM (SELECT e.series_key, {_floor_div('e.ts', '%(step)s')} AS k, avg(e.value) AS mean,
                         min(e.value) AS low, max(e.value) AS high
                  FROM scalar_events e WHERE {where.replace('%(keys)s', '%(many)s')} GROUP BY 1, 2) g
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
    if key == "time":
        return _time_buckets_in(session, sorted({s.task_key for s in series}), keys, lo, hi, samples)
    few = _every_point(session, keys, lo, hi, samples)
    curves = _iter_points_in(session, sorted(few), lo, hi) if few else {}
    many = [k for k in keys if k not in few]
    if many:
        curves.update(_iter_buckets_in(session, many, lo, hi, samples))
    return curves


# --- the console's search --------------------------------------------------------------------------

def search_log(session: Session, task_key: int, needle: str, before: tuple[int, int] | None,
               limit: int) -> list[Any]:
    """The task's newest `limit` log lines containing `needle` (case-insensitive), older than the
    keyset position (ts, id) when given; newest first."""
    where = "task_key = :tk AND msg ILIKE :pattern"
    params: dict[str, Any] = {"tk": task_key, "pattern": _like_pattern(needle), "limit": limit}
    if before is not None:
        where += " AND (ts, id) < (:ts, :id)"
        params["ts"], params["id"] = before
    return list(session.execute(text(
        f"SELECT ts, id, level, msg FROM log_events WHERE {where} ORDER BY ts DESC, id DESC LIMIT :limit"),
        params))
