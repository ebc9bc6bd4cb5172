"""Access keys: stored with the hash of their secret, owned by a company."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.orm import Session


@dataclass(frozen=True)
class Credential:
    access_key: str
    secret_hash: str
    user_id: str
    user_name: str
    company_key: int
    company_id: str
    company_name: str
    created: datetime
    revoked: datetime | None


_SELECT = ("SELECT c.access_key, c.secret_hash, c.user_id, c.user_name, c.company_key, co.id AS company_id, "
           "co.name AS company_name, c.created, c.revoked "
           "FROM credentials c JOIN companies co ON co.key = c.company_key")


def _credential(row) -> Credential:  # noqa: ANN001
    return Credential(row.access_key, row.secret_hash, row.user_id, row.user_name, row.company_key,
                      row.company_id, row.company_name, row.created, row.revoked)


def create(session: Session, company_key: int, access_key: str, secret_hash: str, user_id: str,
           user_name: str = "") -> None:
    session.execute(text(
        "INSERT INTO credentials (company_key, access_key, secret_hash, user_id, user_name) "
        "VALUES (:ck, :ak, :sh, :uid, :uname)"),
        {"ck": company_key, "ak": access_key, "sh": secret_hash, "uid": user_id, "uname": user_name})


def active(session: Session, access_key: str) -> Credential | None:
    """The pair with this access key, unless it is unknown or revoked."""
    row = session.execute(text(f"{_SELECT} WHERE c.access_key = :ak AND c.revoked IS NULL"),
                          {"ak": access_key}).first()
    return _credential(row) if row else None


def list_all(session: Session, company_key: int | None = None) -> list[Credential]:
    where = " WHERE c.company_key = :ck" if company_key is not None else ""
    rows = session.execute(text(f"{_SELECT}{where} ORDER BY c.created, c.key"), {"ck": company_key})
    return [_credential(r) for r in rows]


def revoke(session: Session, access_key: str) -> bool:
    """Refuse this key from now on; False when there is no such active key."""
    result = session.execute(text(
        "UPDATE credentials SET revoked = now() WHERE access_key = :ak AND revoked IS NULL"),
        {"ak": access_key})
    return bool(result.rowcount)
