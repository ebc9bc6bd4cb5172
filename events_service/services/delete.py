"""delete_for_task 2.1: remove every event of one of the caller's tasks."""
from __future__ import annotations

from typing import Any

from events_service import errors
from events_service.api.call import Call
from events_service.api.registry import endpoint
from events_service.db.queries import delete as delete_queries
from events_service.db.queries import tasks

LOCKED_STATUSES = ("publishing", "published")


@endpoint("events.delete_for_task", "2.1")
def delete_for_task(call: Call, req: dict[str, Any]) -> dict[str, Any]:
    """Delete all events of the task; a published (or publishing) task only with `allow_locked`.

    `deleted` is a boolean as the schema types it (true when events were removed) and
    `deleted_count` the number removed (the contract).
    """
    task = tasks.require(call.db, call.company_key, req["task"])
    status = delete_queries.lock_status(call.db, task.key)
    if status in LOCKED_STATUSES and not req.get("allow_locked"):
        raise errors.InvalidTaskId("or task published", company=call.company_id, id=task.id)
    count = delete_queries.delete_events(call.db, task.key)
    return {"deleted": count > 0, "deleted_count": count}
