"""The JSON data calls behind the pages (/ui/data/...): the API's services and queries, called
in-process for the signed-in company. Bad parameters are a 400 with a message, an unknown task a
404 (data calls never answer 500 for input)."""
from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from flask import Response, current_app, g, request

from events_service import jsonutil
from events_service.api import body
from events_service.api.routes import content_disposition
from events_service.db.queries import scalars as scalar_queries
from events_service.db.queries import tasks as task_queries
from events_service.db.queries import viewer as viewer_queries
from events_service.files import store
from events_service.sampling import INT64_MAX, INT64_MIN
from events_service.services import debug_images, logs, plots, scalars
from events_service.viewer import blueprint
from events_service.viewer.access import ALL_PROJECTS, check_id, db, project, service_call, signed_in
from events_service.viewer.errors import BadInput

DEFAULT_SAMPLES = 1000
MAX_SAMPLES = 5000
PAGE = 50                  # tasks per page of the task list
LOG_PAGE = 500             # console lines per page
MAX_PLOTS = 500
X_KEYS = ("iter", "time")  # the chart's x: iterations, or event time (epoch ms)


@blueprint.before_request
def _no_nul() -> None:
    """A NUL character cannot reach PostgreSQL text (it was a 500 in ?metric= of a zoom)."""
    for name, value in request.args.items(multi=True):
        if "\x00" in name or "\x00" in value:
            raise BadInput(f"{name.replace(chr(0), '')!r} must not contain NUL characters")


def _int(name: str, default: int | None = None, low: int = INT64_MIN, high: int = INT64_MAX) -> int | None:
    """An integer parameter as the API reads one from a query string; empty or null is absent."""
    raw = request.args.get(name)
    if raw is None or raw in ("", "null"):
        return default
    value = body.query_integer(raw)
    if value is None:
        raise BadInput(f"'{name}' must be an integer, got {raw[:40]!r}")
    if not low <= value <= high:
        raise BadInput(f"'{name}' must be between {low} and {high}, got {value}")
    return value


def _json(payload: Any) -> Response:
    return Response(jsonutil.dumps(payload), mimetype="application/json")


def _task_arg() -> str:
    return check_id(request.args.get("task", ""), "task")


# --- task list --------------------------------------------------------------------------------------

def _cursor_value(sort: str, raw: Any) -> Any:
    if sort in ("last_update", "created"):
        return datetime.fromisoformat(raw)
    if sort == "last_iteration":
        return _int64(raw)
    if not isinstance(raw, str) or "\x00" in raw:
        raise ValueError(raw)
    raw.encode()  # a lone surrogate ("\ud800"), which no database text holds: UnicodeEncodeError
    return raw


def _int64(value: Any) -> int:
    """A cursor's integer (an iteration, a row key); ValueError for anything else (1e400, 2**70)."""
    if type(value) is not int or not INT64_MIN <= value <= INT64_MAX:
        raise ValueError(value)
    return value


@blueprint.get("/ui/data/tasks")
@signed_in
def task_list() -> Response:
    """One keyset page of the task list: ?project=<id or *>&q=<name part>&sort=&order=asc|desc&after=."""
    found = project(request.args.get("project") or ALL_PROJECTS)
    sort = request.args.get("sort") or "last_update"
    if sort not in viewer_queries.SORTS:
        raise BadInput(f"'sort' must be one of {', '.join(viewer_queries.SORTS)}")
    order = request.args.get("order") or "desc"
    if order not in ("asc", "desc"):
        raise BadInput("'order' must be asc or desc")
    after = None
    if request.args.get("after"):
        try:
            value, key = json.loads(request.args["after"])
            after = (_cursor_value(sort, value), _int64(key))
        except (ValueError, TypeError):
            raise BadInput("'after' is not a cursor of this list")
    search = request.args.get("q", "")[:200]
    rows = viewer_queries.task_page(db(), g.viewer.company_key, found.key if found else None, search=search,
                                    sort=sort, descending=order == "desc", after=after, limit=PAGE + 1)
    more = len(rows) > PAGE
    rows = rows[:PAGE]
    tasks = [{"id": r.id, "name": r.name, "status": r.status, "last_iteration": r.last_iteration,
              "last_update": r.last_update.isoformat(), "tags": list(r.tags), "project": r.project_id,
              "project_name": r.project_name} for r in rows]
    cursor = None
    if more:
        last = rows[-1].sort_value
        cursor = json.dumps([last.isoformat() if isinstance(last, datetime) else last, rows[-1].key])
    return _json({"tasks": tasks, "next": cursor})


# --- scalars ------------------------------------------------------------------------------------------

def _x_key() -> str:
    x = request.args.get("x") or "iter"
    if x not in X_KEYS:
        raise BadInput("'x' must be iter or time")
    return x


def _range() -> tuple[int, int] | None:
    lo, hi = _int("lo"), _int("hi")
    if lo is None and hi is None:
        return None
    if lo is None or hi is None:
        raise BadInput("a range needs both 'lo' and 'hi'")
    if lo > hi:
        raise BadInput(f"the range is upside down: lo {lo} is above hi {hi}")
    return lo, hi


def _window() -> tuple[int, int] | None:
    """The iteration window (?ilo=&ihi=) a zoom by time covers, as the page derives it."""
    lo, hi = _int("ilo"), _int("ihi")
    if lo is None or hi is None:
        return None
    return (lo, hi) if lo <= hi else (hi, lo)


def _curves(call, series: list[scalar_queries.Series], x: str, samples: int,
            span: tuple[int, int] | None) -> dict[int, scalar_queries.Curve]:
    """The charts' curves by time (whole, or a zoom with its iteration window), or a zoom by
    iteration; db/queries/viewer.py says how each is read."""
    window = _window()
    if x == "time" and (span is None or window is not None):
        return viewer_queries.time_histograms(call.db, series, samples, window, span)
    assert span is not None
    return viewer_queries.range_histograms(call.db, series, x, span[0], span[1], samples)


def _points(curve: scalar_queries.Curve) -> dict[str, Any]:
    points: dict[str, Any] = {"x": curve.x, "y": curve.y}
    if curve.y_min is not None:
        points["y_min"], points["y_max"] = curve.y_min, curve.y_max
    if isinstance(curve, viewer_queries.TimeCurve):
        points["it"] = curve.it
    return points


def _zoomed_metric(span: tuple[int, int] | None) -> str | None:
    metric = request.args.get("metric")
    if span is not None and not metric:
        raise BadInput("a range needs the 'metric' it zooms into")
    return metric if span is not None else None


@blueprint.get("/ui/data/scalars")
@signed_in
def scalar_charts() -> Response:
    """{metrics: {metric: {variant: {x, y[, y_min, y_max][, it]}}}} of one task: by iteration the
    whole series through events.scalar_metrics_iter_histogram; by time, or with ?metric=&lo=&hi=
    (a zoom), through db/queries/viewer.py."""
    task_id, x = _task_arg(), _x_key()
    samples = _int("samples", DEFAULT_SAMPLES, 1, MAX_SAMPLES)
    span = _range()
    metric = _zoomed_metric(span)
    call = service_call("events.scalar_metrics_iter_histogram")
    if span is None and x == "iter":
        req = {"task": task_id, "samples": samples, "key": "iter"}
        metrics = scalars.scalar_metrics_iter_histogram(call, req)
        return _json({"metrics": {m: {v: _points_of(d) for v, d in variants.items()}
                                  for m, variants in metrics.items()}})
    _task, series, _n = scalar_queries.task_series(call.db, call.company_key, task_id, scalar_queries.SCALAR,
                                                   metric=metric)
    curves = _curves(call, series, x, samples, span)
    result: dict[str, Any] = {}
    for s in series:
        if s.key in curves or span is not None:
            result.setdefault(s.metric, {})[s.variant] = _points(curves[s.key]) if s.key in curves \
                else {"x": [], "y": []}
    return _json({"metrics": result})


def _points_of(variant: dict[str, Any]) -> dict[str, Any]:
    return {k: variant[k] for k in ("x", "y", "y_min", "y_max") if k in variant}


@blueprint.get("/ui/data/compare")
@signed_in
def compare_charts() -> Response:
    """Several tasks' scalars: {metrics: {metric: {variant: {task id: {name, x, y, ...}}}}}."""
    ids = [check_id(t, "task") for t in request.args.get("tasks", "").split(",") if t]
    if not ids:
        raise BadInput("'tasks' names no task")
    x = _x_key()
    samples = _int("samples", DEFAULT_SAMPLES, 1, MAX_SAMPLES)
    span = _range()
    metric = _zoomed_metric(span)
    call = service_call("events.multi_task_scalar_metrics_iter_histogram")
    if span is None and x == "iter":
        found = scalars.multi_task_scalar_metrics_iter_histogram(
            call, {"tasks": ids, "samples": samples, "key": "iter"})
        return _json(found)
    found_tasks = task_queries.require_many(call.db, call.company_key, ids)
    by_key = {t.key: t for t in found_tasks.values()}
    series = scalar_queries.series_of(call.db, list(by_key), scalar_queries.SCALAR, metric=metric)
    curves = _curves(call, series, x, samples, span)
    metrics: dict[str, Any] = {}
    for s in series:
        if s.key in curves or span is not None:
            task = by_key[s.task_key]
            points = _points(curves[s.key]) if s.key in curves else {"x": [], "y": []}
            by_task = metrics.setdefault(s.metric, {}).setdefault(s.variant, {})
            by_task[task.id] = {"name": task.name, **points}
    return _json({"metrics": metrics})


# --- plots, debug samples ---------------------------------------------------------------------------

@blueprint.get("/ui/data/plots")
@signed_in
def plot_list() -> Response:
    """The plots of the task's `iters` (default 3) newest iterations per metric/variant, newest
    first, as events.get_task_plots returns them (plot_str untouched)."""
    task_id = _task_arg()
    iters = _int("iters", 3, 1, 1000)
    call = service_call("events.get_task_plots")
    found: list[dict[str, Any]] = []
    scroll_id = None
    while len(found) < MAX_PLOTS:
        page = plots.get_task_plots(call, {"task": task_id, "iters": iters, "scroll_id": scroll_id})
        found += page["plots"]
        scroll_id = page["scroll_id"]
        if not page["plots"] or len(found) >= page["total"]:
            break
    return _json({"plots": [{"metric": p["metric"], "variant": p["variant"], "iter": p.get("iter"),
                             "plot_str": p.get("plot_str", "")} for p in found[:MAX_PLOTS]]})


@blueprint.get("/ui/data/debug")
@signed_in
def debug_samples() -> Response:
    """Without `metric`: the task's image metrics. With it: one step of events.debug_images 2.7,
    `iters` iterations earlier (default) or later (?later=1) than the `scroll_id`'s window."""
    task_id = _task_arg()
    metric = request.args.get("metric")
    if metric is None:
        call = service_call("events.get_task_metrics")
        task = task_queries.require(call.db, call.company_key, task_id)
        names = scalar_queries.metric_names(call.db, [task.key], debug_images.IMAGE)[task.key]
        return _json({"metrics": names})
    call = service_call("events.debug_images")
    req = {"metrics": [{"task": task_id, "metric": metric}], "iters": _int("iters", 3, 1, 100),
           "navigate_earlier": request.args.get("later") != "1"}
    if request.args.get("scroll_id"):
        req["scroll_id"] = request.args["scroll_id"]
    found = debug_images.debug_images(call, req)
    iterations = found["metrics"][0]["iterations"] if found["metrics"] else []
    return _json({"scroll_id": found["scroll_id"], "iterations": [
        {"iter": it["iter"], "images": [_image(e.get("url", ""), e["variant"]) for e in it["events"]]}
        for it in iterations]})


def _image(url: str, variant: str) -> dict[str, str]:
    """The recorded URL, and where the page loads it from: a file of the company's own store from this
    host (the SDK may have named the service otherwise, e.g. localhost, where the browser would not
    send the session's cookie), anything else from the URL recorded."""
    files_dir = current_app.config["FILES_DIR"]
    local = store.local_address(files_dir, g.viewer.identity.company_id, url) if url else None
    return {"variant": variant, "url": url, "src": local or url}


# --- console ------------------------------------------------------------------------------------------

def _line(doc: dict[str, Any]) -> dict[str, Any]:
    return {"ts": doc["timestamp"], "level": doc.get("level", ""), "msg": doc.get("msg", "")}


@blueprint.get("/ui/data/log")
@signed_in
def log_lines() -> Response:
    """Console lines, oldest first in each answer: the newest page (no parameter), the page before
    `before` (epoch ms; scroll back), every line after `after` (the poll of an open console), or
    with ?q= the newest lines containing it (before `before_id` too, when scrolling back)."""
    task_id = _task_arg()
    before, after = _int("before"), _int("after")
    needle = request.args.get("q", "")[:200]
    call = service_call("events.get_task_log")
    if needle:
        task = task_queries.require(call.db, call.company_key, task_id)
        before_id = _int("before_id", INT64_MAX)
        rows = viewer_queries.search_log(call.db, task.key, needle,
                                         (before, before_id) if before is not None else None, LOG_PAGE)
        return _json({"lines": [{"ts": r.ts, "id": r.id, "level": r.level or "", "msg": r.msg or ""}
                                for r in reversed(rows)], "total": None})
    req: dict[str, Any] = {"task": task_id, "batch_size": LOG_PAGE, "navigate_earlier": after is None}
    if before is not None or after is not None:
        req["from_timestamp"] = before if after is None else after
    page = logs.get_task_log_2_9(call, req)
    lines = [_line(d) for d in page["events"]]
    if after is None:
        lines.reverse()
    return _json({"lines": lines, "total": page["total"]})


@blueprint.get("/ui/data/log/download")
@signed_in
def log_download() -> Response:
    """The whole log as text (events.download_task_log), oldest first."""
    call = service_call("events.download_task_log")
    attachment = logs.download_task_log(call, {"task": _task_arg(), "line_type": "text",
                                               "line_format": "{asctime} {level} {msg}"})
    return Response(attachment.chunks, mimetype="text/plain", direct_passthrough=True,
                    headers={"Content-Disposition": content_disposition(attachment.filename)})
