"""Plot handlers: get_task_plots 2.1 and get_multi_task_plots 2.1 (the last `iters` iterations, scrolled).

Selection rules as ClearML's seed: get_task_plots keeps the `iters` highest iterations of each
metric/variant; get_multi_task_plots the `iters` highest iterations of each task (all its plots
together). Plots without an iteration are never returned. The selection is frozen in the scroll
token on the first page (see db/queries/iterations.py); pages run newest iteration first.
plot_str is returned exactly as stored.
"""
from __future__ import annotations

from typing import Any, Callable

from events_service import errors
from events_service.api.call import Call
from events_service.api.registry import endpoint
from events_service.db.queries import events as event_queries
from events_service.db.queries import iterations, tasks
from events_service.services import paging

PLOT = "plot"


def iters_of(req: dict[str, Any], default: int = 1) -> int:
    """`iters`: the default when absent; below 1 is a 400 (the real server fails in its store)."""
    iters = req.get("iters")
    if iters is None:
        return default
    if iters < 1:
        raise errors.ValidationError(f"field 'iters': {iters} is less than the minimum of 1")
    return iters


def scroll_page(call: Call, req: dict[str, Any], event_type: str, task_list: list[tasks.Task],
                bind: dict[str, Any], select: Callable[[list[int]], iterations.Cutoffs]
                ) -> tuple[list[Any], int, str]:
    """One page of a frozen iteration selection: (rows, total, next scroll id).

    `select(task_keys)` computes the cutoffs on the first page only.
    """
    keys = sorted({t.key for t in task_list})
    position = paging.open_scroll(call, req.get("scroll_id"), bind=bind, batch_size=None, query={})
    if position.fresh:
        position.query = {"cutoffs": select(keys)}
    cutoffs = [tuple(c) for c in position.query["cutoffs"]]
    total = position.total
    if total is None:
        total = iterations.count(call.db, event_type, keys, cutoffs)
    rows = iterations.page(call.db, event_type, keys, cutoffs,
                           after=tuple(position.after) if position.after else None, limit=position.size)
    last = [rows[-1].iter, rows[-1].id] if rows else None
    return rows, total, paging.next_token(call, position, bind=bind, after=last, total=total)


@endpoint("events.get_task_plots", "2.1", reads_only=True)
def get_task_plots(call: Call, req: dict[str, Any]) -> dict[str, Any]:
    """Plots of the `iters` (default 1) latest iterations of every metric/variant, newest first."""
    task = tasks.require(call.db, call.company_key, req["task"])
    n = iters_of(req)
    rows, total, token = scroll_page(
        call, req, PLOT, [task], {"task": task.id},
        lambda keys: iterations.last_iters_per_series(call.db, PLOT, keys, n))
    names = event_queries.series_names(call.db, task.key) if rows else {}
    plots = [event_queries.to_document(PLOT, row, task.id, names) for row in rows]
    return {"plots": plots, "returned": len(plots), "total": total, "scroll_id": token}


@endpoint("events.get_multi_task_plots", "2.1", reads_only=True)
def get_multi_task_plots(call: Call, req: dict[str, Any]) -> dict[str, Any]:
    """Plots of each task's `iters` latest iterations, grouped metric -> variant -> task id ->
    iteration -> {name: task name, plots}; `returned` counts the metrics of the page."""
    if not req["tasks"]:
        raise errors.ValidationError("field 'tasks': at least one task id is required")
    found = tasks.require_many(call.db, call.company_key, req["tasks"])
    n = iters_of(req)
    rows, total, token = scroll_page(
        call, req, PLOT, list(found.values()), {"tasks": sorted(found)},
        lambda keys: iterations.last_iters_per_task(call.db, PLOT, keys, n))
    by_key = {t.key: t for t in found.values()}
    names: dict[int, tuple[str, str]] = {}
    for key in {row.task_key for row in rows}:
        names.update(event_queries.series_names(call.db, key))
    grouped: dict[str, Any] = {}
    for row in rows:
        task = by_key[row.task_key]
        doc = event_queries.to_document(PLOT, row, task.id, names)
        leaf = grouped.setdefault(doc["metric"], {}).setdefault(doc["variant"], {}).setdefault(task.id, {}) \
            .setdefault(str(row.iter), {"name": task.name, "plots": []})
        leaf["plots"].append(doc)
    return {"plots": grouped, "returned": len(grouped), "total": total, "scroll_id": token}
