"""Shaping rows into ClearML documents: ISO times, dropped nulls, only_fields projections."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Sequence

_MISSING = object()


def iso(moment: datetime | None) -> str | None:
    """A timestamptz as ISO 8601 with its UTC offset, the form the SDK parses."""
    return moment.isoformat() if moment is not None else None


def without_nulls(doc: dict[str, Any]) -> dict[str, Any]:
    """Unset fields are left out, as the real server leaves them out of its documents."""
    return {k: v for k, v in doc.items() if v is not None}


def only_fields(doc: dict[str, Any], fields: Sequence[str] | None) -> dict[str, Any]:
    """The listed fields (nested with '.', e.g. 'execution.parameters'), plus the id, as ClearML
    returns them."""
    if fields is None:
        return doc
    out: dict[str, Any] = {}
    for path in list(fields) + ["id"]:
        parts = path.split(".")
        value: Any = doc
        for part in parts:
            value = value.get(part, _MISSING) if isinstance(value, dict) else _MISSING
            if value is _MISSING:
                break
        if value is _MISSING:
            continue
        target = out
        for part in parts[:-1]:
            target = target.setdefault(part, {})
        target[parts[-1]] = value
    return out


def wants(fields: Sequence[str] | None, name: str) -> bool:
    """Whether a projection includes the top-level field `name` (None = everything)."""
    return fields is None or any(f == name or f.startswith(name + ".") for f in fields)
