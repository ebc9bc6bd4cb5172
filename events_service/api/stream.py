"""Attachment: a handler's streamed, envelope-less answer (events.download_task_log), free of Flask.

A handler returns one; the dispatcher turns it into a streaming Flask response after the
request's own transaction has been committed. `chunks` is iterated lazily by the WSGI server,
so the body is never held in memory; it must open (and close) its own database resources.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable


@dataclass
class Attachment:
    filename: str
    chunks: Iterable[bytes]
    mimetype: str = "text/plain"
    headers: dict[str, str] = field(default_factory=dict)
