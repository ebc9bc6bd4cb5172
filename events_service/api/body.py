"""Request bodies: a JSON object, JSON lines for batches, or query-string fields."""
from __future__ import annotations

import json
from typing import Any, Iterable

import orjson

from events_service.errors import RawBadRequest

JSON_LINES = "application/json-lines"


def loads(text: bytes | str) -> Any:
    """orjson for speed; the stdlib as fallback, which also reads NaN and Infinity literals.

    Non-finite numbers are thus parsed and rejected per event by validation, with a reason,
    instead of failing the whole batch as malformed JSON.
    """
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def parse_json_lines(raw: bytes) -> list[dict[str, Any]]:
    """One JSON object a line; a single trailing newline is fine, an empty line inside is not."""
    lines = raw.splitlines()
    if lines and not lines[-1].strip():
        lines.pop()
    items = []
    for index, line in enumerate(lines):
        try:
            item = loads(line)
        except (ValueError, UnicodeDecodeError) as exc:
            raise RawBadRequest(f"{exc} in batch item #{index}")
        if not isinstance(item, dict):
            raise RawBadRequest(f"json lines must contain objects, found: {type(item).__name__}")
        items.append(item)
    return items


def parse_object(raw: bytes) -> dict[str, Any]:
    """A JSON object body (empty body = no fields)."""
    if not raw.strip():
        return {}
    try:
        data = loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise RawBadRequest(f"Invalid JSON body: {exc}")
    if not isinstance(data, dict):
        raise RawBadRequest(f"Request body must be a JSON object, found: {type(data).__name__}")
    return data


def _convert(value: str) -> Any:
    """Query-string values as ClearML reads them: numbers, booleans, else strings."""
    if value.lower() in ("true", "false"):
        return value.lower() == "true"
    digits = value[1:] if value.startswith("-") else value
    if digits.replace(".", "", 1).isdigit():
        return float(value) if "." in value else int(value)
    return value


def query_fields(pairs: Iterable[tuple[str, list[str]]]) -> dict[str, Any]:
    """Query-string or form fields; a repeated name or a [] suffix makes a list."""
    fields: dict[str, Any] = {}
    for key, values in pairs:
        is_list = key.endswith("[]")
        key = key[:-2] if is_list else key
        converted = [_convert(v) for v in values]
        fields[key] = converted if is_list or len(converted) > 1 else converted[0]
    return fields


def nul_path(value: Any, path: str = "") -> str | None:
    """The path of the first string (or key) holding a NUL character, which PostgreSQL text
    cannot store; None when there is none."""
    if isinstance(value, str):
        return path if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if "\x00" in str(key):
                return where
            found = nul_path(item, where)
            if found is not None:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = nul_path(item, f"{path}.{index}" if path else str(index))
            if found is not None:
                return found
    return None
