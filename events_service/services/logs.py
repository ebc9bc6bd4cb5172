"""Log handlers: get_task_log 1.5/1.7 (keyset scroll) and download_task_log 2.1 (streamed attachment).

get_task_log follows the contract, not the real server's page reversal: `from` picks the end
the scroll starts at (head = oldest, tail = newest) and the direction it moves in; every page is
then sorted by `order` (default desc). 1.5 has no `from`: as in ClearML's 1.0 handler the scroll
runs in `order` itself (desc = from the newest backwards, asc = from the oldest forwards), so
its pages form one continuous sequence. The query (order, from) and page size are frozen in
the token on the first call.
"""
from __future__ import annotations

import json
import re
import string
import time
from functools import lru_cache
from typing import Any, Iterator

import orjson

from events_service import errors, jsonutil
from events_service.api.call import Call
from events_service.api.registry import endpoint
from events_service.api.stream import Attachment
from events_service.db.queries import events as event_queries
from events_service.db.queries import logs as log_queries
from events_service.db.queries import tasks
from events_service.db.queries import timerange
from events_service.services import paging

LOG = ["log"]


def _page(call: Call, req: dict[str, Any], start: str) -> dict[str, Any]:
    task = tasks.require(call.db, call.company_key, req["task"])
    bind = {"task": task.id}
    order = req.get("order") or "desc"
    position = paging.open_scroll(call, req.get("scroll_id"), bind=bind, batch_size=req.get("batch_size"),
                                  query={"order": order, "from": start})
    order, start = position.query["order"], position.query["from"]
    total = position.total if position.total is not None else event_queries.count(call.db, task.key, LOG)
    after = tuple(position.after) if position.after else None
    rows = event_queries.page_by_time(call.db, task.key, LOG, descending=start == "tail", after=after,
                                      limit=position.size)
    last = [rows[-1][1].ts, rows[-1][1].id] if rows else None
    if (start == "tail") != (order == "desc"):
        rows.reverse()
    names = event_queries.series_names(call.db, task.key) if rows else {}
    documents = [event_queries.to_document(t, row, task.id, names) for t, row in rows]
    return {"events": documents, "returned": len(documents), "total": total,
            "scroll_id": paging.next_token(call, position, bind=bind, after=last, total=total)}


@endpoint("events.get_task_log", "1.5", reads_only=True)
def get_task_log_1_5(call: Call, req: dict[str, Any]) -> dict[str, Any]:
    """Log events by timestamp in `order` (default desc), one continuous scroll."""
    return _page(call, req, "tail" if (req.get("order") or "desc") == "desc" else "head")


@endpoint("events.get_task_log", "1.7", reads_only=True)
def get_task_log(call: Call, req: dict[str, Any]) -> dict[str, Any]:
    """Log events from the head (oldest, default) or the tail (newest); each page sorted by `order`."""
    return _page(call, req, req.get("from") or "head")


DEFAULT_BATCH_2_9 = 5000  # ClearML's default page for get_task_log 2.9
ID_MAX = 2**63 - 1


@endpoint("events.get_task_log", "2.9", reads_only=True)
def get_task_log_2_9(call: Call, req: dict[str, Any]) -> dict[str, Any]:
    """ClearML 2.9 (what the current SDK asks for): up to `batch_size` logs strictly before
    (`navigate_earlier`, default) or after `from_timestamp` (or from the newest / oldest end),
    plus every other log at the last returned time, so that time can be the next
    `from_timestamp` without skipping lines. Newest first when navigating earlier, oldest first
    otherwise; `order` re-sorts the page. No scroll id: the client navigates by time.
    """
    task = tasks.require(call.db, call.company_key, req["task"])
    earlier = req.get("navigate_earlier", True)
    size = paging.page_size(call, req.get("batch_size") or DEFAULT_BATCH_2_9)
    start = req.get("from_timestamp")
    after = None
    if start is not None:
        if not -ID_MAX - 1 <= start <= ID_MAX:  # a number in the schema, bound as bigint
            raise errors.ValidationError(f"field 'from_timestamp': {start!r} is out of range "
                                         "(epoch milliseconds, a 64-bit integer)")
        if isinstance(start, float) and not start.is_integer():
            start = int(start) + (0 if earlier else 1)  # strictly before / after a fractional time
        after = (int(start), 0 if earlier else ID_MAX)
    rows = event_queries.page_by_time(call.db, task.key, LOG, descending=earlier, after=after, limit=size)
    if rows:
        same_time = event_queries.at_time(call.db, task.key, "log", rows[-1][1].ts,
                                          [row.id for _, row in rows])
        rows += same_time[::-1] if earlier else same_time
    order = req.get("order")
    if order and (order == "desc") != earlier:
        rows.reverse()
    names = event_queries.series_names(call.db, task.key) if rows else {}
    documents = [event_queries.to_document(t, row, task.id, names) for t, row in rows]
    return {"events": documents, "returned": len(documents),
            "total": event_queries.count(call.db, task.key, LOG)}


# download_task_log ---------------------------------------------------------------------------

PLACEHOLDERS = ("asctime", "timestamp", "level", "worker", "msg")
CHUNK_ROWS = 5000
# Largest width or precision a placeholder may ask for ("{msg:>80}" pads a line; "{msg:>999999999}"
# would make every line a gigabyte: the worker ran out of memory and time mid-stream).
MAX_FORMAT_WIDTH = 1000
# Most characters a format may add to each line: its literal text plus every width and precision.
# Many placeholders of width 1000 (or a format of a megabyte) made each line as long, times the
# lines of the log.
MAX_FORMAT_BUDGET = 10_000


def _invalid(error: str) -> errors.FieldsValueError:
    return errors.FieldsValueError("invalid line format", error=error)


def check_line_format(line_format: str) -> str:
    """The text line format with a trailing newline; 400/11 when empty, 400/16 when it cannot work.

    Only named placeholders of PLACEHOLDERS are allowed. Every width and precision is bounded
    before a byte is sent: a spec may not hold a nested placeholder (`{msg:>{timestamp}}` took
    its width from each event: 1.7e12 characters a line), and its numbers (any digits Python's
    format reads, Unicode ones too) stay within MAX_FORMAT_WIDTH and, with the literal text,
    MAX_FORMAT_BUDGET. The format is then tried on sample lines with empty and non-empty values,
    so a format that passes never breaks the stream.
    """
    if not line_format:
        raise errors.MissingRequiredFields("line_format is required for plain text lines")
    try:
        parsed = list(string.Formatter().parse(line_format))
    except ValueError as exc:
        raise _invalid(str(exc))
    names = [field for _, field, _, _ in parsed if field is not None]
    if any(not name or name.isdigit() for name in names):
        raise _invalid("positional placeholders are not supported")
    if any("." in name or "[" in name for name in names):
        raise _invalid("attribute or index access is not supported")
    specs = [spec or "" for _, field, spec, _ in parsed if field is not None]
    if any("{" in spec or "}" in spec for spec in specs):
        raise _invalid("a placeholder inside a format spec (a width or precision taken from a field) "
                       "is not supported")
    numbers = [int(number) for spec in specs for number in re.findall(r"\d+", spec)]
    if any(number > MAX_FORMAT_WIDTH for number in numbers):
        raise _invalid(f"a width or precision above {MAX_FORMAT_WIDTH} is not supported")
    if sum(numbers) + sum(len(literal) for literal, _, _, _ in parsed) > MAX_FORMAT_BUDGET:
        raise _invalid(f"the format's text, widths and precisions add up to more than {MAX_FORMAT_BUDGET} "
                       "characters a line")
    unknown = sorted(set(names) - set(PLACEHOLDERS))
    if unknown:
        raise errors.FieldsValueError("undefined placeholders in line format", placeholders=unknown)
    for sample in ("", "x"):
        try:
            line_format.format_map({**{name: sample for name in PLACEHOLDERS}, "timestamp": 0})
        except Exception as exc:  # any formatter failure is the caller's bad format
            raise _invalid(f"{type(exc).__name__}: {exc}")
    return line_format if line_format.endswith("\n") else line_format + "\n"


@lru_cache(maxsize=1024)
def _second(epoch_s: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(epoch_s))


def asctime(epoch_ms: int) -> str:
    """The event's own time as YYYY-MM-DD HH:MM:SS,mmm (UTC), like Python logging's asctime."""
    seconds, millis = divmod(epoch_ms, 1000)
    return f"{_second(seconds)},{millis:03d}"


def _sql_parts(line_format: str) -> list[tuple[str, str]] | None:
    """A checked line format (its trailing newline dropped: text_line adds one) as
    ("literal", text) and ("field", placeholder) parts, when it has only plain placeholders
    (no format spec, no conversion), which PostgreSQL can then write; None otherwise."""
    parts: list[tuple[str, str]] = []
    for literal, field, spec, conversion in string.Formatter().parse(line_format[:-1]):
        if literal:
            parts.append(("literal", literal))
        if field is not None:
            if spec or conversion or field not in PLACEHOLDERS:
                return None
            parts.append(("field", field))
    return parts


def _text_lines(batches: Iterator[list[tuple]], line_format: str) -> Iterator[bytes]:
    """Lines of a checked `line_format` with specs or conversions, filled by str.format_map;
    a field the event lacks is written empty."""
    fill = line_format.format_map
    for rows in batches:
        yield "".join([fill({"timestamp": ts, "asctime": asctime(ts), "level": level or "",
                             "worker": worker or "", "msg": msg or ""})
                       for ts, level, worker, msg in rows]).encode()


# A JSON line is PostgreSQL's head (log_queries.json_heads: everything up to the value of
# `@timestamp`) and the two times, which repeat from line to line (one ingestion time per SDK
# batch, one second for many lines) and are formatted once each here.
_MILLIS = tuple(b',%03d"}\n' % ms for ms in range(1000))  # asctime's milliseconds and the line's end
_CACHE_LIMIT = 10_000  # formatted times kept (rows come in time order; 100k entries cost +30 MiB)


def _with_extra(line: bytes, extra: str) -> bytes:
    """The line with the event's extra fields the line does not already have, in stored order."""
    doc = json.loads(line)
    doc.update((k, v) for k, v in json.loads(extra).items() if k not in doc)
    return jsonutil.dumps(doc) + b"\n"


def _ascii_json(lines: list[bytes]) -> bytes:
    """Compact JSON with non-ASCII escaped, as ClearML writes it: the lines are UTF-8, so the
    (rare) lines with non-ASCII text are re-encoded by the stdlib, keeping their key order."""
    chunk = b"".join(lines)
    if not chunk.isascii():
        chunk = b"".join(line if line.isascii() else
                         json.dumps(json.loads(line), separators=(",", ":")).encode() + b"\n"
                         for line in lines)
    return chunk


def _json_lines(batches: Iterator[list[tuple]]) -> Iterator[bytes]:
    """The stored event minus `type` and `task`, plus `asctime` (the fields get_task_log shows),
    from rows of log_queries.json_rows."""
    received_text: dict[int, bytes] = {}
    second_text: dict[int, bytes] = {}
    for rows in batches:
        if len(received_text) > _CACHE_LIMIT or len(second_text) > _CACHE_LIMIT:
            received_text.clear()
            second_text.clear()
        lines = []
        for head, ts, received, extra in rows:
            received_part = received_text.get(received)
            if received_part is None:
                received_part = f'{event_queries.iso_ms(received)}","asctime":"'.encode()
                received_text[received] = received_part
            second, millis = divmod(ts, 1000)
            second_part = second_text.get(second)
            if second_part is None:
                second_part = second_text[second] = _second(second).encode()
            line = head + received_part + second_part + _MILLIS[millis]
            lines.append(line if extra is None else _with_extra(line, extra))
        yield _ascii_json(lines)


def _series_json(names: dict[int, tuple[str, str]]) -> dict[int, str]:
    return {key: f'"metric":{orjson.dumps(metric).decode()},"variant":{orjson.dumps(variant).decode()}'
            for key, (metric, variant) in names.items()}


@endpoint("events.download_task_log", "2.1")
def download_task_log(call: Call, req: dict[str, Any]) -> Attachment:
    """The task's whole log, oldest first, as an attachment streamed from the database:
    text lines written by PostgreSQL (formats with specs or conversions: filled here), json
    lines written by PostgreSQL but for their two times (see _json_lines).

    `line_type` json (default, as ClearML) or text with `line_format`; `{asctime}` is the
    event's own time `YYYY-MM-DD HH:MM:SS,mmm` UTC. A field a line lacks is written empty.
    """
    task = tasks.require(call.db, call.company_key, req["task"])
    engine = call.db.get_bind()
    span = timerange.of_task(call.db, task.key, "log")  # the download reads only the log's chunks
    if (req.get("line_type") or "json") == "text":
        line_format = check_line_format(req.get("line_format", ""))
        parts = _sql_parts(line_format)
        if parts is None:
            chunks = _text_lines(log_queries.stream(engine, task.key, CHUNK_ROWS, span=span), line_format)
        else:
            line = log_queries.text_line(parts)
            chunks = log_queries.formatted_lines(engine, task.key, line, CHUNK_ROWS, span=span)
    else:
        series = _series_json(event_queries.series_names(call.db, task.key, "log"))
        head = log_queries.json_heads(series, _series_json({0: ("", "")})[0])
        chunks = _json_lines(log_queries.json_rows(engine, task.key, head, CHUNK_ROWS, span=span))
    return Attachment(filename=f"task_{task.id}.log", chunks=chunks)
