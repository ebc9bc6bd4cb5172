"""Handlers registered per (endpoint name, schema version) by the @endpoint decorator."""
from __future__ import annotations

from typing import Any, Callable

from events_service.api.versions import Version

Handler = Callable[..., Any]
HANDLERS: dict[tuple[str, Version], Handler] = {}


def endpoint(name: str, version: str, validates_itself: bool = False,
             reads_only: bool = False) -> Callable[[Handler], Handler]:
    """Register the decorated function as the handler of `name` at schema `version`.

    Stack several decorators when one function serves several versions. `validates_itself`:
    the handler checks the request against the same schema itself, with finer messages
    (events.add validates its body as one event, exactly like a line of add_batch).
    `reads_only`: the handler never writes, so its statements run without a transaction around
    them (the dispatcher's autocommit), which spares the BEGIN and COMMIT round trips.
    """

    def register(func: Handler) -> Handler:
        func.validates_itself = validates_itself  # type: ignore[attr-defined]
        func.reads_only = reads_only  # type: ignore[attr-defined]
        key = (name, Version.parse(version))
        if key in HANDLERS and HANDLERS[key] is not func:
            raise RuntimeError(f"two handlers for {name} {version}")
        HANDLERS[key] = func
        return func

    return register


def check_against_schema(schema_endpoints: dict[str, dict[Version, Any]]) -> None:
    """Stop start-up when a handler has no schema entry (it could never be validated)."""
    missing = [f"{n} {v}" for (n, v) in HANDLERS if v not in schema_endpoints.get(n, {})]
    if missing:
        raise RuntimeError("handlers without a schema entry: " + ", ".join(sorted(missing)))
