"""`events-service compact`: move the scalar points of ended tasks (or of given tasks) into the
compact form now, with a progress bar and the bytes before and after (events_service/compaction.py).

    events-service compact [--task ID ...]

Without --task: every ended task's series written since they were last compacted. With --task: those
tasks' series, whatever the tasks' status. Each series is one transaction: interrupted, it can be
run again and goes on where it stopped.
"""
from __future__ import annotations

import argparse
from typing import TextIO

from sqlalchemy import text
from sqlalchemy.orm import Session
from tqdm import tqdm

from events_service import compaction, log_compaction
from events_service.db.queries import compact
from events_service.storage_cli import _size


def add_commands(commands: argparse._SubParsersAction) -> None:
    command = commands.add_parser("compact", help="compact the scalars of ended tasks now")
    command.add_argument("--task", action="append", metavar="ID",
                         help="only this task (any status); repeatable")


def run(args: argparse.Namespace, session: Session, out: TextIO) -> int | None:
    """Run the command if it is this one; None when it is not. `session`'s transaction is left
    unused: the lookups run in their own short ones, each series' move in its own."""
    if args.group != "compact":
        return None
    engine = session.get_bind()
    with Session(bind=engine) as lookup:
        task_keys = None
        if args.task:
            task_keys = list(lookup.execute(text("SELECT key FROM tasks WHERE id = ANY(:ids)"),
                                            {"ids": args.task}).scalars())
            if len(task_keys) != len(set(args.task)):
                out.write("unknown task id among: " + ", ".join(args.task) + "\n")
                return 1
        keys = compact.pending(lookup, task_keys=task_keys, ended_only=task_keys is None)
        before = _bytes(lookup)
    with tqdm(total=len(keys), unit="series", desc="compact", file=out, disable=not keys) as bar:
        summary = compaction.compact_series(engine, keys, progress=bar.update)
    with Session(bind=engine) as lookup:
        after = _bytes(lookup)
    out.write(f"compacted {summary.points:,} points of {summary.series:,} series; scalar storage "
              f"{_size(before)} -> {_size(after)} (rows, blocks and indexes; the rows' space is reused "
              "after VACUUM)\n")
    log_compaction.run_cli(engine, task_keys, out)  # and the log lines (log_compaction.py)
    return 0


def _bytes(session: Session) -> int:
    return session.execute(text(
        "SELECT hypertable_size('scalar_events') + pg_total_relation_size('scalar_blocks')")).scalar_one()
