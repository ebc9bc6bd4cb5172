"""The Call: everything one request's handler needs, free of Flask."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from events_service.api.versions import Version


@dataclass
class Call:
    id: str
    trx: str
    name: str = ""
    requested_version: Version | None = None
    actual_version: Version | None = None
    worker: str = "<unknown>"
    company_id: str = ""
    company_key: int | None = None
    identity: Any = None  # events_service.auth.Identity of the authenticated caller
    config: dict[str, Any] = field(default_factory=dict)
    session: Session | None = None
    batch: list[dict[str, Any]] | None = None
    api: Any = None  # the ApiSchema, for handlers that validate parts of a request themselves
    outcome: Any = None  # events_service.ingest.Outcome of an ingesting call (counted by ops/requests.py)

    @property
    def db(self) -> Session:
        assert self.session is not None, "no database session on this call"
        return self.session
