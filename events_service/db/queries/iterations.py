"""Reads by iteration for plots and debug images: "the last N iterations", paged newest first.

A selection is a list of cutoffs (series key, lowest iteration kept). Endpoints compute it
once, on the first page, and freeze it in the scroll token, so later pages read exactly the
events chosen at the start: new iterations reported meanwhile cannot push chosen events out
of the selection (which would skip them). Pages are keyset pages over (iter DESC, id DESC)
through the (series_key, iter) index, never OFFSET.
"""
from __future__ import annotations

from typing import Any, Sequence

from sqlalchemy import text
from sqlalchemy.orm import Session

from events_service.db.queries import timerange
from events_service.db.queries.events import COMMON, SOURCES

Cutoffs = list[tuple[int, int]]

_TOP_ITERS = """
    SELECT s.task_key, s.key AS series_key, t.iter
    FROM series s
    CROSS JOIN LATERAL (
        SELECT DISTINCT e.iter FROM {table} e
        WHERE e.series_key = s.key AND {bound} AND e.iter IS NOT NULL
        ORDER BY e.iter DESC LIMIT :n) t
    WHERE s.task_key = ANY(:tks) AND s.event_type = :type
"""


def last_iters_per_series(session: Session, event_type: str, task_keys: Sequence[int], n: int) -> Cutoffs:
    """Per series of the tasks: its `n` highest distinct iterations (get_task_plots)."""
    sql = (f"SELECT series_key, min(iter) AS min_iter FROM ({_TOP_ITERS}) top "
           "GROUP BY series_key ORDER BY series_key")
    rows = session.execute(text(sql.format(table=SOURCES[event_type][0], bound=_bound(session, event_type,
                                                                                      task_keys))),
                           {"tks": list(task_keys), "type": event_type, "n": n})
    return [(r.series_key, r.min_iter) for r in rows]


def _bound(session: Session, event_type: str, task_keys: Sequence[int]) -> str:
    """The tasks' time range of the type as constants on e.ts (timerange.py)."""
    return timerange.of_tasks(session, task_keys, [event_type])[event_type].sql("e.ts")


def last_iters_per_task(session: Session, event_type: str, task_keys: Sequence[int], n: int) -> Cutoffs:
    """Per task: its `n` highest distinct iterations over all its series (debug_images 2.1,
    get_multi_task_plots), as a cutoff for every series of the task."""
    sql = f"""
        WITH top AS ({_TOP_ITERS}),
        ranked AS (
            SELECT task_key, iter, dense_rank() OVER (PARTITION BY task_key ORDER BY iter DESC) AS r
            FROM (SELECT DISTINCT task_key, iter FROM top) d),
        per_task AS (SELECT task_key, min(iter) AS min_iter FROM ranked WHERE r <= :n GROUP BY task_key)
        SELECT s.key AS series_key, p.min_iter FROM series s JOIN per_task p USING (task_key)
        WHERE s.event_type = :type ORDER BY s.key"""
    rows = session.execute(text(sql.format(table=SOURCES[event_type][0], bound=_bound(session, event_type,
                                                                                      task_keys))),
                           {"tks": list(task_keys), "type": event_type, "n": n})
    return [(r.series_key, r.min_iter) for r in rows]


def _selection(cutoffs: Cutoffs) -> tuple[str, dict[str, Any]]:
    join = ("JOIN unnest(CAST(:sk AS bigint[]), CAST(:mi AS bigint[])) AS c(series_key, min_iter) "
            "ON e.series_key = c.series_key AND e.iter >= c.min_iter")
    return join, {"sk": [c[0] for c in cutoffs], "mi": [c[1] for c in cutoffs]}


def count(session: Session, event_type: str, task_keys: Sequence[int], cutoffs: Cutoffs) -> int:
    if not cutoffs:
        return 0
    join, params = _selection(cutoffs)
    return session.execute(text(
        f"SELECT count(*) FROM {SOURCES[event_type][0]} e {join} WHERE e.task_key = ANY(:tks) "
        f"AND {_bound(session, event_type, task_keys)}"),
        {**params, "tks": list(task_keys)}).scalar_one()


def page(session: Session, event_type: str, task_keys: Sequence[int], cutoffs: Cutoffs, *,
         after: tuple[int, int] | None, limit: int) -> list[Any]:
    """The next `limit` selected events by (iter, id) descending, strictly after the keyset position.

    Rows carry task_key plus the columns events.to_document reads.
    """
    if not cutoffs:
        return []
    join, params = _selection(cutoffs)
    table, payload = SOURCES[event_type]
    keyset = " AND (e.iter, e.id) < (:after_iter, :after_id)" if after else ""
    common = ", ".join(f"e.{c.strip()}" for c in COMMON.split(","))
    sql = (f"SELECT e.task_key, {common}, {payload} FROM {table} e {join} "
           f"WHERE e.task_key = ANY(:tks) AND {_bound(session, event_type, task_keys)}{keyset} "
           "ORDER BY e.iter DESC, e.id DESC LIMIT :limit")
    params.update(tks=list(task_keys), limit=limit)
    if after:
        params["after_iter"], params["after_id"] = after
    return list(session.execute(text(sql), params))
