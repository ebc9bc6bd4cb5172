"""Models of a company: create, look up, list with ClearML's filters, change, delete."""
from __future__ import annotations

from typing import Any, Sequence

from sqlalchemy import text
from sqlalchemy.orm import Session

from events_service import errors, jsonutil
from events_service.db.queries.filters import Where, assignments, listing, order_clause

COLUMNS = ("m.key, m.id, m.name, m.user_id, m.task, m.ready, m.tags, m.system_tags, m.details, m.created, "
           "m.last_update, p.id AS project_id")
FROM = "models m LEFT JOIN projects p ON p.key = m.project_key"
ORDER_FIELDS = {name: f"m.{name}" for name in ("id", "name", "created", "last_update", "ready", "task")}
# Columns a handler may set, with the cast their parameter needs (names are put into SQL: only these).
UPDATABLE: dict[str, str | None] = {"name": None, "project_key": None, "task": None, "ready": None,
                                    "tags": "text[]", "system_tags": "text[]"}


def create(session: Session, company_key: int, *, model_id: str, name: str, user_id: str | None,
           project_key: int | None, task: str | None, ready: bool, tags: Sequence[str],
           system_tags: Sequence[str], details: dict[str, Any]) -> None:
    session.execute(text(
        "INSERT INTO models (company_key, id, name, user_id, project_key, task, ready, tags, system_tags, "
        "details, last_update) VALUES (:ck, :id, :name, :user, :pk, :task, :ready, CAST(:tags AS text[]), "
        "CAST(:system_tags AS text[]), CAST(:details AS jsonb), now())"),
        {"ck": company_key, "id": model_id, "name": name, "user": user_id, "pk": project_key, "task": task,
         "ready": ready, "tags": list(tags), "system_tags": list(system_tags),
         "details": jsonutil.dumps(details).decode()})


def require(session: Session, company_key: int, model_id: str, for_update: bool = False) -> Any:
    """The company's model, or 400/1201 (another company's model is as unknown as a missing one)."""
    lock = " FOR UPDATE OF m" if for_update else ""
    row = session.execute(text(
        f"SELECT {COLUMNS} FROM {FROM} WHERE m.company_key = :ck AND m.id = :id{lock}"),
                          {"ck": company_key, "id": model_id}).first()
    if row is None:
        raise errors.InvalidModelId(id=model_id)
    return row


def find(session: Session, company_key: int, *, ids: Sequence[str] | None = None, name: str | None = None,
         project_ids: Sequence[str] | None = None, tasks: Sequence[str] | None = None,
         ready: bool | None = None, frameworks: Sequence[str] | None = None,
         uris: Sequence[str] | None = None, users: Sequence[str] | None = None,
         tags: Sequence[str] | None = None, system_tags: Sequence[str] | None = None,
         order_by: Sequence[str] | None = None, page: int | None = None,
         page_size: int | None = None) -> list[Any]:
    """The company's models matching every given filter (`name` is a regular expression)."""
    where = Where("m.company_key = :ck", ck=company_key)
    if ids is not None:
        where.add("m.id = ANY(:ids)", ids=list(ids))
    if name:
        where.add("m.name ~ :name_re", name_re=name)
    if project_ids is not None:
        where.add("p.id = ANY(:project_ids)", project_ids=list(project_ids))
    if tasks is not None:
        where.add("m.task = ANY(:tasks)", tasks=list(tasks))
    if ready is not None:
        where.add("m.ready = :ready", ready=ready)
    if frameworks is not None:
        where.add("m.details->>'framework' = ANY(:frameworks)", frameworks=list(frameworks))
    if uris is not None:
        where.add("m.details->>'uri' = ANY(:uris)", uris=list(uris))
    if users is not None:
        where.add("m.user_id = ANY(:users)", users=list(users))
    where.tags("m.tags", tags, "tags")
    where.tags("m.system_tags", system_tags, "system_tags")
    return listing(session, f"SELECT {COLUMNS} FROM {FROM}", where,
                   order_clause(order_by, ORDER_FIELDS, default="m.key"), page, page_size)


def update(session: Session, model_key: int, values: dict[str, Any],
           details: dict[str, Any] | None = None) -> None:
    """Set the given columns and last_update; `details` fields replace the stored ones of the same name."""
    sets = assignments(values, UPDATABLE)
    params = dict(values, key=model_key)
    if details:
        sets.append("details = details || CAST(:details AS jsonb)")
        params["details"] = jsonutil.dumps(details).decode()
    session.execute(text(f"UPDATE models SET {', '.join(sets + ['last_update = now()'])} WHERE key = :key"),
                    params)


def delete(session: Session, model_key: int) -> None:
    session.execute(text("DELETE FROM models WHERE key = :key"), {"key": model_key})
