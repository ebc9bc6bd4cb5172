"""Running compaction of scalars and log lines (the SQL is in db/queries/compact.py and log_blocks.py):
a series (scalars) or a task's log at a time, each move its own transaction, so a compaction killed
midway leaves each either as it was or moved, and a re-run picks up the rest
(series.compacted_received says which are left).

Two kinds of move:
- an ended task's series: all its points (compact.compact_series, compact.pending finds them);
- a running task's series, aging (compact.age_series, compact.aging finds them): only the whole
  blocks of 1,000 iterations that lie at least `age` iterations (COMPACT_AGE_ITERATIONS) behind the
  series' newest; the newest stay rows, where ingestion appends. At most compact.STEP blocks per
  transaction, so an ingestion batch that arrives meanwhile waits for one short move at most.
  Design and measurements: migrations/versions/0011_aging.py.
- a task's log lines (log_blocks.compact_task): an ended task's whole log; a running task's lines
  more than LOG_KEEP_MS older than its newest (migration 0012).

Two ways it runs:
- `events-service compact` (compaction_cli.py): every ended task's pending series and every running
  task's old blocks, or given tasks' (each as its status says).
- `PassRunner`, a daemon thread in every API process (COMPACT_INTERVAL_SEC, 0 = off): every
  interval, a pass over the ended tasks' pending series, then the running tasks' old blocks; and at
  once when a request of that process ended a task (`wake_after_request`, called by the tasks
  service once the status change has committed). Several gunicorn workers and hosts run it;
  each series' transaction first takes the pass' transaction advisory lock without waiting
  (compact.try_lock_pass) and the pass stops when another runner holds it, so one runner works at a
  time. Transaction-scoped locks only: safe behind PgBouncer's transaction pooling. A series being
  written is skipped (try-lock on the series' own lock) and taken by a later pass.
"""
from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass, field
from typing import Callable, Iterable

from flask import Flask, Response, after_this_request, current_app
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from events_service.db import session as db_session
from events_service.db.queries import compact, log_blocks
from events_service.ops import metrics

log = logging.getLogger(__name__)


@dataclass
class Summary:
    done: int = 0     # series (scalars) or tasks (log lines) moved
    events: int = 0   # points or lines moved
    skipped: int = 0  # busy (being written): left for a later pass
    yielded: bool = False  # stopped: another runner held the pass lock

    def __add__(self, other: "Summary") -> "Summary":
        return Summary(self.done + other.done, self.events + other.events, self.skipped + other.skipped,
                       self.yielded or other.yielded)


@dataclass
class PassSummary(Summary):
    """A pass': its scalars' figures, and its log lines' apart (`logs`)."""
    logs: Summary = field(default_factory=Summary)


Move = Callable[[Session, int], "tuple[int, bool] | None"]


def _run(engine: Engine, keys: Iterable[int], move: Move, *, elected: bool,
         progress: Callable[[int], None] | None) -> Summary:
    """`move` each key, a series or a task (events moved, done; None when skipped), one transaction
    per call, until done. `elected` (the periodic pass): take the pass lock in every transaction and
    stop as soon as another runner holds it; a key whose move fails is logged and left (its
    transaction rolled back), so that one cannot stop the pass for every other."""
    summary = Summary()
    for key in keys:
        while True:
            try:
                with Session(bind=engine) as session, session.begin():
                    if elected and not compact.try_lock_pass(session):
                        summary.yielded = True
                        return summary
                    result = move(session, key)
            except SQLAlchemyError:
                if not elected:
                    raise
                log.exception("compaction of %d failed; left for the next pass", key)
                result = None
            if result is None:
                summary.skipped += 1
                break
            summary.events += result[0]
            if result[1]:
                summary.done += 1
                break
        if progress:
            progress(1)
    return summary


def compact_series(engine: Engine, keys: Iterable[int], *, wait: bool = True, elected: bool = False,
                   progress: Callable[[int], None] | None = None) -> Summary:
    """Compact these series wholly, one transaction each. `elected`: take the pass lock in every
    transaction and stop as soon as another runner holds it."""
    def move(session: Session, key: int) -> tuple[int, bool] | None:
        moved = compact.compact_series(session, key, wait=wait)
        return None if moved is None else (moved, True)
    return _run(engine, keys, move, elected=elected, progress=progress)


def age_series(engine: Engine, keys: Iterable[int], age: int = compact.AGE, *, wait: bool = True,
               elected: bool = False, progress: Callable[[int], None] | None = None) -> Summary:
    """Age these series (their blocks at least `age` iterations behind their newest), a few blocks per
    transaction (compact.STEP)."""
    return _run(engine, keys, lambda session, key: compact.age_series(session, key, age, wait=wait),
                elected=elected, progress=progress)


# A running task's log lines older than this before its newest line are compacted by the pass: they
# no longer change (a log line is never replaced), and the newest stay rows, cheap to append to.
LOG_KEEP_MS = 3600 * 1000


def compact_logs(engine: Engine, keys: Iterable[int], *, wait: bool = True, elected: bool = False,
                 progress: Callable[[int], None] | None = None, keep_ms: int | None = None) -> Summary:
    """Compact these tasks' log lines, one transaction each; `keep_ms`: running tasks, whose lines of
    the last `keep_ms` before their newest stay rows (log_blocks.compact_task)."""
    def move(session: Session, key: int) -> tuple[int, bool] | None:
        moved = log_blocks.compact_task(session, key, wait=wait, keep_ms=keep_ms)
        return None if moved is None else (moved, True)
    return _run(engine, keys, move, elected=elected, progress=progress)


def run_pass(engine: Engine, limit: int = 1000, age: int = compact.AGE, log_limit: int = 100) -> PassSummary:
    """One periodic pass: the ended tasks' pending series, then the running tasks' series with old
    blocks, at most `limit` series of each; then the same for log lines, at most `log_limit` tasks
    each. The summary is of the scalars, with the log lines' as its `logs`."""
    with Session(bind=engine) as session:
        keys = compact.pending(session, limit=limit)
    ended = compact_series(engine, keys, wait=False, elected=True)
    with Session(bind=engine) as session:
        keys = compact.aging(session, age, limit=limit)
    aged = age_series(engine, keys, age, wait=False, elected=True)
    with Session(bind=engine) as session:
        keys = log_blocks.pending(session, limit=log_limit)
    logs = compact_logs(engine, keys, wait=False, elected=True)
    with Session(bind=engine) as session:
        keys = log_blocks.aging(session, LOG_KEEP_MS, limit=log_limit)
    logs += compact_logs(engine, keys, wait=False, elected=True, keep_ms=LOG_KEEP_MS)
    scalars = ended + aged
    return PassSummary(scalars.done, scalars.events, scalars.skipped, scalars.yielded, logs=logs)


RETRY_SECONDS = 1.0  # a woken pass that found another runner at work runs again this much later


class PassRunner(threading.Thread):
    """Runs `run_pass` every `interval` seconds, and when woken, until stopped; errors are logged,
    never raised."""

    def __init__(self, engine: Engine, interval: float, age: int = compact.AGE) -> None:
        super().__init__(name="compaction", daemon=True)
        self.engine, self.interval, self.age = engine, interval, age
        self.pid = os.getpid()  # the process it was started in (a thread does not survive a fork)
        self.stopped = threading.Event()
        self.woken = threading.Event()

    def run(self) -> None:
        retrying = False
        while True:
            woken = self.woken.wait(RETRY_SECONDS if retrying else self.interval)
            self.woken.clear()
            if self.stopped.is_set():
                return
            try:
                summary = run_pass(self.engine, age=self.age)
            except Exception:  # noqa: BLE001 - a failed pass is retried at the next interval
                log.exception("compaction pass failed")
                metrics.count_compaction_pass("failed")
                retrying = False
                continue
            # Woken (a task ended here) but another runner held the pass lock: that runner's list may
            # predate the end, so try again shortly rather than at the next interval.
            retrying = (woken or retrying) and (summary.yielded or summary.logs.yielded)
            metrics.count_compaction_pass("ok", summary.events, summary.logs.events)
            if summary.done:
                log.info("compacted %d points of %d series", summary.events, summary.done)
            if summary.logs.done:
                log.info("compacted %d log lines of %d tasks", summary.logs.events, summary.logs.done)

    def wake(self) -> None:
        """Run a pass now (a task has just ended), not at the end of the interval."""
        self.woken.set()

    def stop(self) -> None:
        self.stopped.set()
        self.woken.set()


def wake_after_request() -> None:
    """Once the current request has committed (Flask runs after_this_request callbacks after the
    view, whose transaction is committed by then), wake this process' runner: a task that ended is
    compacted now, not up to COMPACT_INTERVAL_SEC later. Nothing when the runner is off."""
    runner = current_app.extensions.get("compaction_runner")
    if runner is None or runner.pid != os.getpid():
        return

    @after_this_request
    def _wake(response: Response) -> Response:
        runner.wake()
        return response


def init_app(app: Flask) -> None:
    """Start a PassRunner in each worker process, on its first request (a thread does not survive
    gunicorn's fork, and the engine is per process)."""
    interval = app.config["COMPACT_INTERVAL_SEC"]
    if not interval:
        return
    started: dict[str, int | None] = {"pid": None}

    @app.before_request
    def _start_runner() -> None:
        if started["pid"] != os.getpid():
            started["pid"] = os.getpid()
            runner = PassRunner(db_session.engine(), float(interval), app.config["COMPACT_AGE_ITERATIONS"])
            app.extensions["compaction_runner"] = runner
            runner.start()
