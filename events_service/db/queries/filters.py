"""Pieces of the tasks/projects/models queries: ClearML's filter conventions as SQL conditions, and
the SET list of their updates."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator, Sequence

from sqlalchemy import text
from sqlalchemy.exc import DataError
from sqlalchemy.orm import Session

from events_service import errors

INVALID_REGULAR_EXPRESSION = "2201B"


class Where:
    """AND-ed SQL conditions with their bound parameters."""

    def __init__(self, condition: str, **params: Any):
        self.conditions = [condition]
        self.params: dict[str, Any] = dict(params)

    def add(self, condition: str, **params: Any) -> None:
        self.conditions.append(condition)
        self.params.update(params)

    def tags(self, column: str, wanted: Sequence[str] | None, prefix: str) -> None:
        """ClearML tag filters: every plain tag must be present, every '-'-prefixed one absent."""
        if not wanted:
            return
        include = [t for t in wanted if not t.startswith("-")]
        exclude = [t[1:] for t in wanted if t.startswith("-")]
        if include:
            self.add(f"{column} @> CAST(:{prefix}_in AS text[])", **{f"{prefix}_in": include})
        if exclude:
            self.add(f"NOT ({column} && CAST(:{prefix}_out AS text[]))", **{f"{prefix}_out": exclude})

    @property
    def sql(self) -> str:
        return " AND ".join(self.conditions)


def order_clause(order_by: Sequence[str] | None, fields: dict[str, str], default: str) -> str:
    """ORDER BY text from ClearML's ['-created', 'name'] form; 400/12 naming an unknown field."""
    parts = []
    for item in order_by or []:
        descending = item.startswith("-")
        name = item.lstrip("-+")
        if name not in fields:
            raise errors.ValidationError(f"field 'order_by': cannot order by {name!r}; one of "
                                         f"{', '.join(sorted(fields))}")
        parts.append(f"{fields[name]} {'DESC' if descending else 'ASC'} NULLS LAST")
    return ", ".join(parts + [default])


@contextmanager
def regex_guard() -> Iterator[None]:
    """A pattern PostgreSQL cannot compile is the caller's error (400/21), not a server error."""
    try:
        yield
    except DataError as exc:
        if getattr(exc.orig, "sqlstate", None) == INVALID_REGULAR_EXPRESSION:
            raise errors.InvalidRegex(str(exc.orig).splitlines()[0])
        raise


def listing(session: Session, select_from: str, where: Where, order_by: str, page: int | None,
            page_size: int | None) -> list[Any]:
    """Run a get_all listing: `SELECT ... FROM ...` with the filters, the order, and ClearML's
    page / page_size (0-based page; no page_size = every row)."""
    sql = f"{select_from} WHERE {where.sql} ORDER BY {order_by}"
    params = dict(where.params)
    if page_size is not None:
        sql += " LIMIT :limit OFFSET :offset"
        params.update(limit=page_size, offset=(page or 0) * page_size)
    with regex_guard():
        return list(session.execute(text(sql), params))


def assignments(values: dict[str, Any], casts: dict[str, str | None]) -> list[str]:
    """`column = :column` for each value (with the column's CAST where it needs one). Column names go
    into the SQL text, so only those `casts` lists (the table's updatable columns) are accepted."""
    unknown = set(values) - set(casts)
    if unknown:
        raise ValueError(f"not updatable: {sorted(unknown)}")
    return [f"{name} = CAST(:{name} AS {casts[name]})" if casts[name] else f"{name} = :{name}"
            for name in values]
