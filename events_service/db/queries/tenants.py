"""Companies: the tenant every task and event belongs to."""
from __future__ import annotations

from sqlalchemy import Engine, text

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
            key = conn.execute(text("SELECT key FROM companies WHERE id = :id"), {"id": company_id}).scalar_one()
        _company_keys[cache_key] = key
    return key
