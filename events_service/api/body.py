"""Request bodies: a JSON object, JSON lines for batches, or query-string fields."""
from __future__ import annotations

import json
import math
from typing import Any, Callable, Iterable

import orjson

from events_service.errors import RawBadRequest

JSON_LINES = "application/json-lines"
# Deepest nesting of arrays and objects a request may have. orjson stops at 1,024 levels, the
# stdlib fallback only at Python's recursion limit (a RecursionError, a 500); the recursive walks
# over requests (NUL and NaN checks, jsonschema) need headroom below that limit too. No ClearML
# request comes near: task sections are a few levels deep.
MAX_DEPTH = 100


def loads(text: bytes | str) -> Any:
    """orjson for speed; the stdlib as fallback, which also reads NaN and Infinity literals.

    Non-finite numbers are thus parsed and rejected per event by validation, with a reason,
    instead of failing the whole batch as malformed JSON.
    """
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        try:
            value = json.loads(text)
        except RecursionError:
            raise ValueError(f"nested deeper than {MAX_DEPTH} levels")
        _check_unicode(value)
    brackets = (b"[", b"{") if isinstance(text, bytes) else ("[", "{")
    open_brackets = text.count(brackets[0]) + text.count(brackets[1])  # fewer cannot nest that deep
    where = too_deep(value) if open_brackets > MAX_DEPTH else None
    if where is not None:
        field = where.split(".")[0]
        raise ValueError(f"nested deeper than {MAX_DEPTH} levels" + (f" (field '{field}')" if field else ""))
    return value


def _check_unicode(value: Any) -> None:
    """ValueError when a string or key holds a lone surrogate ("\\ud800"): not Unicode, so neither
    UTF-8 nor PostgreSQL text can hold it (orjson refuses it; only the stdlib fallback reads it)."""
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("a \\u escape is a lone surrogate (not valid Unicode)")
    except RecursionError:
        raise ValueError(f"nested deeper than {MAX_DEPTH} levels")


def too_deep(value: Any, limit: int = MAX_DEPTH) -> str | None:
    """The path of the first array or object nested deeper than `limit` (None when there is none).

    Iterative, so that it cannot itself run out of stack; scalar JSON lines (the hot path of
    add_batch) hold no containers below the event and cost one pass over their values.
    """
    stack: list[tuple[Any, int, str]] = [(value, 0, "")]
    while stack:
        node, depth, path = stack.pop()
        if isinstance(node, dict):
            items: Iterable[tuple[Any, Any]] = node.items()
        elif isinstance(node, list):
            items = enumerate(node)
        else:
            continue
        if depth >= limit:
            return path
        for key, item in items:
            if isinstance(item, (dict, list)):
                stack.append((item, depth + 1, f"{path}.{key}" if path else str(key)))
    return None


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


def first_path(value: Any, is_bad: Callable[[Any], bool], path: str = "") -> str | None:
    """The dotted path of the first value (or object key) in a JSON tree for which `is_bad` holds;
    None when there is none."""
    if is_bad(value):
        return path
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            found = where if is_bad(key) else first_path(item, is_bad, where)
            if found is not None:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = first_path(item, is_bad, f"{path}.{index}" if path else str(index))
            if found is not None:
                return found
    return None


def _non_finite(value: Any) -> bool:
    return isinstance(value, float) and not math.isfinite(value)


def _has_nul(value: Any) -> bool:
    return isinstance(value, str) and "\x00" in value


def non_finite_path(value: Any) -> str | None:
    """The path of the first NaN or Infinity (which the stdlib fallback parses); None when none."""
    return first_path(value, _non_finite)


def nul_path(value: Any) -> str | None:
    """The path of the first string (or key) holding a NUL character, which PostgreSQL text
    cannot store; None when there is none."""
    return first_path(value, _has_nul)
