"""The HTML pages: sign-in, the project and task lists, a task's tabs, the comparison.

Pages carry only names and ids (rendered with Jinja's autoescaping); the charts, plots, images
and log lines come from the data calls (data.py) and are put into the page as text by
static/viewer.js, so nothing a training script reported can run as script.
"""
from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import plotly
from flask import Response, g, redirect, render_template, request, send_file

from events_service.db.queries import viewer as viewer_queries
from events_service.viewer import blueprint, signin
from events_service.viewer import errors as _errors  # noqa: F401  (registers the error pages)
from events_service.viewer.access import ALL_PROJECTS, check_id, db, project, signed_in, task
from events_service.viewer.errors import NotFound

# Tab path -> (template tab, title). The SDK prints .../output/log, ClearML's path of the console.
TABS = {"scalars": "Scalars", "plots": "Plots", "debug-samples": "Debug samples", "console": "Console"}
PLOTLY_JS = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


def _local(target: str | None) -> str:
    """A redirect target on this site only (no //host or scheme: no open redirect; no backslash, which
    browsers read as a slash in /\\host; no control character, which cannot go into a header)."""
    if not target or not target.startswith("/") or target.startswith("//") or urlsplit(target).netloc \
            or "\\" in target or not target.isprintable():
        return "/"
    return target


@blueprint.route("/ui/signin", methods=["GET", "POST"])
def sign_in() -> Response:
    target = _local(request.values.get("next"))
    if request.method == "GET":
        return Response(render_template("viewer/signin.html", next=target, message=None))
    identity = signin.check_keys(request.form.get("access_key", "").strip(),
                                 request.form.get("secret_key", "").strip())
    if identity is None:
        page = render_template("viewer/signin.html", next=target,
                               message="Unknown access key or wrong secret key")
        return Response(page, status=401)
    response = redirect(target, code=303)
    signin.sign_in(response, identity)
    return response


@blueprint.post("/ui/signout")
def sign_out() -> Response:
    response = redirect("/ui/signin", code=303)
    signin.sign_out(response)
    return response


@blueprint.get("/ui/plotly.min.js")
def plotly_js() -> Response:
    return send_file(PLOTLY_JS, mimetype="text/javascript", max_age=24 * 3600)


def _list_page(found, project_id: str) -> Response:
    projects = viewer_queries.project_list(db(), g.viewer.company_key)
    return Response(render_template("viewer/projects.html", projects=projects, project=found,
                                    project_id=project_id, viewer=g.viewer))


@blueprint.get("/")
@signed_in
def home() -> Response:
    return _list_page(None, ALL_PROJECTS)


@blueprint.get("/projects/<project_id>")
@blueprint.get("/projects/<project_id>/experiments")
@signed_in
def project_page(project_id: str) -> Response:
    return _list_page(project(project_id), project_id)


@blueprint.get("/projects/<project_id>/experiments/<task_id>")
@blueprint.get("/projects/<project_id>/experiments/<task_id>/<tab>")
@signed_in
def task_page(project_id: str, task_id: str, tab: str = "scalars") -> Response:
    if tab not in TABS:
        raise NotFound(f"No such tab: {tab}; the tabs are {', '.join(TABS)}")
    row = task(project_id, task_id)
    found = project(project_id)
    return Response(render_template("viewer/task.html", task=row, project=found, project_id=project_id,
                                    tab=tab, tabs=TABS, viewer=g.viewer))


@blueprint.get("/projects/<project_id>/experiments/<task_id>/output/log")
def sdk_link(project_id: str, task_id: str) -> Response:
    """The results page the SDK prints: the console (a rule of its own: werkzeug redirects a URL that
    equals another rule's defaults to that rule)."""
    return task_page(project_id, task_id, "console")


@blueprint.get("/projects/<project_id>/compare")
@signed_in
def compare_page(project_id: str) -> Response:
    found = project(project_id)
    ids = [check_id(t, "task") for t in request.args.get("tasks", "").split(",") if t]
    rows = [task(project_id, t) for t in dict.fromkeys(ids)]
    if not rows:
        raise NotFound("No tasks to compare: select some on the project page")
    return Response(render_template("viewer/compare.html", tasks=rows, project=found, project_id=project_id,
                                    viewer=g.viewer))
