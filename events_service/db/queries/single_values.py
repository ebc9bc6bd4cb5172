"""The single values of tasks (report_single_value), read from the per-series statistics.

The SDK reports a single value as a scalar at iteration -2147483648 (metric "Summary"). Its series
keeps the value at its greatest (iteration, time) as `last_value`, so a series whose `last_iter` is
that iteration holds the newest single value in its own row: this read touches `series` only, never
the event tables, whatever form their rows are stored in. Limit: a series that has both a single
value and ordinary iterations shows its ordinary last value, so it is not listed here.
"""
from __future__ import annotations

from typing import Any, Sequence

from sqlalchemy import text
from sqlalchemy.orm import Session

SINGLE_VALUE_ITER = -2147483648


def by_task(session: Session, company_key: int, task_ids: Sequence[str]) -> dict[str, list[Any]]:
    """task id -> its single values (metric, variant, value, timestamp), for the company's tasks among
    `task_ids` (others are absent), sorted by metric and variant."""
    rows = session.execute(text(
        "SELECT t.id AS task, s.metric, s.variant, s.last_value AS value, s.last_ts AS timestamp "
        "FROM tasks t LEFT JOIN series s ON s.task_key = t.key AND s.event_type = 'training_stats_scalar' "
        "AND s.last_iter = :single AND s.last_value IS NOT NULL "
        "WHERE t.company_key = :ck AND t.id = ANY(:ids) ORDER BY t.id, s.metric, s.variant"),
        {"ck": company_key, "ids": list(set(task_ids)), "single": SINGLE_VALUE_ITER})
    found: dict[str, list[Any]] = {}
    for r in rows:
        values = found.setdefault(r.task, [])
        if r.metric is not None:
            values.append(r)
    return found
