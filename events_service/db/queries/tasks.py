"""Task lookups and changes, always scoped to the caller's company."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

from sqlalchemy import text
from sqlalchemy.orm import Session

from events_service.db.queries.filters import Where, assignments, listing, order_clause
from events_service.errors import InvalidTaskId
from events_service import jsonutil


@dataclass(frozen=True)
class Task:
    key: int
    id: str
    name: str
    status: str
    last_iteration: int


# Task's columns, selected from `tasks t`; queries that look a task up with more (db/queries/scalars)
# start their rows with these.
TASK_REF = "t.key, t.id, t.name, t.status, t.last_iteration"


def get_many(session: Session, company_key: int, task_ids: Iterable[str]) -> dict[str, Task]:
    rows = session.execute(text(
        f"SELECT {TASK_REF} FROM tasks t WHERE t.company_key = :ck AND t.id = ANY(:ids)"),
        {"ck": company_key, "ids": list(set(task_ids))})
    return {r.id: Task(*r) for r in rows}


def task_of(rows: Sequence[Any], task_id: str) -> Task:
    """The task of rows that start with TASK_REF's columns, or 400/101 when there are none."""
    if not rows:
        raise InvalidTaskId(ids=[task_id])
    return Task(*rows[0][:5])


def require(session: Session, company_key: int, task_id: str) -> Task:
    """The caller's task, or 400/101 (another company's task is as unknown as a missing one)."""
    return require_many(session, company_key, [task_id])[task_id]


def require_many(session: Session, company_key: int, task_ids: list[str]) -> dict[str, Task]:
    found = get_many(session, company_key, task_ids)
    missing = [t for t in dict.fromkeys(task_ids) if t not in found]
    if missing:
        raise InvalidTaskId(ids=missing)
    return found


# --- The tasks service (tasks.create / get_* / edit / status changes) -------------------------------

TASK_COLUMNS = (
    "t.key, t.id, t.name, t.status, t.type, t.user_id, t.comment, t.parent, t.tags, t.system_tags, "
    "t.status_message, t.status_reason, t.status_changed, t.created, t.started, t.completed, t.published, "
    "t.last_update, t.last_change, t.last_iteration, t.details, p.id AS project_id")
TASK_FROM = "tasks t LEFT JOIN projects p ON p.key = t.project_key"
ORDER_FIELDS = {name: f"t.{name}" for name in (
    "id", "name", "status", "type", "created", "started", "completed", "last_update", "last_change",
    "status_changed", "last_iteration")}
# Columns a handler may set, with the cast their parameter needs (names are put into SQL: only these).
UPDATABLE: dict[str, str | None] = {
    "name": None, "type": None, "project_key": None, "comment": None, "parent": None, "tags": "text[]",
    "system_tags": "text[]", "status": None, "status_message": None, "status_reason": None,
    "status_changed": None, "started": None, "completed": None, "published": None, "last_update": None,
    "last_change": None, "last_iteration": None,
}


def create_task(session: Session, company_key: int, *, task_id: str, name: str, task_type: str,
                project_key: int | None, user_id: str | None, comment: str | None, parent: str | None,
                tags: Sequence[str], system_tags: Sequence[str], details: dict[str, Any]) -> None:
    session.execute(text(
        "INSERT INTO tasks (company_key, id, name, type, project_key, user_id, comment, parent, tags, "
        "system_tags, details, status_changed, last_update, last_change) "
        "VALUES (:ck, :id, :name, :type, :pk, :user, :comment, :parent, CAST(:tags AS text[]), "
        "CAST(:system_tags AS text[]), CAST(:details AS jsonb), now(), now(), now())"),
        {"ck": company_key, "id": task_id, "name": name, "type": task_type, "pk": project_key,
         "user": user_id, "comment": comment, "parent": parent, "tags": list(tags),
         "system_tags": list(system_tags), "details": jsonutil.dumps(details).decode()})


def lock_one(session: Session, company_key: int, task_id: str) -> Any:
    """The company's task row, locked for a change; 400/101 when the company has no such task."""
    row = session.execute(text(
        f"SELECT {TASK_COLUMNS} FROM {TASK_FROM} WHERE t.company_key = :ck AND t.id = :id FOR UPDATE OF t"),
        {"ck": company_key, "id": task_id}).first()
    if row is None:
        raise InvalidTaskId(ids=[task_id])
    return row


def find_tasks(session: Session, company_key: int, *, ids: Sequence[str] | None = None,
               name: str | None = None, project_ids: Sequence[str] | None = None,
               statuses: Sequence[str] | None = None, types: Sequence[str] | None = None,
               users: Sequence[str] | None = None, parent: str | None = None,
               tags: Sequence[str] | None = None, system_tags: Sequence[str] | None = None,
               order_by: Sequence[str] | None = None, page: int | None = None,
               page_size: int | None = None) -> list[Any]:
    """The company's tasks matching every given filter (`name` is a regular expression)."""
    where = Where("t.company_key = :ck", ck=company_key)
    if ids is not None:
        where.add("t.id = ANY(:ids)", ids=list(ids))
    if name:
        where.add("t.name ~ :name_re", name_re=name)
    if project_ids is not None:
        where.add("p.id = ANY(:project_ids)", project_ids=list(project_ids))
    if statuses is not None:
        where.add("t.status = ANY(:statuses)", statuses=list(statuses))
    if types is not None:
        where.add("t.type = ANY(:types)", types=list(types))
    if users is not None:
        where.add("t.user_id = ANY(:users)", users=list(users))
    if parent:
        where.add("t.parent = :parent", parent=parent)
    where.tags("t.tags", tags, "tags")
    where.tags("t.system_tags", system_tags, "system_tags")
    return listing(session, f"SELECT {TASK_COLUMNS} FROM {TASK_FROM}", where,
                   order_clause(order_by, ORDER_FIELDS, default="t.key"), page, page_size)


def update_task(session: Session, task_key: int, values: dict[str, Any],
                details: dict[str, Any] | None = None) -> None:
    """Set the given columns; `details` sections replace the stored ones of the same name."""
    sets = assignments(values, UPDATABLE)
    params = dict(values, key=task_key)
    if details:
        sets.append("details = details || CAST(:details AS jsonb)")
        params["details"] = jsonutil.dumps(details).decode()
    if sets:
        session.execute(text(f"UPDATE tasks SET {', '.join(sets)} WHERE key = :key"), params)


def last_metrics(session: Session, task_keys: Sequence[int]) -> dict[int, dict[str, dict[str, Any]]]:
    """ClearML's last_metrics per task: {md5(metric): {md5(variant): {metric, variant, value, min, max}}}."""
    if not task_keys:
        return {}
    rows = session.execute(text(
        "SELECT task_key, metric, variant, last_value, min_value, max_value FROM series "
        "WHERE task_key = ANY(:keys) AND event_type = 'training_stats_scalar' ORDER BY metric, variant"),
        {"keys": list(task_keys)})
    result: dict[int, dict[str, dict[str, Any]]] = {}
    for r in rows:
        metrics = result.setdefault(r.task_key, {})
        variants = metrics.setdefault(hashlib.md5(r.metric.encode()).hexdigest(), {})
        variants[hashlib.md5(r.variant.encode()).hexdigest()] = {
            "metric": r.metric, "variant": r.variant, "value": r.last_value,
            "min_value": r.min_value, "max_value": r.max_value}
    return result


def raise_last_iteration(session: Session, task_key: int, iteration: int) -> None:
    """Move the task's last_iteration up to `iteration` (never down)."""
    session.execute(text("UPDATE tasks SET last_iteration = GREATEST(last_iteration, :it) WHERE key = :key"),
                    {"it": iteration, "key": task_key})


def delete_task(session: Session, task_key: int) -> None:
    """Remove the task row (its events and series must be gone first: db/queries/delete.py)."""
    session.execute(text("DELETE FROM tasks WHERE key = :key"), {"key": task_key})
