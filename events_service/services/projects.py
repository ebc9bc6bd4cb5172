"""Handlers of the `projects` service: the folders tasks live in, one namespace per company."""
from __future__ import annotations

import uuid
from typing import Any

from events_service import errors
from events_service.api.call import Call
from events_service.api.registry import endpoint
from events_service.db.queries import projects
from events_service.services.documents import iso, only_fields, without_nulls


def project_document(row: Any, company_id: str) -> dict[str, Any]:
    return without_nulls({
        "id": row.id, "name": row.name, "description": row.description, "user": row.user_id,
        "company": company_id, "created": iso(row.created), "last_update": iso(row.last_update),
        "tags": list(row.tags), "system_tags": list(row.system_tags),
        "default_output_destination": row.default_output_destination,
    })


@endpoint("projects.create", "2.1")
def create(call: Call, req: dict[str, Any]) -> dict[str, Any]:
    """A new project; 400/801 when the company already has one of that name."""
    name = req["name"].strip()
    if not name:
        raise errors.InvalidProjectName("field 'name': a project name cannot be empty")
    project_id = uuid.uuid4().hex
    projects.create(call.db, call.company_key, project_id=project_id, name=name,
                    description=req.get("description", ""), user_id=call.identity.user_id,
                    tags=req.get("tags", []), system_tags=req.get("system_tags", []),
                    default_output_destination=req.get("default_output_destination"))
    return {"id": project_id}


@endpoint("projects.get_by_id", "2.1", reads_only=True)
def get_by_id(call: Call, req: dict[str, Any]) -> dict[str, Any]:
    return {"project": project_document(projects.require(call.db, call.company_key, req["project"]),
                                        call.company_id)}


@endpoint("projects.get_all", "2.1", reads_only=True)
def get_all(call: Call, req: dict[str, Any]) -> dict[str, Any]:
    """The company's projects matching the filters (the SDK looks its project up by an exact-name pattern)."""
    rows = projects.find(call.db, call.company_key, ids=req.get("id"), name=req.get("name"),
                         description=req.get("description"), tags=req.get("tags"),
                         system_tags=req.get("system_tags"), order_by=req.get("order_by"),
                         page=req.get("page"), page_size=req.get("page_size"))
    return {"projects": [only_fields(project_document(r, call.company_id), req.get("only_fields"))
                         for r in rows]}


@endpoint("projects.update", "2.1")
def update(call: Call, req: dict[str, Any]) -> dict[str, Any]:
    """Change a project's name, description, tags or default output destination (the SDK adds system
    tags to a project it uses for pipelines and datasets)."""
    row = projects.require(call.db, call.company_key, req["project"])
    values = {name: req[name] for name in projects.UPDATABLE if name in req}
    if "name" in values:
        values["name"] = values["name"].strip()
        if not values["name"]:
            raise errors.InvalidProjectName("field 'name': a project name cannot be empty")
    projects.update(call.db, row.key, values)
    return {"updated": 1, "fields": values}
