"""Running the compaction of log lines (the SQL is in db/queries/log_blocks.py): a task at a time, each
move its own transaction, so a compaction killed midway leaves every task's log either as it was or
moved whole, and a re-run picks up the rest (series.compacted_received says which are left).

It runs where scalar compaction runs (events_service/compaction.py calls it): in the periodic pass,
elected by the same pass lock, and in `events-service compact` (compaction_cli.py calls `run_cli`).
The pass also compacts the old lines of running tasks (RUNNING_KEEP_MS): a long run's log does not
wait for its end to shrink.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Sequence, TextIO

from sqlalchemy import Engine
from sqlalchemy.orm import Session
from tqdm import tqdm

from events_service.db.queries import compact, log_blocks
from events_service.storage_cli import _size


# A running task's lines older than this before its newest line are compacted by the periodic pass:
# they no longer change (a log line is never replaced), and the newest stay rows, cheap to append to.
RUNNING_KEEP_MS = 3600 * 1000


@dataclass
class Summary:
    tasks: int = 0
    lines: int = 0
    skipped: int = 0  # tasks whose log is being written: left for a later pass


def compact_tasks(engine: Engine, keys: Iterable[int], *, wait: bool = True, elected: bool = False,
                  progress: Callable[[int], None] | None = None, keep_ms: int | None = None) -> Summary:
    """Compact these tasks' logs, one transaction each. `elected`: take the pass lock in every
    transaction and stop as soon as another runner holds it. `keep_ms`: running tasks, whose lines
    of the last `keep_ms` before their newest stay rows (log_blocks.compact_task)."""
    summary = Summary()
    for key in keys:
        with Session(bind=engine) as session, session.begin():
            if elected and not compact.try_lock_pass(session):
                break
            moved = log_blocks.compact_task(session, key, wait=wait, keep_ms=keep_ms)
        if moved is None:
            summary.skipped += 1
        else:
            summary.tasks += 1
            summary.lines += moved
        if progress:
            progress(1)
    return summary


def run_pass(engine: Engine, limit: int = 100) -> Summary:
    """The periodic pass' part for logs: the ended tasks' logs written since compacted, then the lines
    of running tasks older than RUNNING_KEEP_MS before their newest; at most `limit` tasks each."""
    with Session(bind=engine) as session:
        keys = log_blocks.pending(session, limit=limit)
    summary = compact_tasks(engine, keys, wait=False, elected=True)
    with Session(bind=engine) as session:
        running = log_blocks.aging(session, RUNNING_KEEP_MS, limit=limit)
    aged = compact_tasks(engine, running, wait=False, elected=True, keep_ms=RUNNING_KEEP_MS)
    return Summary(summary.tasks + aged.tasks, summary.lines + aged.lines, summary.skipped + aged.skipped)


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
