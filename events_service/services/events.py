"""Handlers of the `events` service: thin adapters from validated requests to queries."""
from __future__ import annotations

from typing import Any

from events_service import errors
from events_service.api.call import Call
from events_service.api.registry import endpoint
from events_service.db.queries import events as event_queries
from events_service.db.queries import tasks
from events_service.ingest import Outcome, ingest, schema_validator
from events_service.normalize import Limits
from events_service.services import paging


def _ingest(call: Call, raw_events: list[dict[str, Any]]) -> Outcome:
    api = call.api
    item_schema = api.batch_item_schema(
        api.endpoints["events.add_batch"][max(api.endpoints["events.add_batch"])])
    validate = schema_validator(api.event_validators(item_schema))
    limits = Limits(name=call.config["MAX_NAME_LENGTH"], msg=call.config["MAX_MSG_LENGTH"],
                    plot=call.config["MAX_PLOT_LENGTH"])
    call.outcome = ingest(call.db, call.company_key, raw_events, validate=validate, worker=call.worker,
                          limits=limits)
    return call.outcome


def _counts(outcome: Outcome) -> dict[str, Any]:
    return {"added": outcome.added, "errors": outcome.error_count, "errors_info": dict(outcome.errors)}


@endpoint("events.add", "2.1", validates_itself=True)
def add(call: Call, req: dict[str, Any]) -> dict[str, Any]:
    """Add one event (validated per event, like each line of add_batch)."""
    outcome = _ingest(call, [req])
    if outcome.errors:
        reason = next(iter(outcome.errors))
        kind = outcome.kinds[reason]
        if kind == "task":
            raise errors.InvalidTaskId(ids=outcome.invalid_tasks)
        if kind == "missing":
            raise errors.MissingRequiredFields(reason)
        raise errors.ValidationError(reason.removeprefix("Validation error (").removesuffix(")"))
    return _counts(outcome)


@endpoint("events.add_batch", "2.1")
def add_batch(call: Call, req: dict[str, Any]) -> dict[str, Any]:
    """Add json-lines events: invalid ones are skipped and counted; 400 when none was stored."""
    if not call.batch:
        raise errors.BatchContainsNoItems()
    if len(call.batch) > call.config["MAX_EVENTS_PER_BATCH"]:
        raise errors.ValidationError(f"batch of {len(call.batch)} events; at most "
                                     f"{call.config['MAX_EVENTS_PER_BATCH']} per request "
                                     "(MAX_EVENTS_PER_BATCH)")
    outcome = _ingest(call, call.batch)
    if not outcome.added:
        if set(outcome.kinds.values()) == {"task"}:
            raise errors.InvalidTaskId(ids=outcome.invalid_tasks)
        raise errors.EventsNotAdded(**dict(outcome.errors))
    return _counts(outcome)


@endpoint("events.get_task_events", "2.1", reads_only=True)
def get_task_events(call: Call, req: dict[str, Any]) -> dict[str, Any]:
    """Scroll through a task's events by timestamp (asc by default), all types or one."""
    task = tasks.require(call.db, call.company_key, req["task"])
    bind = {"task": task.id}
    position = paging.open_scroll(call, req.get("scroll_id"), bind=bind, batch_size=req.get("batch_size"),
                                  query={"order": req.get("order") or "asc",
                                         "event_type": req.get("event_type")})
    event_type = position.query["event_type"]
    types = [event_type] if event_type else list(event_queries.EVENT_TYPES)
    types = [t for t in types if t in event_queries.SOURCES]  # an unknown type matches nothing
    total = position.total
    if total is None:
        total = event_queries.count(call.db, task.key, types) if types else 0
    rows = event_queries.page_by_time(
        call.db, task.key, types, descending=position.query["order"] == "desc",
        after=tuple(position.after) if position.after else None, limit=position.size) if types else []
    names = event_queries.series_names(call.db, task.key) if rows else {}
    documents = [event_queries.to_document(t, row, task.id, names) for t, row in rows]
    last = [rows[-1][1].ts, rows[-1][1].id] if rows else None
    return {"events": documents, "returned": len(documents), "total": total,
            "scroll_id": paging.next_token(call, position, bind=bind, after=last, total=total)}
