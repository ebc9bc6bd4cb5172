"""Task lookups for the read endpoints, always scoped to the caller's company."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from sqlalchemy import text
from sqlalchemy.orm import Session

from events_service.errors import InvalidTaskId


@dataclass(frozen=True)
class Task:
    key: int
    id: str
    name: str
    status: str
    last_iteration: int


def get_many(session: Session, company_key: int, task_ids: Iterable[str]) -> dict[str, Task]:
    rows = session.execute(text(
        "SELECT key, id, name, status, last_iteration FROM tasks WHERE company_key = :ck AND id = ANY(:ids)"),
        {"ck": company_key, "ids": list(set(task_ids))})
    return {r.id: Task(r.key, r.id, r.name, r.status, r.last_iteration) for r in rows}


def require(session: Session, company_key: int, task_id: str) -> Task:
    """The caller's task, or 400/101 (another company's task is as unknown as a missing one)."""
    return require_many(session, company_key, [task_id])[task_id]


def require_many(session: Session, company_key: int, task_ids: list[str]) -> dict[str, Task]:
    found = get_many(session, company_key, task_ids)
    missing = [t for t in dict.fromkeys(task_ids) if t not in found]
    if missing:
        raise InvalidTaskId(ids=missing)
    return found
