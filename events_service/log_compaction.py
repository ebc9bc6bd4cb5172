"""Running the compaction of log lines (the SQL is in db/queries/log_blocks.py): a task at a time, each
move its own transaction, so a compaction killed midway leaves every task's log either as it was or
moved whole, and a re-run picks up the rest (series.compacted_received says which are left).

It runs where scalar compaction runs (events_service/compaction.py calls it): in the periodic pass,
elected by the same pass lock, and in `events-service compact` (compaction_cli.py calls `run_cli`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Sequence, TextIO

from sqlalchemy import Engine
from sqlalchemy.orm import Session
from tqdm import tqdm

from events_service.db.queries import compact, log_blocks
from events_service.storage_cli import _size


@dataclass
class Summary:
    tasks: int = 0
    lines: int = 0
    skipped: int = 0  # tasks whose log is being written: left for a later pass


def compact_tasks(engine: Engine, keys: Iterable[int], *, wait: bool = True, elected: bool = False,
                  progress: Callable[[int], None] | None = None) -> Summary:
    """Compact these tasks' logs, one transaction each. `elected`: take the pass lock in every
    transaction and stop as soon as another runner holds it."""
    summary = Summary()
    for key in keys:
        with Session(bind=engine) as session, session.begin():
            if elected and not compact.try_lock_pass(session):
                break
            moved = log_blocks.compact_task(session, key, wait=wait)
        if moved is None:
            summary.skipped += 1
        else:
            summary.tasks += 1
            summary.lines += moved
        if progress:
            progress(1)
    return summary


def run_pass(engine: Engine, limit: int = 100) -> Summary:
    """The periodic pass' part for logs: the ended tasks' logs written since compacted, at most `limit`."""
    with Session(bind=engine) as session:
        keys = log_blocks.pending(session, limit=limit)
    return compact_tasks(engine, keys, wait=False, elected=True)


def run_cli(engine: Engine, task_keys: Sequence[int] | None, out: TextIO) -> Summary:
    """`events-service compact`'s part for logs: every ended task's pending log (or these tasks',
    whatever their status), with a progress bar and the bytes before and after."""
    with Session(bind=engine) as lookup:
        keys = log_blocks.pending(lookup, task_keys=task_keys, ended_only=task_keys is None)
        before = log_blocks.total_bytes(lookup)
    with tqdm(total=len(keys), unit="task", desc="compact logs", file=out, disable=not keys) as bar:
        summary = compact_tasks(engine, keys, progress=bar.update)
    with Session(bind=engine) as lookup:
        after = log_blocks.total_bytes(lookup)
    out.write(f"compacted {summary.lines:,} log lines of {summary.tasks:,} tasks; log storage "
              f"{_size(before)} -> {_size(after)} (rows, blocks and indexes; the rows' space is reused "
              "after VACUUM)\n")
    return summary
