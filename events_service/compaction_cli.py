"""`events-service compact`: do now what the periodic pass does (events_service/compaction.py), with a
progress bar and the bytes before and after: move the scalar points of ended tasks into the compact
form, and the old blocks of running tasks (aging: iterations at least --age behind their series'
newest); then the log lines of ended tasks (with --task, those tasks' lines whatever their status).

    events-service compact [--task ID ...] [--age N] [--whole]

Without --task: every ended task's series written since they were last compacted, and every running
task's series with old blocks. With --task: those tasks' series, an ended task's wholly, a running
task's old blocks; --whole compacts the given tasks wholly whatever their status (a run that died
without ending). Each move is one transaction: interrupted, it can be run again and goes on where
it stopped.
"""
from __future__ import annotations

import argparse
from typing import TextIO

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session
from tqdm import tqdm

from events_service import compaction, config
from events_service.db.queries import compact, log_blocks
from events_service.storage_cli import _size


def add_commands(commands: argparse._SubParsersAction) -> None:
    command = commands.add_parser(
        "compact", help="compact the scalars and logs of ended tasks and the old blocks of running tasks now",
        description="Move ended tasks' scalar points, and running tasks' blocks of 1,000 iterations at "
        "least --age iterations behind their series' newest, into the compact form (as the periodic pass "
        "does), then ended tasks' log lines. --task: an ended task's scalars wholly, a running task's old "
        "blocks, and the task's log lines whatever its status.")
    command.add_argument("--task", action="append", metavar="ID",
                         help="only this task: wholly when ended, its old blocks when running; repeatable")
    command.add_argument("--age", type=_iterations, metavar="N", default=None,
                         help="a running task's points age when N iterations behind their series' newest "
                         "(default: EVENTS_COMPACT_AGE_ITERATIONS, 100)")
    command.add_argument("--whole", action="store_true",
                         help="with --task: compact those tasks wholly, even when running")


def run(args: argparse.Namespace, session: Session, out: TextIO) -> int | None:
    """Run the command if it is this one; None when it is not. `session`'s transaction is left
    unused: the lookups run in their own short ones, each series' move in its own."""
    if args.group != "compact":
        return None
    engine = session.get_bind()
    age = config.load()["COMPACT_AGE_ITERATIONS"] if args.age is None else args.age
    if args.whole and not args.task:
        out.write("--whole needs --task\n")
        return 1
    with Session(bind=engine) as lookup:
        task_keys = None
        if args.task:
            task_keys = list(lookup.execute(text("SELECT key FROM tasks WHERE id = ANY(:ids)"),
                                            {"ids": args.task}).scalars())
            if len(task_keys) != len(set(args.task)):
                out.write("unknown task id among: " + ", ".join(args.task) + "\n")
                return 1
        whole = args.whole and task_keys is not None
        keys = compact.pending(lookup, task_keys=task_keys, ended_only=not whole)
        aging = [] if whole else compact.aging(lookup, age, task_keys=task_keys)
        before = _bytes(lookup)
    with tqdm(total=len(keys) + len(aging), unit="series", desc="compact", file=out,
              disable=not keys and not aging) as bar:
        summary = compaction.compact_series(engine, keys, progress=bar.update)
        aged = compaction.age_series(engine, aging, age, progress=bar.update)
    summary += aged
    with Session(bind=engine) as lookup:
        after = _bytes(lookup)
    out.write(f"compacted {summary.events:,} points of {summary.done:,} series; scalar storage "
              f"{_size(before)} -> {_size(after)} (rows, blocks and indexes; the rows' space is reused "
              "after VACUUM)\n")
    _compact_logs(engine, task_keys, out)
    return 0


def _compact_logs(engine: Engine, task_keys: list[int] | None, out: TextIO) -> None:
    """The log lines: every ended task's pending log (or these tasks', whatever their status), with a
    progress bar and the bytes before and after."""
    with Session(bind=engine) as lookup:
        keys = log_blocks.pending(lookup, task_keys=task_keys, ended_only=task_keys is None)
        before = log_blocks.total_bytes(lookup)
    with tqdm(total=len(keys), unit="task", desc="compact logs", file=out, disable=not keys) as bar:
        summary = compaction.compact_logs(engine, keys, progress=bar.update)
    with Session(bind=engine) as lookup:
        after = log_blocks.total_bytes(lookup)
    out.write(f"compacted {summary.events:,} log lines of {summary.done:,} tasks; log storage "
              f"{_size(before)} -> {_size(after)} (rows, blocks and indexes; the rows' space is reused "
              "after VACUUM)\n")


def _iterations(raw: str) -> int:
    if not raw.isdigit():
        raise argparse.ArgumentTypeError(f"not a number of iterations (0 or more): {raw!r}")
    return int(raw)


def _bytes(session: Session) -> int:
    return session.execute(text(
        "SELECT hypertable_size('scalar_events') + pg_total_relation_size('scalar_blocks')")).scalar_one()
