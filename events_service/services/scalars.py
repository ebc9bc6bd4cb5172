"""Handlers for scalar and vector analytics: histograms, latest values, listings, per-metric scroll.

Shapes follow the contract; where the schema leaves them open, the real server's (spec §2.6,
§2.13-§2.19). Metrics and variants are sorted by name. Downsampling happens in the database
(db/queries/scalars.py); the arithmetic that plans it is in events_service/sampling.py.
"""
from __future__ import annotations

from typing import Any

from events_service import errors, sampling, scalar_json
from events_service.api.call import Call
from events_service.api.registry import endpoint
from events_service.db.queries import events as event_queries
from events_service.db.queries import scalars as scalar_queries
from events_service.db.queries import tasks
from events_service.db.queries.scalars import SCALAR, VECTOR, Curve
from events_service.services import paging


def _samples(req: dict[str, Any]) -> int:
    samples = req.get("samples")
    if samples is None:
        return sampling.DEFAULT_SAMPLES
    if samples < 0:
        raise errors.ValidationError(f"field 'samples': {samples} is less than the minimum of 0 "
                                     "(0 = every point)")
    return samples


def _points(curve: Curve, key: str) -> dict[str, Any]:
    x = [event_queries.iso_ms(v) for v in curve.x] if key == "iso_time" else curve.x
    points: dict[str, Any] = {"x": x, "y": curve.y}
    if curve.y_min is not None:
        points["y_min"], points["y_max"] = curve.y_min, curve.y_max
    return points


def _task_list(call: Call, req: dict[str, Any], limit: int | None = None) -> list[str]:
    ids = req["tasks"]
    if not ids:
        raise errors.ValidationError("field 'tasks': at least one task id is required")
    if limit is not None and len(set(ids)) > limit:
        raise errors.ValidationError(f"field 'tasks': up to {limit} tasks are supported in one call, "
                                     f"got {len(set(ids))}")
    return ids


@endpoint("events.scalar_metrics_iter_histogram", "2.1", reads_only=True)
def scalar_metrics_iter_histogram(call: Call, req: dict[str, Any]) -> dict[str, Any]:
    """{metric: {variant: {name, x, y[, y_min, y_max]}}} of one task, downsampled to `samples` per series."""
    samples, key = _samples(req), req.get("key") or "iter"
    _task, series, _count = scalar_queries.task_series(call.db, call.company_key, req["task"], SCALAR)
    curves = scalar_queries.histograms(call.db, series, samples, key)
    result: dict[str, Any] = {}
    for s in series:
        if s.key in curves:
            result.setdefault(s.metric, {})[s.variant] = {"name": s.variant, **_points(curves[s.key], key)}
    return result


@endpoint("events.multi_task_scalar_metrics_iter_histogram", "2.1", reads_only=True)
def multi_task_scalar_metrics_iter_histogram(call: Call, req: dict[str, Any]) -> dict[str, Any]:
    """{metrics: {metric: {variant: {task id: {name: task name, x, y[, y_min, y_max]}}}}} for several
    tasks."""
    samples, key = _samples(req), req.get("key") or "iter"
    ids = list(dict.fromkeys(_task_list(call, req, call.config["MAX_TASKS_PER_MULTI_TASK_CALL"])))
    found = tasks.require_many(call.db, call.company_key, ids)
    by_key = {found[t].key: found[t] for t in ids}
    order = {found[t].key: n for n, t in enumerate(ids)}
    series = sorted(scalar_queries.series_of(call.db, list(by_key), SCALAR),
                    key=lambda s: (s.metric, s.variant, order[s.task_key]))
    curves = scalar_queries.histograms(call.db, series, samples, key)
    metrics: dict[str, Any] = {}
    for s in series:
        if s.key in curves:
            task = by_key[s.task_key]
            metrics.setdefault(s.metric, {}).setdefault(s.variant, {})[task.id] = {
                "name": task.name, **_points(curves[s.key], key)}
    return {"metrics": metrics}


@endpoint("events.get_task_latest_scalar_values", "2.1", reads_only=True)
def get_task_latest_scalar_values(call: Call, req: dict[str, Any]) -> dict[str, Any]:
    """Per metric and variant: the value at the highest iteration and the mean of the last 100."""
    latest = scalar_queries.latest_values(call.db, call.company_key, req["task"])
    metrics: list[dict[str, Any]] = []
    for metric, variant, last, mean in latest.values:
        if not metrics or metrics[-1]["name"] != metric:
            metrics.append({"name": metric, "variants": []})
        metrics[-1]["variants"].append({"name": variant, "last_value": last, "last_100_value": mean})
    return {"metrics": metrics, "last_iter": latest.last_iter, "name": latest.task.name,
            "status": latest.task.status, "last_timestamp": float(latest.last_received)}


def _variants_by_metric(call: Call, task_id: str, event_type: str) -> dict[str, list[str]]:
    _task, series, _count = scalar_queries.task_series(call.db, call.company_key, task_id, event_type)
    metrics: dict[str, list[str]] = {}
    for s in series:
        metrics.setdefault(s.metric, []).append(s.variant)
    return metrics


@endpoint("events.get_scalar_metrics_and_variants", "2.1", reads_only=True)
def get_scalar_metrics_and_variants(call: Call, req: dict[str, Any]) -> dict[str, Any]:
    """{metrics: {metric: [variants]}} over the task's scalars (single-value iteration included)."""
    return {"metrics": _variants_by_metric(call, req["task"], SCALAR)}


@endpoint("events.get_vector_metrics_and_variants", "2.1", reads_only=True)
def get_vector_metrics_and_variants(call: Call, req: dict[str, Any]) -> dict[str, Any]:
    """{metrics: [{metric, variants}]} over the task's vectors: an array, as the schema types it."""
    metrics = _variants_by_metric(call, req["task"], VECTOR)
    return {"metrics": [{"metric": m, "variants": v} for m, v in metrics.items()]}


@endpoint("events.get_task_metrics", "2.7", reads_only=True)
def get_task_metrics(call: Call, req: dict[str, Any]) -> dict[str, Any]:
    """Per requested task (request order, duplicates kept): its metric names of the type, or of all types."""
    ids = _task_list(call, req)
    found = tasks.require_many(call.db, call.company_key, ids)
    names = scalar_queries.metric_names(call.db, sorted({t.key for t in found.values()}),
                                        req.get("event_type"))
    return {"metrics": [{"task": t, "metrics": names[found[t].key]} for t in ids]}


def _required_string(req: dict[str, Any], *fields: str) -> None:
    missing = [f for f in fields if f not in req or req[f] is None]
    if missing:
        raise errors.MissingRequiredFields(missing=missing)
    for f in fields:
        if not isinstance(req[f], str):
            raise errors.ValidationError(f"field '{f}': {req[f]!r} is not of type 'string'")


# Variant names longer in all than this stay out of a metric-data token (every request would carry
# them): the token then holds the task key, and each page looks the names up.
FROZEN_VARIANTS_MAX_CHARS = 2048


def _frozen_series(call: Call, req: dict[str, Any], position: paging.Position) -> dict[int, tuple[str, str]]:
    """series key -> (metric, variant) of the metric's series, as the scroll's first page found them.

    The first page looks the task and the series up and counts their events (position.total); the
    token keeps the series, so a later page reads its events and nothing else (that round trip was
    7% of the worker's time on 10,000-event pages, py-spy). A variant reported meanwhile is in
    neither this scroll's events nor its total.
    """
    metric = position.query["metric"]
    if "series" not in position.query:  # the first page (or a token of a version that did not freeze them)
        task, series, count = scalar_queries.task_series(call.db, call.company_key, req["task"], SCALAR,
                                                         metric=metric)
        frozen: dict[str, Any] = {"series": [s.key for s in series]}
        if sum(len(s.variant) for s in series) <= FROZEN_VARIANTS_MAX_CHARS:
            frozen["variants"] = [s.variant for s in series]
        else:
            frozen["task_key"] = task.key
        position.query = {**position.query, **frozen}
        position.total = count if position.total is None else position.total
    keys = position.query["series"]
    if "variants" in position.query:
        return {key: (metric, variant) for key, variant in zip(keys, position.query["variants"])}
    known = event_queries.series_names(call.db, position.query["task_key"], SCALAR)
    return {key: known.get(key, (metric, "")) for key in keys}


@endpoint("events.get_scalar_metric_data", "2.1", reads_only=True)
def get_scalar_metric_data(call: Call, req: dict[str, Any]) -> dict[str, Any]:
    """Scroll through one metric's scalar events (all variants), by iteration descending; the token
    freezes the metric's series and the total (_frozen_series)."""
    _required_string(req, "task", "metric")
    scroll_id, batch_size = req.get("scroll_id"), req.get("batch_size")
    if scroll_id is not None and not isinstance(scroll_id, str):
        raise errors.ValidationError(f"field 'scroll_id': {scroll_id!r} is not of type 'string'")
    if batch_size is not None and (not isinstance(batch_size, int) or isinstance(batch_size, bool)):
        raise errors.ValidationError(f"field 'batch_size': {batch_size!r} is not of type 'integer'")
    bind = {"task": req["task"]}
    try:
        position = paging.open_scroll(call, scroll_id, bind=bind, batch_size=batch_size,
                                      query={"metric": req["metric"]})
    except errors.ApiError:
        tasks.require(call.db, call.company_key, req["task"])  # an unknown task is told first (as ClearML)
        raise
    names = _frozen_series(call, req, position)
    after = tuple(position.after) if position.after else None
    rows = scalar_queries.page_by_iter(call.db, list(names), after, position.size)
    page = scalar_json.page(rows, req["task"], names)
    total = position.total
    return {"events": page.events, "returned": page.returned, "total": total,
            "scroll_id": paging.next_token(call, position, bind=bind, after=page.last, total=total)}


@endpoint("events.vector_metrics_iter_histogram", "2.1", reads_only=True)
def vector_metrics_iter_histogram(call: Call, req: dict[str, Any]) -> dict[str, Any]:
    """{metric, variant, vectors, iterations} of one vector series, by iteration (first 10000)."""
    _task, series, _count = scalar_queries.task_series(call.db, call.company_key, req["task"], VECTOR,
                                                       metric=req["metric"], variant=req["variant"])
    iterations: list[int] = []
    vectors: list[list[float]] = []
    if series:
        iterations, vectors = scalar_queries.vector_points(call.db, series[0].key)
    return {"metric": req["metric"], "variant": req["variant"], "vectors": vectors, "iterations": iterations}
