"""Projects of a company: create, read by id, list with ClearML's filters."""
from __future__ import annotations

from typing import Any, Sequence

from sqlalchemy import text
from sqlalchemy.orm import Session

from events_service import errors
from events_service.db.queries.filters import Where, assignments, listing, order_clause

COLUMNS = ("key, id, name, description, user_id, tags, system_tags, default_output_destination, created, "
           "last_update")
ORDER_FIELDS = {"id": "id", "name": "name", "created": "created", "last_update": "last_update"}


def create(session: Session, company_key: int, *, project_id: str, name: str, description: str,
           user_id: str | None, tags: Sequence[str], system_tags: Sequence[str],
           default_output_destination: str | None) -> int:
    """The new project's key; 400/801 when the company already has a project of that name."""
    key = session.execute(text(
        "INSERT INTO projects (company_key, id, name, description, user_id, tags, system_tags, "
        "default_output_destination, last_update) VALUES (:ck, :id, :name, :description, :user, "
        "CAST(:tags AS text[]), CAST(:system_tags AS text[]), :dest, now()) "
        "ON CONFLICT (company_key, name) DO NOTHING RETURNING key"),
        {"ck": company_key, "id": project_id, "name": name, "description": description, "user": user_id,
         "tags": list(tags), "system_tags": list(system_tags), "dest": default_output_destination}).scalar()
    if key is None:
        raise errors.ExpectedUniqueData("a project with this name already exists", name=name)
    return key


def by_ids(session: Session, company_key: int, project_ids: Sequence[str]) -> dict[str, Any]:
    """id -> row, for the company's projects among `project_ids` (others are simply absent)."""
    rows = session.execute(text(f"SELECT {COLUMNS} FROM projects WHERE company_key = :ck AND id = ANY(:ids)"),
                           {"ck": company_key, "ids": list(set(project_ids))})
    return {r.id: r for r in rows}


def require(session: Session, company_key: int, project_id: str) -> Any:
    """The company's project, or 400/401 (another company's project is as unknown as a missing one)."""
    found = by_ids(session, company_key, [project_id]).get(project_id)
    if found is None:
        raise errors.InvalidProjectId(id=project_id)
    return found


def find(session: Session, company_key: int, *, ids: Sequence[str] | None = None, name: str | None = None,
         description: str | None = None, tags: Sequence[str] | None = None,
         system_tags: Sequence[str] | None = None, order_by: Sequence[str] | None = None,
         page: int | None = None, page_size: int | None = None) -> list[Any]:
    """The company's projects matching every given filter (patterns are regular expressions)."""
    where = Where("company_key = :ck", ck=company_key)
    if ids is not None:
        where.add("id = ANY(:ids)", ids=list(ids))
    if name:
        where.add("name ~ :name_re", name_re=name)
    if description:
        where.add("description ~ :description_re", description_re=description)
    where.tags("tags", tags, "tags")
    where.tags("system_tags", system_tags, "system_tags")
    return listing(session, f"SELECT {COLUMNS} FROM projects", where,
                   order_clause(order_by, ORDER_FIELDS, default="created, key"), page, page_size)


# Columns projects.update may set, with the cast their parameter needs (names go into SQL: only these).
UPDATABLE: dict[str, str | None] = {"name": None, "description": None, "tags": "text[]",
                                    "system_tags": "text[]", "default_output_destination": None}


def update(session: Session, project_key: int, values: dict[str, Any]) -> None:
    """Set the given columns and last_update; 400/801 when the new name is taken in the company."""
    sets = assignments(values, UPDATABLE)
    taken = session.execute(text(
        "SELECT 1 FROM projects p WHERE p.company_key = (SELECT company_key FROM projects WHERE key = :key) "
        "AND p.name = :name AND p.key <> :key"), {"key": project_key, "name": values.get("name")}).first()
    if taken:
        raise errors.ExpectedUniqueData("a project with this name already exists", name=values["name"])
    session.execute(text(f"UPDATE projects SET {', '.join(sets + ['last_update = now()'])} WHERE key = :key"),
                    dict(values, key=project_key))
