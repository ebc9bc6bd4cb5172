"""Debug image handlers: debug_images 2.1 (flat, scrolled) and 2.7 (per task and metric, navigated).

2.1: the images of the task's `iters` highest iterations (all metrics together), newest
iteration first, scrolled with a frozen selection like the plots (db/queries/iterations.py).

2.7 (seed shape {task, metric, iterations}): ClearML keeps the navigation state in Redis; here
it travels in the signed token instead (no server-side state). Per requested (task, metric) the
state holds its variants with their invalid borders (recycled file names, see
db/queries/debug_images.py) and the window of iterations shown so far. The state is bound to
the set of requested pairs (another set is 400/1104). Unlike the seed, pairs without images are
kept in the state too, so re-using a scroll id for them works; they get no entry in the
response (as in the seed) until a `refresh` finds images for them. Paging earlier past the
oldest iteration returns entries with no iterations and leaves the window where it is, so a
client that asks until a page has no iterations (the SDK) stops.
"""
from __future__ import annotations

from itertools import groupby
from typing import Any

from events_service import errors
from events_service.api.call import Call
from events_service.api.registry import endpoint
from events_service.db.queries import debug_images as image_queries
from events_service.db.queries import events as event_queries
from events_service.db.queries import iterations, tasks
from events_service.services import paging
from events_service.services.plots import iters_of, scroll_page

IMAGE = image_queries.IMAGE


@endpoint("events.debug_images", "2.1", reads_only=True)
def debug_images_2_1(call: Call, req: dict[str, Any]) -> dict[str, Any]:
    """Images of the task's `iters` (default 1; 0 also means 1, as in ClearML) latest iterations."""
    task = tasks.require(call.db, call.company_key, req["task"])
    n = iters_of({"iters": req.get("iters") or None})
    rows, total, token = scroll_page(
        call, req, IMAGE, [task], {"task": task.id},
        lambda keys: iterations.last_iters_per_task(call.db, IMAGE, keys, n))
    names = event_queries.series_names(call.db, task.key) if rows else {}
    images = [event_queries.to_document(IMAGE, row, task.id, names) for row in rows]
    return {"task": task.id, "images": images, "returned": len(images), "total": total, "scroll_id": token}


def _initial_state(call: Call, pairs: list[tuple[str, str]], found: dict[str, tasks.Task]
                   ) -> list[dict[str, Any]]:
    """One entry per pair (in `pairs` order): its variants [series key, border] and no window yet."""
    rows = image_queries.variants(call.db, [(found[t].key, m) for t, m in pairs])
    by_pair: dict[tuple[int, str], list[list[Any]]] = {}
    for row in rows:
        by_pair.setdefault((row.task_key, row.metric), []).append([row.series_key, row.border])
    return [{"variants": by_pair.get((found[t].key, m), []), "window": None} for t, m in pairs]


@endpoint("events.debug_images", "2.7", reads_only=True)
def debug_images(call: Call, req: dict[str, Any]) -> dict[str, Any]:
    """Per (task, metric): `iters` iterations earlier (default) or later than those shown so far."""
    pairs = list(dict.fromkeys((m["task"], m["metric"]) for m in req["metrics"]))
    if not pairs:
        raise errors.ValidationError("field 'metrics': at least one {task, metric} item is required")
    n = iters_of(req)
    found = tasks.require_many(call.db, call.company_key, [t for t, _ in pairs])
    state_pairs = sorted(pairs)
    bind = {"version": "2.7", "metrics": [list(p) for p in state_pairs]}
    position = paging.open_scroll(call, req.get("scroll_id"), bind=bind, batch_size=None, query={})
    if position.fresh or req.get("refresh"):
        position.query = {"entries": _initial_state(call, state_pairs, found)}
    entries = dict(zip(state_pairs, position.query["entries"]))
    earlier = req.get("navigate_earlier", True) is not False
    names: dict[int, dict[int, tuple[str, str]]] = {}
    result = []
    for task_id, metric in pairs:
        entry = entries[(task_id, metric)]
        if not entry["variants"]:
            continue
        task = found[task_id]
        window = entry["window"]
        go_earlier = earlier or window is None
        beyond = None if window is None else (window[0] if go_earlier else window[1])
        borders = [(v[0], v[1]) for v in entry["variants"]]
        rows = image_queries.step(call.db, task.key, borders, earlier=go_earlier, beyond=beyond, iters=n)
        if rows:
            entry["window"] = [rows[-1].iter, rows[0].iter]
            if task.key not in names:
                names[task.key] = event_queries.series_names(call.db, task.key)
        iterations_out = []
        for iteration, group in groupby(rows, key=lambda r: r.iter):
            docs = [event_queries.to_document(IMAGE, r, task.id, names[task.key]) for r in group]
            docs.sort(key=lambda d: d["variant"])  # stable: url descending within a variant
            iterations_out.append({"iter": iteration, "events": docs})
        result.append({"task": task_id, "metric": metric, "iterations": iterations_out})
    token = paging.next_token(call, position, bind=bind, after=None, total=0)
    return {"metrics": result, "scroll_id": token}
