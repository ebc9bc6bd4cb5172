"""Request bodies: a JSON object, JSON lines for batches, or query-string fields."""
from __future__ import annotations

import json
import math
import re
from typing import Any, Callable, Iterable

import orjson

from events_service.errors import RawBadRequest

JSON_LINES = "application/json-lines"
# Deepest nesting of arrays and objects a request may have. orjson stops at 1,024 levels, the
# stdlib fallback only at Python's recursion limit (a RecursionError, a 500); the recursive walks
# over requests (NUL and NaN checks, jsonschema) need headroom below that limit too. No ClearML
# request comes near: task sections are a few levels deep.
MAX_DEPTH = 100


# Most digits of an integer literal read exactly: Python's own limit on converting text to int
# (sys.get_int_max_str_digits); PostgreSQL's jsonb would hold more, but could not give it back.
MAX_INT_DIGITS = 4300
# orjson reads an integer literal outside [-2**63, 2**64) as the nearest double: a changed value
# (an iteration of -9223372036854775809 became -2**63). Such literals have 19 digits or more, so
# a text with a run of 19 digits is read by the stdlib instead, which keeps every integer exact.
# The run is found by turning every digit into "0" and looking for nineteen of them: ~1 us a
# line, where the regex [0-9]{19} took ~10 us (more than orjson's whole parse).
_DIGITS_AS_ZERO = bytes.maketrans(b"123456789", b"0" * 9)
_NINETEEN_DIGITS = b"0" * 19
_NINETEEN_DIGITS_TEXT = re.compile(r"[0-9]{19}")  # str bodies: query-string values, short


def _has_long_digit_run(text: bytes | str) -> bool:
    if isinstance(text, str):
        return _NINETEEN_DIGITS_TEXT.search(text) is not None
    return _NINETEEN_DIGITS in text.translate(_DIGITS_AS_ZERO)


class OutOfRange:
    """A number literal no value can hold exactly: beyond a double (1e400), or an integer longer
    than MAX_INT_DIGITS. It stays in the parsed tree in place of the number, so validation can
    refuse it naming the field (per event in a batch) instead of failing the whole request."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text if len(self.text) <= 40 else f"{self.text[:20]}...{self.text[-10:]}"

    def reason(self) -> str:
        return f"{self!r} is out of range (no double or exact integer holds it)"


def _parse_int(text: str) -> Any:
    return int(text) if len(text.lstrip("-")) <= MAX_INT_DIGITS else OutOfRange(text)


def _parse_float(text: str) -> Any:
    value = float(text)  # a literal too small for a double is its nearest value, 0.0, as 0.1 is rounded
    return value if math.isfinite(value) else OutOfRange(text)


def _stdlib_loads(text: bytes | str) -> Any:
    try:
        value = json.loads(text, parse_int=_parse_int, parse_float=_parse_float)
    except RecursionError:
        raise ValueError(f"nested deeper than {MAX_DEPTH} levels")
    _check_unicode(value)
    return value


def loads(text: bytes | str) -> Any:
    """orjson for speed; the stdlib as fallback, which also reads NaN and Infinity literals and
    keeps every integer exact (see _has_long_digit_run); numbers no value can hold become OutOfRange.

    Non-finite numbers are thus parsed and rejected per event by validation, with a reason,
    instead of failing the whole batch as malformed JSON.
    """
    if _has_long_digit_run(text):
        value = _stdlib_loads(text)
    else:
        try:
            value = orjson.loads(text)
        except orjson.JSONDecodeError:
            value = _stdlib_loads(text)
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
        json.dumps(value, ensure_ascii=False, default=repr).encode("utf-8")
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


def read_at_most(stream: Any, size: int) -> bytes:
    """Up to `size` bytes of a request stream: one read may return less (werkzeug's LimitedStream
    reads once per call), so reads go on until `size` or the end of the body."""
    chunks: list[bytes] = []
    remaining = size
    while remaining > 0:
        chunk = stream.read(remaining)
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


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


# A query-string number is ASCII, as in a JSON body: int("²") raised a ValueError (a 500) and
# int("١٢") read Arabic-Indic digits as 12; whitespace and signs other than "-" are not numbers.
_NUMBER = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?")


def _convert(value: str, types: tuple[str, ...]) -> Any:
    """A query-string value as the JSON value the schema's `types` ask for; the text itself when
    it is none of them, so that validation refuses it naming the field. Untyped fields are read
    as ClearML reads them: numbers, booleans, else strings."""
    if "string" in types:
        return value
    if ("boolean" in types or not types) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    if "null" in types and value == "null":
        return None
    if ("integer" in types or "number" in types or not types) and _NUMBER.fullmatch(value):
        return loads(value)  # integers exact, 1e400 OutOfRange, as in a JSON body
    return value


def query_integer(value: str) -> int | None:
    """A query-string integer read as in a JSON body (for calls without a request schema, the
    viewer's): ASCII only ("²", " 12", "+12", "1_0" are not numbers), an integral float the integer
    it equals; None when the text is no such number."""
    if not _NUMBER.fullmatch(value):
        return None
    number = loads(value)
    if type(number) is float and number.is_integer():
        return int(number)
    return number if type(number) is int else None


def deref(schema: dict[str, Any], definitions: dict[str, Any]) -> dict[str, Any]:
    """A (sub)schema with its local `$ref`s (#/definitions/name) followed."""
    for _ in range(10):  # a cycle of references is the schema's bug; stop rather than hang
        ref = schema.get("$ref", "")
        if not ref.startswith("#/definitions/"):
            break
        schema = definitions.get(ref.rsplit("/", 1)[-1], {})
    return schema


def properties_of(schema: dict[str, Any], definitions: dict[str, Any]) -> dict[str, Any]:
    """The properties a (sub)schema names, its `$ref` followed and the properties of its `allOf`
    members included (models.conf's create and edit share their fields that way)."""
    schema = deref(schema, definitions)
    found: dict[str, Any] = {}
    for member in schema.get("allOf", []):
        if isinstance(member, dict):
            found.update(properties_of(member, definitions))
    found.update(schema.get("properties", {}))
    return found


def _types(schema: dict[str, Any], root: dict[str, Any]) -> tuple[str, ...]:
    """The JSON types a (sub)schema names, following its $ref; () when it names none."""
    schema = deref(schema, root.get("definitions", {}))
    kind = schema.get("type")
    if kind is None and "enum" in schema:
        return tuple(sorted({"string" if isinstance(v, str) else "number" for v in schema["enum"]}))
    return tuple(kind) if isinstance(kind, list) else ((kind,) if kind else ())


def query_fields(pairs: Iterable[tuple[str, list[str]]],
                 schema: dict[str, Any] | None = None) -> dict[str, Any]:
    """Query-string or form fields, typed by the request `schema` (with its definitions) as a JSON
    body is; a repeated name, a [] suffix or an array-typed field makes a list."""
    properties = properties_of(schema or {}, (schema or {}).get("definitions", {}))
    fields: dict[str, Any] = {}
    for key, values in pairs:
        is_list = key.endswith("[]")
        key = key[:-2] if is_list else key
        prop = properties.get(key)
        types = _types(prop, schema) if isinstance(prop, dict) else ()
        if "array" in types:
            is_list = True
            items = prop.get("items")
            types = _types(items, schema) if isinstance(items, dict) else ()
        converted = [_convert(v, types) for v in values]
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


def unstorable(value: Any) -> str | None:
    """"field 'path': reason" for the first value that cannot be stored as sent: a string (or key)
    with a NUL character, which PostgreSQL text cannot hold, or a number no value holds
    (OutOfRange); None when there is none. One walk, for both."""
    found: list[Any] = []

    def bad(item: Any) -> bool:
        if isinstance(item, OutOfRange) or (isinstance(item, str) and "\x00" in item):
            found.append(item)
            return True
        return False

    where = first_path(value, bad)
    if where is None:
        return None
    reason = (found[0].reason() if isinstance(found[0], OutOfRange)
              else "text must not contain NUL (\\u0000) characters")
    return f"field '{where}': {reason}"


def nul_path(value: Any) -> str | None:
    """The path of the first string (or key) holding a NUL character, which PostgreSQL text
    cannot store; None when there is none."""
    return first_path(value, _has_nul)
