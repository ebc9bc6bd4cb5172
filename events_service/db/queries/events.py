"""Reading raw events back as ClearML event documents, with keyset pages over (ts, id)."""
from __future__ import annotations

import time
from functools import lru_cache
from typing import Any, Sequence

from sqlalchemy import text
from sqlalchemy.orm import Session

from events_service.db.queries import compact, log_blocks, timerange

# Per event type: table and the payload columns as the union below names them.
SOURCES = {
    "training_stats_scalar": ("scalar_events", "value AS value, NULL::float8[] AS values_, NULL AS key, "
                              "NULL AS url, NULL AS plot_str, NULL AS level, NULL AS msg"),
    "training_stats_vector": ("vector_events", "NULL::float8 AS value, value AS values_, NULL AS key, "
                              "NULL AS url, NULL AS plot_str, NULL AS level, NULL AS msg"),
    "training_debug_image": ("image_events", "NULL::float8 AS value, NULL::float8[] AS values_, key, url, "
                             "NULL AS plot_str, NULL AS level, NULL AS msg"),
    "plot": ("plot_events", "NULL::float8 AS value, NULL::float8[] AS values_, NULL AS key, NULL AS url, "
             "plot_str, NULL AS level, NULL AS msg"),
    "log": ("log_events", "NULL::float8 AS value, NULL::float8[] AS values_, NULL AS key, NULL AS url, "
            "NULL AS plot_str, level, msg"),
}
EVENT_TYPES = tuple(SOURCES)
COMMON = "ts, id, iter, worker, received, series_key, extra"


def source(event_type: str, where: str, span: timerange.Span,
           first: compact.First | None = None) -> str:
    """The events of one type matching `where` (on task_key / series_key) within `span`, as a FROM
    item with the table's columns; scalars in both their forms (db/queries/compact.py; `first` is its
    hint for reads of the first N events in an order); log lines in theirs (db/queries/log_blocks.py)."""
    if event_type == "training_stats_scalar":
        return compact.rows(where, span, first=first)
    if event_type == "log":
        return log_blocks.rows(where, span, first=first)
    return f"(SELECT * FROM {SOURCES[event_type][0]} WHERE {where} AND {span.sql('ts')})"


@lru_cache(maxsize=4096)
def iso_ms(epoch_ms: int) -> str:
    """Epoch ms as ClearML's @timestamp text: YYYY-MM-DDTHH:MM:SS.mmmZ (UTC).

    time.gmtime is 4x cheaper than datetime here, and the cache makes a page of events that share
    their ingestion time (one batch) format it once: a 500-event page no longer costs milliseconds.
    """
    seconds, millis = divmod(epoch_ms, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"


def series_names(session: Session, task_key: int,
                 event_type: str | None = None) -> dict[int, tuple[str, str]]:
    """series key -> (metric, variant) for one task (small: one row per series), or for its
    series of one event type."""
    where = "" if event_type is None else " AND event_type = :et"
    rows = session.execute(text("SELECT key, metric, variant FROM series WHERE task_key = :tk" + where),
                           {"tk": task_key, "et": event_type})
    return {r.key: (r.metric, r.variant) for r in rows}


def to_document(event_type: str, row: Any, task_id: str, names: dict[int, tuple[str, str]]) -> dict[str, Any]:
    """One stored row as the event document the client sent, plus the server's fields."""
    metric, variant = names.get(row.series_key, ("", ""))
    doc: dict[str, Any] = {"timestamp": row.ts, "type": event_type, "task": task_id}
    if row.iter is not None:
        doc["iter"] = row.iter
    doc["metric"], doc["variant"] = metric, variant
    if event_type == "training_stats_scalar":
        if row.value is not None:
            doc["value"] = row.value
    elif event_type == "training_stats_vector":
        if row.values_ is not None:
            doc["value"] = row.values_
    else:
        for name in ("key", "url", "plot_str", "level", "msg"):
            value = getattr(row, name)
            if value is not None:
                doc[name] = value
    doc["worker"] = row.worker
    doc["@timestamp"] = iso_ms(row.received)
    if row.extra:
        doc.update((k, v) for k, v in row.extra.items() if k not in doc)
    return doc


def count(session: Session, task_key: int, event_types: Sequence[str]) -> int:
    """Events of the task of these types, from the per-series counters ingestion keeps exact
    (O(series), not a count of a million rows)."""
    return session.execute(text(
        "SELECT coalesce(sum(event_count), 0)::bigint FROM series "
        "WHERE task_key = :tk AND event_type = ANY(:types)"),
        {"tk": task_key, "types": list(event_types)}).scalar_one()


def page_by_time(session: Session, task_key: int, event_types: Sequence[str], *, descending: bool,
                 after: tuple[int, int] | None, limit: int) -> list[tuple[str, Any]]:
    """The next `limit` events of the task ordered by (ts, id), strictly after the keyset position.

    Each table is read through its (task_key, ts, id) index and stops at `limit` rows, so a page
    costs the same at the start of the scroll as deep into it; each is bounded by the task's time
    range of its type (timerange.py), and a type the task has no events of is not read at all.
    """
    op, direction = ("<", "DESC") if descending else (">", "ASC")
    where = f"(ts, id) {op} (:after_ts, :after_id)" if after else "true"
    spans = timerange.of_tasks(session, [task_key], event_types)
    if after:
        # only the times a page after the position can hold (fewer compact blocks unnested)
        spans = {t: span.narrowed(hi=after[0]) if descending else span.narrowed(lo=after[0])
                 for t, span in spans.items()}
    first = compact.First(f"ts {direction.lower()}", ":limit", where, positioned=after is not None)
    parts = [
        f"(SELECT '{t}' AS type, {COMMON}, {SOURCES[t][1]} "
        f"FROM {source(t, 'task_key = :tk', spans[t], first)} e "
        f"WHERE {where} ORDER BY ts {direction}, id {direction} LIMIT :limit)"
        for t in event_types
    ]
    sql = (f"SELECT * FROM ({' UNION ALL '.join(parts)}) u "
           f"ORDER BY ts {direction}, id {direction} LIMIT :limit")
    params: dict[str, Any] = {"tk": task_key, "limit": limit}
    if after:
        params["after_ts"], params["after_id"] = after
    return [(row.type, row) for row in session.execute(text(sql), params)]


def at_time(session: Session, task_key: int, event_type: str, ts: int, exclude_ids: Sequence[int]
            ) -> list[tuple[str, Any]]:
    """The task's events of one type at exactly `ts` (epoch ms) except `exclude_ids`, by id; the
    time is a literal so that only its chunk is planned (timerange.py)."""
    at = source(event_type, "task_key = :tk", timerange.Span(int(ts), int(ts)))
    sql = (f"SELECT '{event_type}' AS type, {COMMON}, {SOURCES[event_type][1]} FROM {at} e "
           f"WHERE ts = {int(ts)} AND id <> ALL(:ids) ORDER BY id")
    return [(row.type, row) for row in session.execute(text(sql), {"tk": task_key, "ids": list(exclude_ids)})]
