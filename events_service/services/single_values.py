"""events.get_task_single_value_metrics 2.20: what Task.get_reported_single_values() reads."""
from __future__ import annotations

from typing import Any

from events_service import errors
from events_service.api.call import Call
from events_service.api.registry import endpoint
from events_service.db.queries import single_values


@endpoint("events.get_task_single_value_metrics", "2.20", reads_only=True)
def get_task_single_value_metrics(call: Call, req: dict[str, Any]) -> dict[str, Any]:
    """Per task (request order), its single values; an unknown or another company's task is 400/101."""
    found = single_values.by_task(call.db, call.company_key, req["tasks"])
    missing = [t for t in req["tasks"] if t not in found]
    if missing:
        raise errors.InvalidTaskId(ids=missing)
    return {"tasks": [
        {"task": task_id, "values": [{"metric": v.metric, "variant": v.variant, "value": v.value,
                                      "timestamp": v.timestamp, "iter": single_values.SINGLE_VALUE_ITER}
                                     for v in found[task_id]]}
        for task_id in dict.fromkeys(req["tasks"])]}
