"""Ingestion: normalise each raw event, count the invalid ones by reason, store the rest in one go."""
from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterable

import fastjsonschema
from jsonschema import Draft7Validator
from jsonschema.exceptions import best_match
from sqlalchemy.orm import Session

from events_service.api.schema import null_is_absent
from events_service.db.queries import ingest as store_queries
from events_service.normalize import DEFAULT_LIMITS, EVENT_TYPES, EventError, Limits, Validate, normalize


@dataclass
class Outcome:
    added: int = 0
    errors: Counter = field(default_factory=Counter)
    kinds: dict[str, str] = field(default_factory=dict)     # reason -> "validation" | "missing" | "task"
    invalid_tasks: list[str] = field(default_factory=list)
    added_by_type: Counter = field(default_factory=Counter)    # event type -> events stored (for metrics)
    refused_by_type: Counter = field(default_factory=Counter)  # event type (or "unknown") -> refused

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())


def schema_validator(branches: dict[str, Draft7Validator]) -> Validate:
    """validate(type, event) -> None, or a message naming the first offending field.

    Both checks come from the same schema branch: fastjsonschema's generated code accepts a
    valid event in ~2 us (jsonschema needs ~60 us, a quarter of the whole ingest budget);
    jsonschema stays the authority whenever the fast check fails, and words the message.
    """
    fast = {event_type: _fast(validator) for event_type, validator in branches.items()}
    # Known optional fields sent as null are absent (normalize reads them so); the fast check
    # says no to them, and only then are they left out.
    optional = {event_type: _optional(validator) for event_type, validator in branches.items()}

    def validate(event_type: str, event: dict[str, Any]) -> str | None:
        try:
            fast[event_type](event)
            return None
        except fastjsonschema.JsonSchemaException:
            pass
        if None in event.values():
            event = {k: v for k, v in event.items() if v is not None or k not in optional[event_type]}
            try:
                fast[event_type](event)
                return None
            except fastjsonschema.JsonSchemaException:
                pass
        error = best_match(branches[event_type].iter_errors(event))
        if error is None:
            return None
        where = ".".join(str(p) for p in error.absolute_path)
        return (f"Validation error (field '{where}': {error.message})" if where
                else f"Validation error ({error.message})")

    return validate


_compiled: dict[int, Any] = {}
_optional_fields: dict[int, frozenset[str]] = {}


def _fast(validator: Draft7Validator) -> Any:
    """fastjsonschema code for a validator's schema, compiled once per process."""
    key = id(validator)
    if key not in _compiled:
        _compiled[key] = fastjsonschema.compile(validator.schema)
    return _compiled[key]


def _optional(validator: Draft7Validator) -> frozenset[str]:
    """The event's optional fields whose schema refuses null, worked out once per process (it
    walks the schema: 1.6 ms, when a whole batch of 1,000 events takes about 60)."""
    key = id(validator)
    if key not in _optional_fields:
        _optional_fields[key] = null_is_absent(validator.schema, validator.schema.get("definitions", {}))
    return _optional_fields[key]


def ingest(session: Session, company_key: int, raw_events: Iterable[dict[str, Any]], *,
           validate: Validate, worker: str, limits: Limits = DEFAULT_LIMITS) -> Outcome:
    """Store every valid event; the invalid ones are skipped and counted by reason."""
    now_ms = int(time.time() * 1000)
    outcome = Outcome()
    events = []
    for raw in raw_events:
        try:
            events.append(normalize(raw, validate=validate, worker=worker, now_ms=now_ms, limits=limits))
        except EventError as exc:
            outcome.errors[exc.reason] += 1
            outcome.kinds[exc.reason] = exc.kind
            outcome.refused_by_type[_type_label(raw)] += 1
    if events:
        stored = store_queries.store(session, company_key, events, now_ms)
        outcome.added = stored.added
        for task_id, count in stored.rejected_tasks.items():
            reason = f"Invalid task id {task_id}"
            outcome.errors[reason] += count
            outcome.kinds[reason] = "task"
            outcome.invalid_tasks.append(task_id)
        outcome.refused_by_type.update(stored.rejected_types)
        outcome.added_by_type = Counter(e.type for e in events)
        outcome.added_by_type.subtract(stored.rejected_types)
    return outcome


def _type_label(raw: Any) -> str:
    """The event type of a refused raw event as normalize reads it, or "unknown" (a bounded label)."""
    event_type = raw.get("type") if isinstance(raw, dict) else None
    event_type = event_type.replace(" ", "_") if isinstance(event_type, str) else None
    return event_type if event_type in EVENT_TYPES else "unknown"
