"""Handlers of the `models` service: what OutputModel.update_weights and InputModel need.

A model belongs to the caller's company; the task that made it names it in its `models.output`
(tasks.add_or_update_model, which the SDK calls itself). Deleting a model leaves its file where it is,
as ClearML does unless asked otherwise. A ready model is final: its uri cannot change, and it is
deleted only with force.
"""
from __future__ import annotations

import uuid
from typing import Any

from events_service import errors
from events_service.api.call import Call
from events_service.api.registry import endpoint
from events_service.db.queries import models as model_queries
from events_service.db.queries import projects
from events_service.db.queries import tasks as task_queries
from events_service.services.documents import iso, only_fields, without_nulls

# Document fields kept as sent in `details`.
DETAILS = ("uri", "comment", "framework", "design", "labels", "parent")
COLUMNS = ("name", "task", "ready", "tags", "system_tags")


def model_document(row: Any, company_id: str) -> dict[str, Any]:
    doc = without_nulls({
        "id": row.id, "name": row.name, "user": row.user_id, "company": company_id, "task": row.task,
        "project": row.project_id, "ready": row.ready, "tags": list(row.tags),
        "system_tags": list(row.system_tags), "created": iso(row.created),
        "last_update": iso(row.last_update),
    })
    doc.update(row.details)
    return doc


def _metadata(items: list[dict[str, Any]]) -> dict[str, Any]:
    """ClearML keeps metadata as {key: item}; an item without a key is 400/12 naming it."""
    for index, item in enumerate(items):
        if not item.get("key"):
            raise errors.ValidationError(f"field 'metadata.{index}.key': a key is required")
    return {item["key"]: {k: v for k, v in item.items() if v is not None} for item in items}


def _fields(call: Call, req: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(column values, details) of a create/edit request; the project and task must be the caller's."""
    values = {name: req[name] for name in COLUMNS if name in req}
    details = {name: req[name] for name in DETAILS if name in req}
    if "project" in req:
        values["project_key"] = projects.require(call.db, call.company_key, req["project"]).key
    if "task" in req:
        task_queries.require(call.db, call.company_key, req["task"])
    if "metadata" in req:
        details["metadata"] = _metadata(req["metadata"])
    if "iteration" in req:
        details["last_iteration"] = req["iteration"]
    return values, details


@endpoint("models.create", "2.1")
def create(call: Call, req: dict[str, Any]) -> dict[str, Any]:
    values, details = _fields(call, req)
    model_id = uuid.uuid4().hex
    model_queries.create(call.db, call.company_key, model_id=model_id, name=values["name"],
                         user_id=call.identity.user_id, project_key=values.get("project_key"),
                         task=values.get("task"), ready=values.get("ready", True),
                         tags=values.get("tags", []),
                         system_tags=values.get("system_tags", []), details=details)
    return {"id": model_id, "created": True}


@endpoint("models.get_by_id", "2.1", reads_only=True)
def get_by_id(call: Call, req: dict[str, Any]) -> dict[str, Any]:
    return {"model": model_document(model_queries.require(call.db, call.company_key, req["model"]),
                                    call.company_id)}


@endpoint("models.get_all", "2.1", reads_only=True)
def get_all(call: Call, req: dict[str, Any]) -> dict[str, Any]:
    rows = model_queries.find(
        call.db, call.company_key, ids=req.get("id"), name=req.get("name"), project_ids=req.get("project"),
        tasks=req.get("task"), ready=req.get("ready"), frameworks=req.get("framework"), uris=req.get("uri"),
        users=req.get("user"), tags=req.get("tags"), system_tags=req.get("system_tags"),
        order_by=req.get("order_by"), page=req.get("page"), page_size=req.get("page_size"))
    return {"models": [only_fields(model_document(r, call.company_id), req.get("only_fields")) for r in rows]}


@endpoint("models.edit", "2.1")
def edit(call: Call, req: dict[str, Any]) -> dict[str, Any]:
    row = model_queries.require(call.db, call.company_key, req["model"], for_update=True)
    values, details = _fields(call, req)
    if row.ready and "uri" in details and details["uri"] != row.details.get("uri"):
        raise errors.ModelIsReady("field 'uri': a ready model's uri cannot change", id=row.id)
    model_queries.update(call.db, row.key, values, details)
    fields = {k: v for k, v in req.items() if k in COLUMNS + DETAILS + ("project", "metadata", "iteration")}
    return {"updated": 1, "fields": fields}


@endpoint("models.update_for_task", "2.1")
def update_for_task(call: Call, req: dict[str, Any]) -> dict[str, Any]:
    """The task's output model: `override_model_id` names an existing one, else a new model is made
    from `uri`; either way the task lists it as its 'Output Model'."""
    task = task_queries.lock_one(call.db, call.company_key, req["task"])
    details = {name: req[name] for name in ("uri", "comment") if name in req}
    if req.get("iteration") is not None:
        details["last_iteration"] = req["iteration"]
    if req.get("override_model_id"):
        row = model_queries.require(call.db, call.company_key, req["override_model_id"], for_update=True)
        model_id, created = row.id, False
        model_queries.update(call.db, row.key, {"task": task.id}, details)
    elif req.get("uri"):
        model_id, created = uuid.uuid4().hex, True
        model_queries.create(call.db, call.company_key, model_id=model_id, name=req.get("name") or task.name,
                             user_id=call.identity.user_id, project_key=None, task=task.id, ready=False,
                             tags=req.get("tags", []), system_tags=req.get("system_tags", []),
                             details=details)
    else:
        raise errors.MissingRequiredFields("uri or override_model_id", missing=["uri"])
    models = task.details.get("models") or {}
    output = [m for m in models.get("output") or [] if m.get("name") != "Output Model"]
    output.append({"name": "Output Model", "model": model_id})
    task_models = {"input": models.get("input") or [], "output": output}
    task_queries.update_task(call.db, task.key, {}, {"models": task_models})
    return {"id": model_id, "created": created, "updated": int(not created), "fields": details}


@endpoint("models.set_ready", "2.1")
def set_ready(call: Call, req: dict[str, Any]) -> dict[str, Any]:
    row = model_queries.require(call.db, call.company_key, req["model"], for_update=True)
    if not row.ready:
        model_queries.update(call.db, row.key, {"ready": True})
    return {"updated": int(not row.ready)}


@endpoint("models.delete", "2.1")
def delete(call: Call, req: dict[str, Any]) -> dict[str, Any]:
    row = model_queries.require(call.db, call.company_key, req["model"], for_update=True)
    if row.ready and not req.get("force"):
        raise errors.ModelIsReady("a ready model is deleted only with force", id=row.id)
    model_queries.delete(call.db, row.key)
    return {"deleted": True, "url": row.details.get("uri")}


@endpoint("models.add_or_update_metadata", "2.13")
def add_or_update_metadata(call: Call, req: dict[str, Any]) -> dict[str, Any]:
    row = model_queries.require(call.db, call.company_key, req["model"], for_update=True)
    current = {} if req["replace_metadata"] else dict(row.details.get("metadata") or {})
    current.update(_metadata(req["metadata"]))
    model_queries.update(call.db, row.key, {}, {"metadata": current})
    return {"updated": 1}
