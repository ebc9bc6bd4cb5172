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
import string
from typing import Any, Iterator

import orjson

from events_service import errors
from events_service.api.call import Call
from events_service.api.registry import endpoint
from events_service.api.stream import Attachment
from events_service.db.queries import events as event_queries
from events_service.db.queries import logs as log_queries
from events_service.db.queries import tasks
from events_service.services import paging

LOG = ["log"]


def _page(call: Call, req: dict[str, Any], start: str) -> dict[str, Any]:
    task = tasks.require(call.db, call.company_key, req["task"])
    bind = {"task": task.id}
    order = req.get("order") or "desc"
    position = paging.open_scroll(call, req.get("scroll_id"), bind=bind, batch_size=req.get("batch_size"),
                                  query={"order": order, "from": start})
    order, start = position.query["order"], position.query["from"]
    total = position.total if position.total is not None else log_queries.total(call.db, task.key)
    rows = event_queries.page_by_time(call.db, task.key, LOG, descending=start == "tail",
                                      after=tuple(position.after) if position.after else None, limit=position.size)
    last = [rows[-1][1].ts, rows[-1][1].id] if rows else None
    if (start == "tail") != (order == "desc"):
        rows.reverse()
    names = event_queries.series_names(call.db, task.key) if rows else {}
    documents = [event_queries.to_document(t, row, task.id, names) for t, row in rows]
    return {"events": documents, "returned": len(documents), "total": total,
            "scroll_id": paging.next_token(call, position, bind=bind, after=last, total=total)}


@endpoint("events.get_task_log", "1.5")
def get_task_log_1_5(call: Call, req: dict[str, Any]) -> dict[str, Any]:
    """Log events by timestamp in `order` (default desc), one continuous scroll."""
    return _page(call, req, "tail" if (req.get("order") or "desc") == "desc" else "head")


@endpoint("events.get_task_log", "1.7")
def get_task_log(call: Call, req: dict[str, Any]) -> dict[str, Any]:
    """Log events from the head (oldest, default) or the tail (newest); each page sorted by `order`."""
    return _page(call, req, req.get("from") or "head")


# download_task_log ---------------------------------------------------------------------------

PLACEHOLDERS = ("asctime", "timestamp", "level", "worker", "msg")
CHUNK_ROWS = 5000


def check_line_format(line_format: str) -> str:
    """The text line format with a trailing newline; 400/11 when empty, 400/16 when it cannot work.

    Only named placeholders of PLACEHOLDERS are allowed. The format is tried on sample lines
    with empty and non-empty values, so a format that passes never breaks the stream.
    """
    if not line_format:
        raise errors.MissingRequiredFields("line_format is required for plain text lines")
    try:
        names = [field for _, field, _, _ in string.Formatter().parse(line_format) if field is not None]
    except ValueError as exc:
        raise errors.FieldsValueError("invalid line format", error=str(exc))
    roots = [name.split(".")[0].split("[")[0] for name in names]
    if any(not root or root.isdigit() for root in roots):
        raise errors.FieldsValueError("invalid line format", error="positional placeholders are not supported")
    unknown = sorted(set(roots) - set(PLACEHOLDERS))
    if unknown:
        raise errors.FieldsValueError("undefined placeholders in line format", placeholders=unknown)
    for sample in ("", "x"):
        try:
            line_format.format_map({**{name: sample for name in PLACEHOLDERS}, "timestamp": 0})
        except Exception as exc:  # any formatter failure is the caller's bad format
            raise errors.FieldsValueError("invalid line format", error=f"{type(exc).__name__}: {exc}")
    return line_format if line_format.endswith("\n") else line_format + "\n"


def _text_lines(batches: Iterator[list[tuple]], line_format: str) -> Iterator[bytes]:
    fill = line_format.format_map
    for rows in batches:
        yield "".join([
            fill({"timestamp": ts, "asctime": asctime, "level": level or "", "worker": worker or "",
                  "msg": msg or ""})
            for ts, asctime, level, worker, msg, *_ in rows]).encode()


def _json_line(doc: dict[str, Any]) -> bytes:
    """Compact JSON with non-ASCII escaped, as ClearML writes it (orjson for the common ASCII case)."""
    line = orjson.dumps(doc)
    if not line.isascii():
        line = json.dumps(doc, separators=(",", ":")).encode()
    return line + b"\n"


def _json_lines(batches: Iterator[list[tuple]], names: dict[int, tuple[str, str]]) -> Iterator[bytes]:
    """The stored event minus `type` and `task`, plus `asctime` (same fields as get_task_log)."""
    for rows in batches:
        out = []
        for ts, asctime, level, worker, msg, iteration, series_key, received_iso, extra in rows:
            metric, variant = names.get(series_key, ("", ""))
            doc: dict[str, Any] = {"timestamp": ts}
            if iteration is not None:
                doc["iter"] = iteration
            doc["metric"], doc["variant"] = metric, variant
            if level is not None:
                doc["level"] = level
            if msg is not None:
                doc["msg"] = msg
            doc["worker"] = worker
            doc["@timestamp"] = received_iso
            doc["asctime"] = asctime
            if extra:
                doc.update((k, v) for k, v in extra.items() if k not in doc)
            out.append(_json_line(doc))
        yield b"".join(out)


@endpoint("events.download_task_log", "2.1")
def download_task_log(call: Call, req: dict[str, Any]) -> Attachment:
    """The task's whole log, oldest first, as an attachment streamed from a server-side cursor.

    `line_type` json (default, as ClearML) or text with `line_format`; `{asctime}` is the
    event's own time `YYYY-MM-DD HH:MM:SS,mmm` UTC. A field a line lacks is written empty.
    """
    task = tasks.require(call.db, call.company_key, req["task"])
    batches = log_queries.stream(call.db.get_bind(), task.key, CHUNK_ROWS)
    if (req.get("line_type") or "json") == "text":
        chunks = _text_lines(batches, check_line_format(req.get("line_format", "")))
    else:
        chunks = _json_lines(batches, event_queries.series_names(call.db, task.key))
    return Attachment(filename=f"task_{task.id}.log", chunks=chunks)
