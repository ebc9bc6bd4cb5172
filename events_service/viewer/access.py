"""The request's signed-in viewer and what it may see: ids checked, tasks and projects looked up in
its company only, and a services Call for handlers of the API (the same code the API runs)."""
from __future__ import annotations

import re
import uuid
from functools import wraps
from typing import Any, Callable
from urllib.parse import quote

from flask import current_app, g, jsonify, redirect, request

from events_service.api.call import Call
from events_service.db import session as db_session
from events_service.db.queries import projects as project_queries
from events_service.db.queries import tasks as task_queries
from events_service.viewer import signin
from events_service.viewer.errors import NotFound

# Ids this service makes are 32 hex digits; clients may pick their own, within these characters.
ID = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")
ALL_PROJECTS = "*"


def signed_in(view: Callable[..., Any]) -> Callable[..., Any]:
    """Pages redirect to the sign-in page, data calls answer 401, when nobody is signed in."""
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        viewer = signin.current()
        if viewer is None:
            if request.path.startswith("/ui/data/"):
                response = jsonify({"error": "not signed in"})
                response.status_code = 401
                return response
            return redirect("/ui/signin?next=" + quote(request.full_path.rstrip("?"), safe="/"))
        g.viewer = viewer
        return view(*args, **kwargs)
    return wrapper


def db():
    return db_session.get(autocommit=True)


def service_call(name: str) -> Call:
    """A Call as the API's dispatcher builds it, for the signed-in company."""
    viewer = g.viewer
    call_id = uuid.uuid4().hex
    return Call(id=call_id, trx=call_id, name=name, worker="viewer", company_id=viewer.identity.company_id,
                company_key=viewer.company_key, identity=viewer.identity, config=current_app.config,
                session=db(), api=current_app.extensions["api_schema"])


def check_id(value: str, what: str) -> str:
    if not ID.match(value or ""):
        raise NotFound(f"No such {what}: the id is malformed")
    return value


def project(project_id: str) -> Any | None:
    """The company's project row, None for all projects ("*"); 404 otherwise."""
    if project_id == ALL_PROJECTS:
        return None
    check_id(project_id, "project")
    found = project_queries.by_ids(db(), g.viewer.company_key, [project_id]).get(project_id)
    if found is None:
        raise NotFound(f"No such project: {project_id}")
    return found


def task(project_id: str, task_id: str) -> Any:
    """The company's task row (tasks.TASK_COLUMNS) under the project of the path; 404 otherwise."""
    check_id(task_id, "task")
    if project_id != ALL_PROJECTS:
        check_id(project_id, "project")
    rows = task_queries.find_tasks(db(), g.viewer.company_key, ids=[task_id])
    if not rows or (project_id != ALL_PROJECTS and rows[0].project_id != project_id):
        raise NotFound(f"No such task: {task_id}")
    return rows[0]
