"""Storing events: task registration and locking, series, de-duplication, COPY, statistics.

One call per request, inside the request's transaction, so a batch is stored whole or not at all.
Concurrency: before a batch reads a series' statistics it takes a transaction advisory lock per
series (in key order), so two batches writing one series never interleave their
de-duplication; batches writing other series, of the same task or not, run in parallel. The
task rows are held FOR KEY SHARE (delete_for_task's FOR UPDATE waits for them) and updated
last, so writers of one task queue only for that final row update. The lock order (series,
then tasks, each sorted) is the same in every batch: no deadlock.
"""
from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Iterable

from sqlalchemy import text
from sqlalchemy.orm import Session

from events_service.db.queries import scalars as scalar_queries
from events_service.db.queries import compact, log_blocks, timerange
from events_service.normalize import MONITOR_METRICS, Event
from events_service import jsonutil

LOCKED_STATUSES = ("publishing", "published")
TABLES = {
    "training_stats_scalar": ("scalar_events", ("value",)),
    "training_stats_vector": ("vector_events", ("value",)),
    "training_debug_image": ("image_events", ("key", "url")),
    "plot": ("plot_events", ("plot_str",)),
    "log": ("log_events", ("level", "msg")),
}


@dataclass
class TaskRef:
    key: int
    id: str
    status: str

    @property
    def locked(self) -> bool:
        return self.status in LOCKED_STATUSES


@dataclass
class SeriesRef:
    key: int
    max_iter: int | None
    max_ts: int | None
    has_null_iter: bool
    min_ts: int | None = None
    compacted: bool = True  # may have compact blocks (db/queries/compact.NEVER_COMPACTED)


@dataclass
class StoreResult:
    added: int = 0
    replaced: int = 0
    rejected_tasks: dict[str, int] = field(default_factory=dict)  # task id -> events refused
    rejected_types: dict[str, int] = field(default_factory=dict)  # event type -> events refused


def lock_tasks(session: Session, company_key: int, task_ids: Iterable[str]) -> dict[str, TaskRef]:
    """Register unknown tasks, then share-lock the company's rows (no delete meanwhile); ids owned
    by another company are absent."""
    ids = sorted(set(task_ids))
    session.execute(
        text("INSERT INTO tasks (company_key, id, name) SELECT :ck, t, t FROM unnest(CAST(:ids AS text[])) t "
             "ORDER BY t ON CONFLICT (id) DO NOTHING"),
        {"ck": company_key, "ids": ids})
    rows = session.execute(
        text("SELECT key, id, status FROM tasks WHERE company_key = :ck AND id = ANY(:ids) "
             "ORDER BY key FOR KEY SHARE"),
        {"ck": company_key, "ids": ids})
    return {r.id: TaskRef(r.key, r.id, r.status) for r in rows}


def _series(session: Session, company_key: int, wanted: set[tuple[int, str, str, str]]
            ) -> dict[tuple[int, str, str, str], SeriesRef]:
    """The series of (task_key, type, metric, variant), created when new, locked for this
    transaction, and their statistics as the previous writer committed them."""
    cols = list(zip(*sorted(wanted)))
    params = {"ck": company_key, "t": list(cols[0]), "y": list(cols[1]), "m": list(cols[2]),
              "v": list(cols[3])}
    unnest = "unnest(CAST(:t AS bigint[]), CAST(:y AS text[]), CAST(:m AS text[]), CAST(:v AS text[]))"
    session.execute(text(
        "INSERT INTO series (company_key, task_key, event_type, metric, variant) "
        f"SELECT :ck, * FROM {unnest} ON CONFLICT DO NOTHING"), params)
    session.execute(text(
        "SELECT pg_advisory_xact_lock(s.key) FROM (SELECT s.key FROM series s "
        f"JOIN {unnest} AS w(task_key, event_type, metric, variant) "
        "USING (task_key, event_type, metric, variant) "
        "ORDER BY s.key) s"), params).all()
    rows = session.execute(text(
        "SELECT s.key, s.task_key, s.event_type, s.metric, s.variant, "
        f"s.max_iter, s.max_ts, s.has_null_iter, s.min_ts, NOT ({compact.NEVER_COMPACTED}) AS compacted "
        f"FROM series s JOIN {unnest} AS w(task_key, event_type, metric, variant) "
        "USING (task_key, event_type, metric, variant)"), params)
    return {(r.task_key, r.event_type, r.metric, r.variant):
            SeriesRef(r.key, r.max_iter, r.max_ts, r.has_null_iter, r.min_ts, r.compacted)
            for r in rows}


def _delete_twins(session: Session, table: str, keyed: list[tuple[int, int | None, Any]], with_key: bool,
                  span: timerange.Span) -> list[Any]:
    """Delete stored events that share (series, iter[, key]) with new ones; returns the deleted rows.
    `span` covers the stored events of their series (timerange.py: only those chunks are planned)."""
    deleted: list[Any] = []
    with_iter = [k for k in keyed if k[1] is not None]
    without_iter = [k for k in keyed if k[1] is None]
    key_match = " AND t.key IS NOT DISTINCT FROM c.key" if with_key else ""
    returning = "t.series_key, t.iter" + (", t.value" if table == "scalar_events" else "")
    if with_iter:
        deleted += timerange.delete(
            session, table, span, f"t.series_key = c.series_key AND t.iter = c.iter{key_match}",
            {"s": [k[0] for k in with_iter], "i": [k[1] for k in with_iter], "k": [k[2] for k in with_iter]},
            using="USING unnest(CAST(:s AS bigint[]), CAST(:i AS bigint[]), CAST(:k AS text[])) "
                  "AS c(series_key, iter, key)", returning=returning)
    if without_iter:
        deleted += timerange.delete(
            session, table, span, f"t.series_key = c.series_key AND t.iter IS NULL{key_match}",
            {"s": [k[0] for k in without_iter], "k": [k[2] for k in without_iter]},
            using="USING unnest(CAST(:s AS bigint[]), CAST(:k AS text[])) AS c(series_key, key)",
            returning=returning)
    return deleted


def _msg_digest(msg: Any) -> str | None:
    return None if msg is None else hashlib.md5(str(msg).encode()).hexdigest()


def _stored_log_twins(session: Session, task_key: int, candidates: list[Event]) -> set[tuple]:
    """(series, ts, worker, level, md5(msg)) of stored logs that candidate events might repeat."""
    return log_blocks.stored_twins(session, task_key, sorted({e.ts for e in candidates}))


def store(session: Session, company_key: int, events: list[Event], received_ms: int) -> StoreResult:
    """Store normalised events; events for unknown-to-company or locked tasks are refused, not stored."""
    result = StoreResult()
    tasks = lock_tasks(session, company_key, (e.task for e in events))
    accepted: list[tuple[TaskRef, Event]] = []
    for event in events:
        task = tasks.get(event.task)
        if task is None or (task.locked and not event.allow_locked):
            result.rejected_tasks[event.task] = result.rejected_tasks.get(event.task, 0) + 1
            result.rejected_types[event.type] = result.rejected_types.get(event.type, 0) + 1
        else:
            accepted.append((task, event))
    if not accepted:
        return result

    series = _series(session, company_key, {(t.key, e.type, e.metric, e.variant) for t, e in accepted})
    by_type: dict[str, list[tuple[TaskRef, SeriesRef, Event]]] = defaultdict(list)
    for task, event in accepted:
        by_type[event.type].append((task, series[(task.key, event.type, event.metric, event.variant)], event))

    stats: dict[int, dict[str, Any]] = {}
    raw = session.connection().connection.driver_connection
    for event_type, items in by_type.items():
        table, payload_cols = TABLES[event_type]
        twins: list[Any] = []  # stored rows replaced by re-sent events (for the scalar pre-aggregates)
        if event_type == "log":
            rows = _dedupe_logs(session, items)
        else:
            rows = _dedupe_metric_events(session, table, event_type, items, stats, result, twins)
        columns = ("company_key", "task_key", "series_key", "ts", "iter", "worker", "received") \
            + payload_cols + ("extra",)
        with raw.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for task, ser, e in rows:
                copy.write_row((company_key, task.key, ser.key, e.ts, e.iter, e.worker, received_ms,
                                *e.payload, None if e.extra is None else jsonutil.dumps(e.extra).decode()))
        if event_type == "training_stats_scalar":  # pre-aggregates: see db/queries/scalars.py
            scalar_queries.maintain_buckets(session, company_key,
                                            ((ser.key, e.iter, e.payload[0]) for _, ser, e in rows), twins,
                                            _span(items, extra_ts=[e.ts for _, _, e in rows]),
                                            compacted=any(ser.compacted for _, ser, _ in items))
        result.added += len(items)  # twins dropped or replaced were still acknowledged
        _collect_stats(stats, rows, event_type)

    _update_series(session, stats, received_ms)
    _update_tasks(session, accepted)
    return result


def _dedupe_metric_events(session: Session, table: str, event_type: str,
                          items: list[tuple[TaskRef, SeriesRef, Event]], stats: dict[int, dict[str, Any]],
                          result: StoreResult, twins: list[Any]) -> list[tuple[TaskRef, SeriesRef, Event]]:
    """Keep the last of repeated keys in the batch; delete stored twins of keys that may exist."""
    with_key = event_type == "training_debug_image"
    latest: dict[tuple, tuple[TaskRef, SeriesRef, Event]] = {}
    for item in items:
        ser, e = item[1], item[2]
        latest[(ser.key, e.iter, e.payload[0] if with_key else None)] = item
    candidates = [
        k for k, (_, ser, e) in latest.items()
        if (e.iter is None and ser.has_null_iter)
        or (e.iter is not None and ser.max_iter is not None and e.iter <= ser.max_iter)
    ]
    if candidates:
        wanted = {k[0] for k in candidates}
        if table == "scalar_events":  # a compacted twin becomes a row again, then is replaced as rows are
            compact.expand(session, [(k[0], k[1]) for k in candidates if k[1] is not None])
        deleted = _delete_twins(session, table, candidates, with_key,
                                _span([item for item in items if item[1].key in wanted]))
        twins.extend(deleted)
        result.replaced += len(deleted)
        for row in deleted:
            stats.setdefault(row.series_key, {}).setdefault("deleted", 0)
            stats[row.series_key]["deleted"] += 1
    return list(latest.values())


def _span(items: list[tuple[TaskRef, SeriesRef, Event]], extra_ts: list[int] | None = None) -> timerange.Span:
    """The stored time range of the items' series (as locked by this batch), widened by `extra_ts`, to
    whole chunks (the same text for a week of batches: planned once, timerange.Span.chunk_aligned)."""
    refs = {ser.key: ser for _, ser, _ in items}
    ranges = [(ser.min_ts, ser.max_ts, False) for ser in refs.values()]
    if extra_ts:
        ranges.append((min(extra_ts), max(extra_ts), True))
    return timerange.merge(ranges).chunk_aligned()


def _dedupe_logs(session: Session, items: list[tuple[TaskRef, SeriesRef, Event]]
                 ) -> list[tuple[TaskRef, SeriesRef, Event]]:
    """Drop logs repeated exactly (same series, time, worker, level and msg), in the batch or stored.

    Only events no later than the series' newest stored log can have a stored twin, so a
    task's ordinary, forward-moving log stream costs no lookup.
    """
    candidates: dict[int, list[Event]] = defaultdict(list)
    for task, ser, e in items:
        if ser.max_ts is not None and e.ts <= ser.max_ts:
            candidates[task.key].append(e)
    stored: set[tuple] = set()
    for task_key, events in candidates.items():
        stored |= _stored_log_twins(session, task_key, events)
    kept, seen = [], set()
    for task, ser, e in items:
        identity = (ser.key, e.ts, e.worker, e.payload[0], _msg_digest(e.payload[1]))
        if identity not in seen and identity not in stored:
            kept.append((task, ser, e))
        seen.add(identity)
    return kept


def _collect_stats(stats: dict[int, dict[str, Any]], rows: list[tuple[TaskRef, SeriesRef, Event]],
                   event_type: str) -> None:
    """Per-series figures of the stored rows: count, highest iteration and time, and for scalars
    min, max and the value at the greatest (iteration, time) - a missing iteration counts as 0."""
    scalar = event_type == "training_stats_scalar"
    for _, ser, e in rows:
        st = stats.setdefault(ser.key, {})
        st["count"] = st.get("count", 0) + 1
        if e.iter is None:
            st["null_iter"] = True
        elif st.get("max_iter") is None or e.iter > st["max_iter"]:
            st["max_iter"] = e.iter
        if st.get("max_ts") is None or e.ts > st["max_ts"]:
            st["max_ts"] = e.ts
        if st.get("min_ts") is None or e.ts < st["min_ts"]:
            st["min_ts"] = e.ts
        value = e.payload[0] if scalar else None
        if value is None:
            continue
        st["min"] = value if st.get("min") is None else min(st["min"], value)
        st["max"] = value if st.get("max") is None else max(st["max"], value)
        order = (e.iter or 0, e.ts)
        if st.get("last") is None or order >= st["last"][:2]:
            st["last"] = (*order, value)


def _update_series(session: Session, stats: dict[int, dict[str, Any]], received_ms: int) -> None:
    if not stats:
        return
    keys = sorted(stats)
    col = {name: [stats[k].get(name) for k in keys]
           for name in ("max_iter", "max_ts", "min_ts", "min", "max")}
    last = [stats[k].get("last") or (None, None, None) for k in keys]
    session.execute(text("""
        UPDATE series s SET
            max_iter = GREATEST(s.max_iter, u.max_iter),
            max_ts = GREATEST(s.max_ts, u.max_ts),
            min_ts = LEAST(s.min_ts, u.min_ts),
            has_null_iter = s.has_null_iter OR u.null_iter,
            event_count = s.event_count + u.added - u.deleted,
            min_value = LEAST(s.min_value, u.min_value),
            max_value = GREATEST(s.max_value, u.max_value),
            last_value = CASE WHEN u.last_iter IS NOT NULL AND (s.last_iter IS NULL
                OR (u.last_iter, u.last_ts) >= (s.last_iter, s.last_ts))
                THEN u.last_value ELSE s.last_value END,
            last_ts = CASE WHEN u.last_iter IS NOT NULL AND (s.last_iter IS NULL
                OR (u.last_iter, u.last_ts) >= (s.last_iter, s.last_ts))
                THEN u.last_ts ELSE s.last_ts END,
            last_iter = CASE WHEN u.last_iter IS NOT NULL AND (s.last_iter IS NULL
                OR (u.last_iter, u.last_ts) >= (s.last_iter, s.last_ts))
                THEN u.last_iter ELSE s.last_iter END,
            last_received = :received
        FROM unnest(CAST(:keys AS bigint[]), CAST(:max_iter AS bigint[]), CAST(:max_ts AS bigint[]),
                    CAST(:min_ts AS bigint[]), CAST(:null_iter AS boolean[]), CAST(:added AS bigint[]),
                    CAST(:deleted AS bigint[]),
                    CAST(:min AS float8[]), CAST(:max AS float8[]), CAST(:last_iter AS bigint[]),
                    CAST(:last_ts AS bigint[]), CAST(:last_value AS float8[]))
             AS u(key, max_iter, max_ts, min_ts, null_iter, added, deleted, min_value, max_value, last_iter,
                  last_ts,
                  last_value)
        WHERE s.key = u.key"""), {
        "keys": keys, "max_iter": col["max_iter"], "max_ts": col["max_ts"], "min_ts": col["min_ts"],
        "min": col["min"], "max": col["max"],
        "null_iter": [bool(stats[k].get("null_iter")) for k in keys],
        "added": [stats[k].get("count", 0) for k in keys],
        "deleted": [stats[k].get("deleted", 0) for k in keys],
        "last_iter": [x[0] for x in last], "last_ts": [x[1] for x in last],
        "last_value": [x[2] for x in last],
        "received": received_ms,
    })


def _update_tasks(session: Session, accepted: list[tuple[TaskRef, Event]]) -> None:
    """last_iteration only moves up (monitor metrics and events without iteration do not count)."""
    top: dict[int, int] = {}
    for task, e in accepted:
        current = top.setdefault(task.key, 0)
        if e.iter is not None and e.metric not in MONITOR_METRICS and e.iter > current:
            top[task.key] = e.iter
    keys = sorted(top)
    session.execute(text(
        "UPDATE tasks t SET last_iteration = GREATEST(t.last_iteration, u.top), last_update = now() "
        "FROM unnest(CAST(:keys AS bigint[]), CAST(:tops AS bigint[])) AS u(key, top) WHERE t.key = u.key"),
        {"keys": keys, "tops": [top[k] for k in keys]})
