"""Pages of scalar events (get_scalar_metric_data) written as JSON text straight from the rows that
db/queries/scalars.page_by_iter streams.

Paging through a long series returns more documents per call than any other read (up to 10,000).
Built as one dict per event and then encoded, a page spent most of its time making, encoding and
freeing Python objects (bench/queries.py). Here a document is the four texts of a template per
(series, worker, ingestion time) around its timestamp, iteration and value (written by orjson, as in
every other document: the shortest text that reads back as the same double): the task id, metric,
variant, worker and @timestamp are encoded once per template, not once per event, and the page is
never parsed again (jsonutil.RawJSON, or jsonutil.StreamedJSON, inside the envelope). Rows the
template does not fit (no iteration, no value, fields the client added) are built by
events.to_document and encoded on their own.

So every document is to_document's: the same keys in the same order, the same text
(tests/services/test_events_scalars.py compares them with get_task_events' documents).
"""
from __future__ import annotations

from dataclasses import dataclass
from itertools import islice
from typing import Any, Iterable, Iterator, NamedTuple

import orjson

from events_service import jsonutil
from events_service.db.queries.events import iso_ms, to_document

SCALAR = "training_stats_scalar"


@dataclass
class Page:
    events: jsonutil.RawJSON | jsonutil.StreamedJSON   # the JSON array of the documents
    returned: int
    last: list[Any] | None     # [iter, series_key] of the last document: the keyset position


class _Row(NamedTuple):
    """A page row as to_document reads a row."""
    ts: int
    iter: int | None
    worker: str | None
    received: int
    series_key: int
    extra: dict[str, Any] | None
    value: float | None


def _json(value: Any) -> str:
    return jsonutil.dumps(value).decode()


def _template(task_id: str, names: tuple[str, str], worker: str | None,
              received: int) -> tuple[str, str, str, str]:
    """The common document (an iteration and a value, no added fields) as the four texts around its
    timestamp, iteration and value, in to_document's key order."""
    metric, variant = names
    return ('{"timestamp":', f',"type":"{SCALAR}","task":{_json(task_id)},"iter":',
            f',"metric":{_json(metric)},"variant":{_json(variant)},"value":',
            f',"worker":{_json(worker)},"@timestamp":{_json(iso_ms(received))}}}')


def _document(row: tuple, task_id: str, names: dict[int, tuple[str, str]]) -> str:
    return jsonutil.dumps(to_document(SCALAR, _Row(*row), task_id, names)).decode()


def _texts(rows: Iterable[tuple], task_id: str, names: dict[int, tuple[str, str]],
           size: int = 1000) -> Iterator[tuple[list[tuple], str]]:
    """The rows `size` at a time, with their documents joined by commas. orjson writes a chunk's
    values in one call, as it writes to_document's (a float's repr per row made a 10,000-event page
    5 ms slower)."""
    templates: dict[tuple[int, str | None, int], tuple[str, str, str, str]] = {}
    # A batch's events share a template and come in runs: the dictionary is asked once per run.
    current: tuple[Any, ...] = (None, None, None)
    a = b = c = d = ""
    rows = iter(rows)
    while chunk := list(islice(rows, size)):
        values = orjson.dumps([row[6] for row in chunk])[1:-1].decode().split(",")
        docs: list[str] = []
        append = docs.append
        for row, value in zip(chunk, values):
            ts, iteration, worker, received, series_key, extra, number = row
            if iteration is None or number is None or extra:
                append(_document(row, task_id, names))
                continue
            if received != current[2] or series_key != current[0] or worker != current[1]:
                current = (series_key, worker, received)
                template = templates.get(current)
                if template is None:
                    template = templates[current] = _template(task_id, names.get(series_key, ("", "")),
                                                              worker, received)
                a, b, c, d = template
            append(f"{a}{ts}{b}{iteration}{c}{value}{d}")  # an f-string joins in one step: 2.5x faster than %
        yield chunk, ",".join(docs)


def _array(rows: list[tuple], task_id: str, names: dict[int, tuple[str, str]]) -> Iterator[bytes]:
    """The JSON array of the documents of `rows` (not empty), a chunk at a time."""
    opening = "["
    for _, text in _texts(rows, task_id, names):
        yield (opening + text).encode()
        opening = ","
    yield b"]"


def page(rows: Iterable[tuple], task_id: str, names: dict[int, tuple[str, str]]) -> Page:
    """The documents of page_by_iter's rows, as one JSON array. Rows already in memory (a list) are
    written while the response is sent, so the client reads the first documents while the rest are
    written (nothing can fail then); rows from a cursor are written as they arrive, while the
    database sends the rest (jsonutil.StreamedJSON; bench/compare.py on a compacted series: -12%)."""
    if isinstance(rows, list):
        if not rows:
            return Page(jsonutil.RawJSON("[]"), 0, None)
        return Page(jsonutil.StreamedJSON(lambda: _array(rows, task_id, names)), len(rows),
                    [rows[-1][1], rows[-1][4]])
    texts, returned, last = [], 0, None
    for chunk, text in _texts(rows, task_id, names):
        texts.append(text)
        returned, last = returned + len(chunk), chunk[-1]
    if last is None:
        return Page(jsonutil.RawJSON("[]"), 0, None)
    return Page(jsonutil.RawJSON("[" + ",".join(texts) + "]"), returned, [last[1], last[4]])
