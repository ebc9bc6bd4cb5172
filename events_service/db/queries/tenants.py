"""Companies: the tenant every task and event belongs to."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

_company_keys: dict[tuple[str, str], int] = {}  # (database, company id) -> key; keys never change


def company_key(engine: Engine, company_id: str) -> int:
    """The company's key, registering the company on first use.

    Registration commits on its own connection, so the key may be cached even when the request
    that first needed it is rolled back.
    """
    cache_key = (str(engine.url), company_id)
    key = _company_keys.get(cache_key)
    if key is None:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO companies (id) VALUES (:id) ON CONFLICT (id) DO NOTHING"),
                         {"id": company_id})
            key = conn.execute(text("SELECT key FROM companies WHERE id = :id"),
                               {"id": company_id}).scalar_one()
        _company_keys[cache_key] = key
    return key


def existing_company_key(engine: Engine, company_id: str) -> int | None:
    """The key of a registered company, or None (a token may outlive its company's database)."""
    cache_key = (str(engine.url), company_id)
    key = _company_keys.get(cache_key)
    if key is None:
        with engine.connect() as conn:
            key = conn.execute(text("SELECT key FROM companies WHERE id = :id"), {"id": company_id}).scalar()
        if key is not None:
            _company_keys[cache_key] = key
    return key


@dataclass(frozen=True)
class Company:
    key: int
    id: str
    name: str


def find_company(session: Session, ref: str) -> Company | None:
    """A company by id, else by name."""
    row = session.execute(text(
        "SELECT key, id, name FROM companies WHERE id = :ref OR (name = :ref AND name <> '') "
        "ORDER BY (id = :ref) DESC LIMIT 1"), {"ref": ref}).first()
    return Company(row.key, row.id, row.name) if row else None


def ensure_company(session: Session, company_id: str, name: str = "") -> Company:
    """The company with this id, created when missing; an empty name is filled in with `name`."""
    session.execute(text(
        "INSERT INTO companies (id, name) VALUES (:id, :name) "
        "ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name WHERE companies.name = ''"),
        {"id": company_id, "name": name})
    row = session.execute(text("SELECT key, id, name FROM companies WHERE id = :id"),
                          {"id": company_id}).one()
    return Company(row.key, row.id, row.name)
