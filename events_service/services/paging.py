"""Keyset scrolling shared by every paged endpoint: open a scroll from a request, issue the next token.

The first call (no scroll_id) freezes the query (whatever the endpoint puts in `query`), the page
size and, once counted, the total. Later calls take all of these from the signed token; the
request must still name the same task(s) (`bind`), so a token cannot be replayed elsewhere.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from events_service import scroll
from events_service.api.call import Call
from events_service.errors import ValidationError
from events_service.ops import metrics


@dataclass
class Position:
    query: dict[str, Any]
    size: int
    after: Any = None        # the last sort key returned (None before the first page)
    total: int | None = None
    fresh: bool = True       # True on the first page of a scroll


def page_size(call: Call, requested: int | None) -> int:
    """batch_size: the default when absent, at least 1, capped at MAX_BATCH_SIZE (as ClearML caps it)."""
    if requested is None:
        return call.config["DEFAULT_BATCH_SIZE"]
    if requested < 1:
        raise ValidationError(f"field 'batch_size': {requested} is less than the minimum of 1")
    return min(requested, call.config["MAX_BATCH_SIZE"])


def _binding(call: Call, bind: dict[str, Any]) -> dict[str, Any]:
    return {"endpoint": call.name, "company": call.company_id, **bind}


def open_scroll(call: Call, scroll_id: str | None, *, bind: dict[str, Any], query: dict[str, Any],
                batch_size: int | None) -> Position:
    """A new scroll for `query`, or the one `scroll_id` continues (400/1104 when it is not valid here)."""
    if not scroll_id:
        return Position(query=query, size=page_size(call, batch_size))
    state = scroll.decode(scroll_id, call.config["SECRET_KEY"], _binding(call, bind))
    return Position(query=state["query"], size=state["size"], after=state.get("after"),
                    total=state.get("total"), fresh=False)


def next_token(call: Call, position: Position, *, bind: dict[str, Any], after: Any, total: int) -> str:
    """The token for the page after this one (the same position again when this page was empty)."""
    state = {**_binding(call, bind), "query": position.query, "size": position.size,
             "after": position.after if after is None else after, "total": total}
    metrics.count_scroll_page(call.name)
    return scroll.encode(state, call.config["SECRET_KEY"])
