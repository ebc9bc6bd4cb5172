"""Handlers of the `tasks` service: what the clearml SDK needs to create, run and close a task.

A task registered by its first event (events.add_batch) and one made by tasks.create are the same
row; the former simply has no type, project or sections until tasks.edit gives them. Statuses
follow ClearML's state machine (TRANSITIONS); `force` skips it, except that a published task is
final. Publishing locks the task: events for it are refused unless they say `allow_locked`.
"""
from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Any

from events_service import compaction, errors
from events_service.api.call import Call
from events_service.api.registry import endpoint
from events_service.db.queries import compact
from events_service.db.queries import delete as delete_queries
from events_service.db.queries import projects
from events_service.db.queries import tasks as task_queries
from events_service.services.documents import iso, only_fields, wants, without_nulls

# Open-ended sections, stored as sent (tasks.details) and returned as they were stored.
SECTIONS = ("input", "output", "execution", "script", "hyperparams", "configuration", "models", "runtime",
            "container")
# What a task's document shows for a section never written, as ClearML's task documents do (the SDK
# reads e.g. `execution.artifacts` and `output.destination` of every task it loads).
SECTION_DEFAULTS = {"execution": {}, "output": {}, "hyperparams": {}, "configuration": {},
                    "models": {"input": [], "output": []}}
# Plain fields that tasks.edit may change (the project is checked separately).
EDITABLE = ("name", "type", "comment", "parent", "tags", "system_tags")
# ClearML's status state machine: current status -> statuses it may move to without `force`.
TRANSITIONS = {
    "created": {"queued", "in_progress", "stopped", "failed", "completed"},
    "queued": {"created", "in_progress", "stopped", "failed"},
    "in_progress": {"stopped", "failed", "created", "completed"},
    "stopped": {"closed", "created", "failed", "queued", "in_progress", "published", "publishing",
                "completed"},
    "closed": {"created", "failed", "published", "publishing", "stopped"},
    "failed": {"created", "stopped", "published", "completed"},
    "publishing": {"published"},
    "published": set(),
    "completed": {"published", "publishing", "in_progress", "created", "stopped", "failed"},
    "unknown": {"created", "queued", "in_progress", "stopped", "closed", "failed", "completed", "published"},
}
# The time column each new status stamps.
STAMPS = {"in_progress": "started", "completed": "completed", "published": "published"}


def task_document(row: Any, company_id: str, last_metrics: dict[str, Any] | None) -> dict[str, Any]:
    doc = without_nulls({
        "id": row.id, "name": row.name, "user": row.user_id, "company": company_id, "type": row.type,
        "status": row.status, "comment": row.comment, "parent": row.parent, "project": row.project_id,
        "created": iso(row.created), "started": iso(row.started), "completed": iso(row.completed),
        "published": iso(row.published), "last_update": iso(row.last_update),
        "last_change": iso(row.last_change),
        "status_changed": iso(row.status_changed), "status_message": row.status_message,
        "status_reason": row.status_reason, "tags": list(row.tags), "system_tags": list(row.system_tags),
        "last_iteration": row.last_iteration,
    })
    doc.update((name, row.details.get(name, SECTION_DEFAULTS.get(name))) for name in SECTIONS
               if name in row.details or name in SECTION_DEFAULTS)
    if last_metrics is not None:
        doc["last_metrics"] = last_metrics
    return doc


def _sections(req: dict[str, Any]) -> dict[str, Any]:
    """The open-ended sections of a create/edit request; `output_dest` is output.destination."""
    sections = {name: req[name] for name in SECTIONS if name in req}
    if "output_dest" in req:
        sections["output"] = {**sections.get("output", {}), "destination": req["output_dest"]}
    return sections


def _project_key(call: Call, project_id: str | None) -> int | None:
    return projects.require(call.db, call.company_key, project_id).key if project_id else None


@endpoint("tasks.create", "2.1")
@endpoint("tasks.create", "2.13")
def create(call: Call, req: dict[str, Any]) -> dict[str, Any]:
    """A new task in status 'created' (its events can follow at once)."""
    task_id = uuid.uuid4().hex
    task_queries.create_task(
        call.db, call.company_key, task_id=task_id, name=req["name"], task_type=req["type"],
        project_key=_project_key(call, req.get("project")), user_id=call.identity.user_id,
        comment=req.get("comment"), parent=req.get("parent"), tags=req.get("tags", []),
        system_tags=req.get("system_tags", []), details=_sections(req))
    return {"id": task_id}


@endpoint("tasks.get_by_id", "2.1", reads_only=True)
def get_by_id(call: Call, req: dict[str, Any]) -> dict[str, Any]:
    """The caller's task (another company's is 400/101), with its last_metrics."""
    rows = task_queries.find_tasks(call.db, call.company_key, ids=[req["task"]])
    if not rows:
        raise errors.InvalidTaskId(ids=[req["task"]])
    metrics = task_queries.last_metrics(call.db, [rows[0].key])
    return {"task": task_document(rows[0], call.company_id, metrics.get(rows[0].key, {}))}


@endpoint("tasks.get_all", "2.1", reads_only=True)
def get_all(call: Call, req: dict[str, Any]) -> dict[str, Any]:
    """The caller's tasks matching the filters; last_metrics only when the projection asks for it.

    The SDK polls this every few seconds with only_fields [status, status_message, id].
    """
    fields = req.get("only_fields")
    rows = task_queries.find_tasks(
        call.db, call.company_key, ids=req.get("id"), name=req.get("name"), project_ids=req.get("project"),
        statuses=req.get("status"), types=req.get("type"), users=req.get("user"), parent=req.get("parent"),
        tags=req.get("tags"), system_tags=req.get("system_tags"), order_by=req.get("order_by"),
        page=req.get("page"), page_size=req.get("page_size"))
    metrics = (task_queries.last_metrics(call.db, [r.key for r in rows])
               if wants(fields, "last_metrics") else None)
    return {"tasks": [only_fields(task_document(r, call.company_id,
                                                None if metrics is None else metrics.get(r.key, {})),
                                  fields) for r in rows]}


@endpoint("tasks.edit", "2.1")
@endpoint("tasks.edit", "2.13")
def edit(call: Call, req: dict[str, Any]) -> dict[str, Any]:
    """Change fields of a 'created' task (any unpublished task with force); sections replace whole."""
    row = task_queries.lock_one(call.db, call.company_key, req["task"])
    if row.status == "published" or (row.status != "created" and not req.get("force")):
        raise errors.InvalidTaskStatus("a task can be edited only in status created (or with force, unless "
                                       "published)", task=row.id, status=row.status)
    now = datetime.now(timezone.utc)
    values: dict[str, Any] = {name: req[name] for name in EDITABLE if name in req}
    fields = dict(values)
    if "project" in req:
        values["project_key"] = _project_key(call, req["project"])
        fields["project"] = req["project"]
    sections = _sections(req)
    fields.update(sections)
    values.update(last_change=now, last_update=now)
    task_queries.update_task(call.db, row.key, values, sections)
    return {"updated": 1, "fields": {**fields, "last_change": iso(now), "last_update": iso(now)}}


def _change_status(call: Call, req: dict[str, Any], new_status: str) -> dict[str, Any]:
    """Move the task to `new_status` if the state machine (or force) allows it; 400/110 otherwise."""
    row = task_queries.lock_one(call.db, call.company_key, req["task"])
    allowed = row.status == new_status or new_status in TRANSITIONS.get(row.status, set())
    if row.status == "published" or not (allowed or req.get("force")):
        raise errors.InvalidTaskStatus(f"cannot change status from {row.status} to {new_status}",
                                       task=row.id, status=row.status)
    now = datetime.now(timezone.utc)
    values: dict[str, Any] = {"status": new_status, "status_changed": now, "last_update": now,
                              "status_reason": req.get("status_reason"),
                              "status_message": req.get("status_message")}
    if new_status in STAMPS:
        values[STAMPS[new_status]] = now
    task_queries.update_task(call.db, row.key, values)
    if new_status in compact.ENDED:
        compaction.wake_after_request()  # its events into the compact form now, not at the next interval
    return {"updated": 1, "fields": {k: iso(v) if isinstance(v, datetime) else v for k, v in values.items()}}


@endpoint("tasks.started", "2.1")
def started(call: Call, req: dict[str, Any]) -> dict[str, Any]:
    return {"started": 1, **_change_status(call, req, "in_progress")}


@endpoint("tasks.stopped", "2.1")
def stopped(call: Call, req: dict[str, Any]) -> dict[str, Any]:
    return _change_status(call, req, "stopped")


@endpoint("tasks.completed", "2.1")
def completed(call: Call, req: dict[str, Any]) -> dict[str, Any]:
    return _change_status(call, req, "completed")


@endpoint("tasks.publish", "2.1")
def publish(call: Call, req: dict[str, Any]) -> dict[str, Any]:
    """Publish: the task becomes locked (events.add refuses it unless allow_locked)."""
    return _change_status(call, req, "published")


@endpoint("tasks.ping", "2.1")
def ping(call: Call, req: dict[str, Any]) -> dict[str, Any]:
    row = task_queries.lock_one(call.db, call.company_key, req["task"])
    task_queries.update_task(call.db, row.key, {"last_update": datetime.now(timezone.utc)})
    return {}


@endpoint("tasks.failed", "2.1")
def failed(call: Call, req: dict[str, Any]) -> dict[str, Any]:
    """The SDK reports a script that raised (or was killed) this way."""
    return _change_status(call, req, "failed")


@endpoint("tasks.stop", "2.1")
def stop(call: Call, req: dict[str, Any]) -> dict[str, Any]:
    """The task becomes stopped at once, as ClearML's server does for a development task or one that no
    agent runs (the only kind here); the state machine applies, `force` overrides it."""
    return _change_status(call, req, "stopped")


@endpoint("tasks.set_requirements", "2.1")
def set_requirements(call: Call, req: dict[str, Any]) -> dict[str, Any]:
    """script.requirements replaced by the given strings (pip, conda, ...), in any status, as ClearML's
    server does (the SDK sends them while the script runs, without force)."""
    row = task_queries.lock_one(call.db, call.company_key, req["task"])
    script = {**(row.details.get("script") or {}), "requirements": req["requirements"]}
    now = datetime.now(timezone.utc)
    task_queries.update_task(call.db, row.key, {"last_change": now, "last_update": now}, {"script": script})
    return {"updated": 1, "fields": {"script.requirements": req["requirements"]}}


def _delete_events(call: Call, row: Any) -> dict[str, Any]:
    """The task's events through events.delete_for_task's own path (with its row lock)."""
    count = delete_queries.delete_events(call.db, row.key)
    return {"deleted": count > 0, "deleted_count": count}


@endpoint("tasks.reset", "2.1")
def reset(call: Call, req: dict[str, Any]) -> dict[str, Any]:
    """Back to created: events, last iteration, output artifacts and models, runtime and the run's times
    are cleared (with clear_all also script and execution). As ClearML's server does, only a published
    task needs force (the SDK resets a completed task it re-uses without force)."""
    row = task_queries.lock_one(call.db, call.company_key, req["task"])
    if row.status == "published" and not req.get("force"):
        raise errors.InvalidTaskStatus("a published task is reset only with force", task=row.id,
                                       status=row.status)
    details = dict(row.details)
    execution = dict(details.get("execution") or {})
    execution["artifacts"] = [a for a in execution.get("artifacts") or [] if a.get("mode") == "input"]
    sections = {"execution": {} if req["clear_all"] else execution, "runtime": {},
                "models": {"input": (details.get("models") or {}).get("input") or [], "output": []}}
    if req["clear_all"]:
        sections["script"] = {}
    events = _delete_events(call, row)
    now = datetime.now(timezone.utc)
    values = {"status": "created", "status_changed": now, "last_update": now, "last_change": now,
              "started": None, "completed": None, "published": None, "last_iteration": 0,
              "status_reason": "reset", "status_message": "reset"}
    task_queries.update_task(call.db, row.key, values, sections)
    return {"updated": 1, "fields": {"status": "created", "status_changed": iso(now)}, "events": events}


@endpoint("tasks.delete", "2.1")
def delete(call: Call, req: dict[str, Any]) -> dict[str, Any]:
    """The task and its events are removed. As in ClearML, a task that is not in status created (nor
    archived) needs force; the SDK's Task.delete() sends it."""
    row = task_queries.lock_one(call.db, call.company_key, req["task"])
    if row.status != "created" and "archived" not in (row.system_tags or []) and not req.get("force"):
        raise errors.InvalidTaskStatus("a task not in status created is deleted only with force",
                                       task=row.id, status=row.status)
    events = _delete_events(call, row)
    task_queries.delete_task(call.db, row.key)
    return {"deleted": True, "events": events}
