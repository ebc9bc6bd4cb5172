"""The only code that knows the ClearML response envelope {"meta": ..., "data": ...}."""
from __future__ import annotations

from typing import Any

from events_service.api.call import Call
from events_service.errors import ApiError


def build(call: Call | None, data: Any = None, error: ApiError | None = None,
          error_stack: str | None = None) -> dict[str, Any]:
    """The response body for a success (data) or a failure (error)."""
    requested = call.requested_version if call else None
    actual = call.actual_version if call else None
    meta = {
        "id": call.id if call else "",
        "trx": call.trx if call else "",
        "endpoint": {
            "name": call.name if call else "",
            "requested_version": requested.for_meta() if requested else 1.0,
            "actual_version": actual.for_meta() if actual else None,
        },
        "result_code": error.code if error else 200,
        "result_subcode": error.subcode if error else 0,
        "result_msg": error.message if error else "OK",
        "error_stack": error_stack if error else "",
        "error_data": error.data if error else {},
    }
    return {"meta": meta, "data": {} if error else data}
