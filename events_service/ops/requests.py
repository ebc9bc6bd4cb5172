"""Per-request bookkeeping: the request metrics, the ingested/refused event counts, and (with
EVENTS_LOG_FORMAT=json) one JSON log line per request.

The line carries the request's trx id, call id, method, endpoint, status and duration, and nothing
a client authenticates with: no header, no query string, no body, no user or key (the same rule
as gunicorn.conf.py's access log format). Under LOG_FORMAT=json every other log record of the
process is one JSON object per line as well, so a log shipper needs one parser.
"""
from __future__ import annotations

import json
import logging
import os
import time
from datetime import datetime, timezone

from flask import Flask, Response, current_app, g, request

from events_service.ops import metrics

log = logging.getLogger("events_service.requests")
UNMATCHED = "unmatched"
MAX_TRX_LENGTH = 200  # the trx id comes from the client (X-ClearML-Trx): bounded in the log


def init_app(app: Flask) -> None:
    app.before_request(_started)
    app.after_request(_finished)
    if app.config["LOG_FORMAT"] == "json":
        for handler in logging.getLogger().handlers:
            handler.setFormatter(JsonFormatter())


def _started() -> None:
    g.ops_started = time.perf_counter()


def endpoint_label() -> str:
    """The API endpoint's name when the path named one the schema has; the route's template for the
    service's own routes (/health, /files/<path:path>, /projects/<project_id>: one label per rule,
    never the client's path); "unmatched" for anything else (the API's catch-all route, no route)."""
    call = g.get("call")
    if call is not None and call.actual_version is not None:
        return call.name
    rule = request.url_rule
    if rule is not None and not rule.endpoint.startswith("api."):
        return rule.rule
    return UNMATCHED


def _finished(response: Response) -> Response:
    started = g.pop("ops_started", None)
    if started is None:
        return response
    seconds = time.perf_counter() - started
    endpoint = endpoint_label()
    metrics.observe_request(endpoint, response.status_code, seconds)
    call = g.get("call")
    outcome = getattr(call, "outcome", None)
    if outcome is not None and response.status_code < 500:  # a 5xx rolled the batch back
        metrics.count_events(outcome.added_by_type if response.status_code == 200 else {},
                             outcome.refused_by_type)
    if log.isEnabledFor(logging.INFO) and _json_logging():
        log.info("request", extra={"request_fields": {
            "trx": (call.trx[:MAX_TRX_LENGTH] if call is not None else None),
            "id": call.id if call is not None else None,
            "method": request.method, "endpoint": endpoint, "status": response.status_code,
            "pid": os.getpid(),
            "duration_ms": round(seconds * 1000, 3)}})
    return response


def _json_logging() -> bool:
    return current_app.config["LOG_FORMAT"] == "json"


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, then the request's fields or the message."""

    def format(self, record: logging.LogRecord) -> str:
        when = datetime.fromtimestamp(record.created, timezone.utc)
        line = {"time": when.isoformat(timespec="milliseconds"),
                "level": record.levelname, "logger": record.name}
        fields = getattr(record, "request_fields", None)
        if fields is not None:
            line.update(fields)
        else:
            line["message"] = record.getMessage()
            if record.exc_info:
                line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)
