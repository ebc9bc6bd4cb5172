"""normalize(): ClearML's normalisation rules on single events (no database)."""
from __future__ import annotations

import pytest

from events_service.normalize import EventError, normalize


def run(raw, worker="w"):
    return normalize(raw, validate=lambda t, e: None, worker=worker, now_ms=777)


def test_defaults_are_filled_in():
    event = run({"type": "log", "task": "t", "msg": "m"})
    assert (event.ts, event.worker, event.metric, event.variant, event.iter) == (777, "w", "", "", None)
    assert event.payload == (None, "m")


def test_present_worker_is_kept_even_when_null():
    assert run({"type": "log", "task": "t", "worker": None}).worker is None


def test_float_iteration_and_timestamp_are_truncated():
    event = run({"type": "training_stats_scalar", "task": "t", "iter": 5.0, "timestamp": 10.9, "value": 1})
    assert (event.iter, event.ts, event.payload) == (5, 10, (1.0,))


def test_vector_values_become_value():
    event = run({"type": "training_stats_vector", "task": "t", "values": [1, 2.5]})
    assert event.payload == ([1.0, 2.5],)


def test_transport_fields_are_dropped_and_others_kept():
    event = run({"type": "plot", "task": "t", "plot_str": "{}", "method": "get", "allow_locked": True,
                 "x": 1})
    assert event.extra == {"x": 1}
    assert event.allow_locked is True


@pytest.mark.parametrize("raw,reason", [
    ({"task": "t"}, "Event must have a 'type' field"),
    ({"type": "bad", "task": "t"}, "Invalid event type bad"),
    ({"type": "log"}, "Event must have a 'task' field"),
    ({"type": "log", "task": ""}, "Event must have a 'task' field"),
    ({"type": "training_stats_scalar", "task": "t", "value": float("inf")}, "NaN and Infinity"),
    ({"type": "training_stats_vector", "task": "t", "values": [1, float("nan")]}, "NaN and Infinity"),
    ({"type": "training_stats_scalar", "task": "t", "timestamp": float("nan")}, "NaN and Infinity"),
    ({"type": "training_stats_scalar", "task": "t", "timestamp": 1e30}, "epoch milliseconds"),
    ({"type": "training_stats_scalar", "task": "t", "iter": -(2**63) - 1}, "field 'iter': out of range"),
])
def test_invalid_events_raise_with_a_reason(raw, reason):
    with pytest.raises(EventError, match=reason.replace("(", r"\(")):
        run(raw)


def test_schema_problem_is_the_reason():
    with pytest.raises(EventError, match="boom"):
        normalize({"type": "log", "task": "t"}, validate=lambda t, e: "boom", worker="w", now_ms=1)
