"""Event normalisation: one raw event dict in, one storable Event out, or an EventError with a reason.

Pure (no Flask, no SQL). Applies the contract's rules in ClearML's order: type (spaces become
underscores), task, schema validation of that type's definition, legacy fields (`ts`, `values`),
server timestamp and worker, metric/variant defaults, finiteness and int64 range checks.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

EVENT_TYPES = ("training_stats_scalar", "training_stats_vector", "training_debug_image", "plot", "log")
INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)
# Epoch-ms bounds that PostgreSQL can turn into a timestamptz (4713 BC .. 294276 AD, kept well inside).
TS_MIN, TS_MAX = -210_000_000_000_000, 9_000_000_000_000_000
# Metrics whose iterations do not move the task's last_iteration (resource monitoring).
MONITOR_METRICS = frozenset({":monitor:machine", ":monitor:gpu"})

COMMON_FIELDS = frozenset({"timestamp", "ts", "@timestamp", "type", "task", "iter", "metric", "variant", "worker"})
# Request flags, not event data: the SDK adds `method` to every line, 2.23+ adds the others.
TRANSPORT_FIELDS = frozenset({"method", "allow_locked", "model_event"})
PAYLOAD_FIELDS = {
    "training_stats_scalar": ("value",),
    "training_stats_vector": ("value",),
    "training_debug_image": ("key", "url"),
    "plot": ("plot_str",),
    "log": ("level", "msg"),
}


class EventError(Exception):
    """An event that cannot be stored; `reason` is the errors_info key, `kind` picks the HTTP error."""

    def __init__(self, reason: str, kind: str = "validation"):
        super().__init__(reason)
        self.reason = reason
        self.kind = kind  # "validation" | "missing" | "task"


@dataclass(slots=True)
class Event:
    type: str
    task: str
    iter: int | None
    metric: str
    variant: str
    ts: int
    worker: str | None
    payload: tuple[Any, ...]
    extra: dict[str, Any] | None
    allow_locked: bool


Validate = Callable[[str, dict[str, Any]], str | None]


def _finite(value: Any, field: str) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise EventError(f"Invalid value for field '{field}': NaN and Infinity are not allowed")


def normalize(raw: dict[str, Any], *, validate: Validate, worker: str, now_ms: int) -> Event:
    """Turn one raw event into an Event; `validate(type, event)` returns a schema error text or None."""
    event_type = raw.get("type")
    if event_type is None:
        raise EventError("Event must have a 'type' field", "missing")
    if not isinstance(event_type, str) or event_type.replace(" ", "_") not in EVENT_TYPES:
        raise EventError(f"Invalid event type {event_type}")
    event_type = event_type.replace(" ", "_")
    task = raw.get("task")
    if task is None or task == "":
        raise EventError("Event must have a 'task' field", "missing")
    event = dict(raw, type=event_type)
    problem = validate(event_type, event)
    if problem:
        raise EventError(problem)

    if "ts" in event:
        event["timestamp"] = event["ts"]
    ts = event.get("timestamp")
    if ts is None:
        ts = now_ms
    else:
        _finite(ts, "timestamp")
        if not isinstance(ts, (int, float)) or isinstance(ts, bool) or not TS_MIN <= ts <= TS_MAX:
            raise EventError("Invalid value for field 'timestamp': expected epoch milliseconds")
        ts = int(math.floor(ts))

    iteration = event.get("iter")
    if iteration is not None:
        iteration = int(iteration)
        if not INT64_MIN <= iteration <= INT64_MAX:
            raise EventError(f"Iteration number should not exceed {INT64_MAX}")

    metric = event.get("metric") or ""
    variant = event.get("variant") or ""
    if not isinstance(metric, str) or not isinstance(variant, str):
        raise EventError("Invalid value for fields 'metric'/'variant': expected strings")
    event_worker = event["worker"] if "worker" in event else worker

    if event_type == "training_stats_vector" and "values" in event:
        event["value"] = event.pop("values")
    payload_fields = PAYLOAD_FIELDS[event_type]
    payload = tuple(event.get(f) for f in payload_fields)
    if event_type == "training_stats_scalar":
        value = payload[0]
        _finite(value, "value")
        if value is not None and (not isinstance(value, (int, float)) or isinstance(value, bool)):
            raise EventError("Invalid value for field 'value': expected a number")
        payload = (None if value is None else float(value),)
    elif event_type == "training_stats_vector":
        values = payload[0]
        if values is not None:
            if not isinstance(values, list) or not all(
                    isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
                raise EventError("Invalid value for field 'values': expected an array of numbers")
            for v in values:
                _finite(v, "values")
            payload = ([float(v) for v in values],)

    skip = COMMON_FIELDS | TRANSPORT_FIELDS | set(payload_fields) | {"values"}
    extra = {k: v for k, v in event.items() if k not in skip} or None
    if extra:
        for k, v in extra.items():
            _finite(v, k)
    return Event(
        type=event_type, task=str(task), iter=iteration, metric=metric, variant=variant, ts=ts,
        worker=event_worker if event_worker is None else str(event_worker), payload=payload, extra=extra,
        allow_locked=bool(event.get("allow_locked")),
    )
