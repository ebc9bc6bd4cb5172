"""Debug images 2.7: the variants of requested (task, metric) pairs with their invalid borders, and
one navigation step (the `iters` next iterations earlier or later than a window).

Only images with an iteration and a url count (ClearML's current server ignores the others).
"""
from __future__ import annotations

from typing import Any, Sequence

from sqlalchemy import text
from sqlalchemy.orm import Session

from events_service.db.queries import timerange
from events_service.db.queries.events import COMMON, SOURCES

IMAGE = "training_debug_image"


def variants(session: Session, pairs: Sequence[tuple[int, str]]) -> list[Any]:
    """Image series of the (task key, metric) pairs: task_key, metric, series_key and `border`.

    The SDK recycles file names, so an old image whose url is re-used later shows the new
    picture. As in ClearML: take the url of the variant's newest iteration; the highest earlier
    iteration that used the same url is the variant's invalid border, and images at or below it
    are never returned. NULL when the newest url is unique.
    """
    if not pairs:
        return []
    bound = timerange.of_tasks(session, sorted({p[0] for p in pairs}), [IMAGE])[IMAGE]
    sql = f"""
        SELECT s.task_key, s.metric, s.key AS series_key,
               (SELECT max(o.iter) FROM image_events o
                WHERE o.series_key = s.key AND {bound.sql("o.ts")} AND o.url = top.url AND o.iter < top.iter)
               AS border
        FROM series s
        JOIN unnest(CAST(:tks AS bigint[]), CAST(:ms AS text[])) AS w(task_key, metric)
          ON s.task_key = w.task_key AND s.metric = w.metric
        CROSS JOIN LATERAL (
            SELECT e.iter, e.url FROM image_events e
            WHERE e.series_key = s.key AND {bound.sql("e.ts")} AND e.iter IS NOT NULL AND e.url IS NOT NULL
            ORDER BY e.iter DESC, e.url DESC LIMIT 1) top
        WHERE s.event_type = 'training_debug_image'
        ORDER BY s.task_key, s.metric, s.variant"""
    return list(session.execute(text(sql), {"tks": [p[0] for p in pairs], "ms": [p[1] for p in pairs]}))


def step(session: Session, task_key: int, borders: Sequence[tuple[int, int | None]], *, earlier: bool,
         beyond: int | None, iters: int) -> list[Any]:
    """Valid images of the `iters` distinct iterations next to `beyond` (below it when `earlier`,
    else above it; from the newest when None), ordered by iteration descending.

    Each variant contributes its own first `iters` iterations through the (series_key, iter)
    index; the page keeps the `iters` nearest of their union.
    """
    if not borders:
        return []
    op, direction = ("<", "DESC") if earlier else (">", "ASC")
    limit_side = f" AND e.iter {op} :beyond" if beyond is not None else ""
    bound = timerange.of_task(session, task_key, IMAGE).sql("e.ts")
    valid = (f"{bound} AND e.iter IS NOT NULL AND e.url IS NOT NULL "
             "AND (v.border IS NULL OR e.iter > v.border)")
    table, payload = SOURCES[IMAGE]
    common = ", ".join(f"e.{c.strip()}" for c in COMMON.split(","))
    sql = f"""
        WITH v AS (
            SELECT * FROM unnest(CAST(:sk AS bigint[]), CAST(:border AS bigint[])) AS v(series_key, border)),
        chosen AS (
            SELECT DISTINCT t.iter FROM v CROSS JOIN LATERAL (
                SELECT DISTINCT e.iter FROM {table} e
                WHERE e.series_key = v.series_key AND {valid}{limit_side}
                ORDER BY e.iter {direction} LIMIT :n) t
            ORDER BY t.iter {direction} LIMIT :n)
        SELECT e.task_key, {common}, {payload} FROM {table} e JOIN v ON e.series_key = v.series_key
        WHERE e.task_key = :tk AND e.iter IN (SELECT iter FROM chosen) AND {valid}
        ORDER BY e.iter DESC, e.url DESC, e.id DESC"""
    params = {"sk": [b[0] for b in borders], "border": [b[1] for b in borders], "n": iters, "tk": task_key,
              "beyond": beyond}
    return list(session.execute(text(sql), params))
