"""Event normalisation: one raw event dict in, one storable Event out, or an EventError with a reason.

Pure (no Flask, no SQL). Applies the contract's rules in ClearML's order: type (spaces become
underscores), task, schema validation of that type's definition, legacy fields (`ts`, `values`),
server timestamp and worker, metric/variant defaults, finiteness and int64 range checks.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

from events_service.api.body import unstorable

EVENT_TYPES = ("training_stats_scalar", "training_stats_vector", "training_debug_image", "plot", "log")
INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)
# Epoch-ms bounds that PostgreSQL can turn into a timestamptz (4713 BC .. 294276 AD, kept well inside).
TS_MIN, TS_MAX = -210_000_000_000_000, 9_000_000_000_000_000
# Most UTF-8 bytes of a task id, and of metric + variant together: they are keys of unique btree
# indexes (tasks.id; series (task_key, event_type, metric, variant)), whose entries PostgreSQL caps
# at 2,704 bytes ("index row size exceeds maximum", once a 503 the SDK would retry forever).
# MAX_NAME_LENGTH (characters) alone cannot ensure it: 4,096 characters may be 16 KiB.
KEY_BYTES = 2400
# Metrics whose iterations do not move the task's last_iteration (resource monitoring).
MONITOR_METRICS = frozenset({":monitor:machine", ":monitor:gpu"})

COMMON_FIELDS = frozenset({"timestamp", "ts", "@timestamp", "type", "task", "iter", "metric", "variant",
                           "worker"})
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


@dataclass(frozen=True)
class Limits:
    """Size limits per event (config keys MAX_NAME_LENGTH, MAX_MSG_LENGTH, MAX_PLOT_LENGTH)."""

    name: int = 4096          # metric, variant, worker, key, url: characters
    msg: int = 4 * 1024**2    # log msg: characters (the SDK cuts its messages at 1 MiB)
    plot: int = 16 * 1024**2  # plot_str: characters


DEFAULT_LIMITS = Limits()


def _finite(value: Any, field: str) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise EventError(f"Invalid value for field '{field}': NaN and Infinity are not allowed")


_NOT_EXTRA = {t: COMMON_FIELDS | TRANSPORT_FIELDS | set(f) | {"values"} for t, f in PAYLOAD_FIELDS.items()}
_NUMBER = (int, float)
_NUMERIC = ("training_stats_scalar", "training_stats_vector")


def _number_or_none(value: Any, field: str) -> float | None:
    if value is None:
        return None
    if type(value) is bool or not isinstance(value, _NUMBER):
        raise EventError(f"Invalid value for field '{field}': expected a number")
    _finite(value, field)
    try:
        return float(value)
    except OverflowError:  # an integer literal of hundreds of digits: no double holds it
        raise EventError(f"Invalid value for field '{field}': out of range (beyond a double)")


def _check_length(value: Any, field: str, limit: int) -> None:
    if isinstance(value, str) and len(value) > limit:
        raise EventError(f"Invalid value for field '{field}': longer than {limit} characters")


def normalize(raw: dict[str, Any], *, validate: Validate, worker: str, now_ms: int,
              limits: Limits = DEFAULT_LIMITS) -> Event:
    """Turn one raw event into an Event; `validate(type, event)` returns a schema error text or None.

    Runs once per ingested event (the hot path of add_batch): it reads the raw dict without
    copying it, and only the fields the event type has.
    """
    event_type = raw.get("type")
    if event_type is None:
        raise EventError("Event must have a 'type' field", "missing")
    if type(event_type) is not str or event_type not in PAYLOAD_FIELDS:  # a list or dict: unhashable
        if not isinstance(event_type, str) or event_type.replace(" ", "_") not in PAYLOAD_FIELDS:
            raise EventError(f"Invalid event type {str(event_type)[:100]}")
        event_type = event_type.replace(" ", "_")
        raw = dict(raw, type=event_type)
    task = raw.get("task")
    if task is None or task == "":
        raise EventError("Event must have a 'task' field", "missing")
    if type(task) is str and len(task) > KEY_BYTES // 4 and len(task.encode("utf-8", "replace")) > KEY_BYTES:
        raise EventError(f"Invalid value for field 'task': longer than {KEY_BYTES} bytes (UTF-8)")
    problem = validate(event_type, raw)
    if problem:
        raise EventError(problem)

    ts = raw["ts"] if "ts" in raw else raw.get("timestamp")
    if ts is None:
        ts = now_ms
    else:
        if type(ts) is bool or not isinstance(ts, _NUMBER):
            raise EventError("Invalid value for field 'timestamp': expected epoch milliseconds")
        _finite(ts, "timestamp")
        if not TS_MIN <= ts <= TS_MAX:
            raise EventError("Invalid value for field 'timestamp': expected epoch milliseconds")
        ts = int(ts) if type(ts) is int else int(math.floor(ts))

    iteration = raw.get("iter")
    if iteration is not None:
        # Not every event type's schema defines `iter` (log does not): its type is checked here.
        integral = type(iteration) is float and math.isfinite(iteration) and iteration.is_integer()
        if type(iteration) is not int and not integral:
            raise EventError("Invalid value for field 'iter': expected an integer")
        iteration = int(iteration)
        if not INT64_MIN <= iteration <= INT64_MAX:
            raise EventError(f"Invalid value for field 'iter': out of range (a 64-bit integer is expected: "
                             f"{INT64_MIN} to {INT64_MAX})")

    metric = raw.get("metric") or ""
    variant = raw.get("variant") or ""
    if type(metric) is not str or type(variant) is not str:
        raise EventError("Invalid value for fields 'metric'/'variant': expected strings")
    if len(metric) > limits.name or len(variant) > limits.name:
        _check_length(metric, "metric", limits.name)
        _check_length(variant, "variant", limits.name)
    if len(metric) + len(variant) > KEY_BYTES // 4 and \
            len(metric.encode("utf-8", "replace")) + len(variant.encode("utf-8", "replace")) > KEY_BYTES:
        raise EventError(f"Invalid value for fields 'metric'/'variant': longer than {KEY_BYTES} bytes "
                         "(UTF-8) together")
    event_worker = raw["worker"] if "worker" in raw else worker
    if event_worker is not None and type(event_worker) is not str:  # was stored as its str(): changed
        raise EventError("Invalid value for field 'worker': expected a string")
    _check_length(event_worker, "worker", limits.name)

    payload: tuple[Any, ...]
    if event_type == "training_stats_scalar":
        payload = (_number_or_none(raw.get("value"), "value"),)
    elif event_type == "training_stats_vector":
        values = raw["values"] if "values" in raw else raw.get("value")
        if values is not None:
            if not isinstance(values, list):
                raise EventError("Invalid value for field 'values': expected an array of numbers")
            values = [_number_or_none(v, "values") for v in values]
            if None in values:
                raise EventError("Invalid value for field 'values': expected an array of numbers")
        payload = (values,)
    else:
        payload = tuple(raw.get(f) for f in PAYLOAD_FIELDS[event_type])
        if event_type == "log":
            _check_length(payload[1], "msg", limits.msg)
        elif event_type == "plot":
            _check_length(payload[0], "plot_str", limits.plot)
        else:
            _check_length(payload[0], "key", limits.name)
            _check_length(payload[1], "url", limits.name)

    not_extra = _NOT_EXTRA[event_type]
    extra = None
    # Most events have only known fields (a set comparison in C). A count of fields ("more than
    # four") dropped the one field a client added to a log event of type, task and msg.
    if not raw.keys() <= not_extra:
        extra = {k: v for k, v in raw.items() if k not in not_extra}
    for name, text in (("task", task), ("metric", metric), ("variant", variant),
                       ("worker", event_worker)):
        if type(text) is str and "\x00" in text:
            raise EventError(f"Invalid value for field '{name}': "
                             "text must not contain NUL (\\u0000) characters")
    if event_type not in _NUMERIC or extra:
        problem = unstorable({**dict(zip(PAYLOAD_FIELDS[event_type], payload)), **(extra or {})})
        if problem is not None:
            raise EventError(f"Invalid value for {problem}")
    return Event(
        type=event_type, task=str(task), iter=iteration, metric=metric, variant=variant, ts=ts,
        worker=event_worker, payload=payload, extra=extra,
        allow_locked=bool(raw.get("allow_locked")),
    )
