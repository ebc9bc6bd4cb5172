"""`events-service storage` and `events-service retention`: what the events take, and removing old
runs, for DBAs (the SQL and the rules are in db/queries/storage.py).

    events-service storage [--company NAME]                 events and bytes per company, project, task
    events-service retention --older-than DAYS [--project NAME] [--company NAME] [--apply]

retention is a dry run unless --apply: it prints the tasks that would go, the chunks that would be
dropped whole and the bytes freed, and changes nothing.
"""
from __future__ import annotations

import argparse
from typing import TextIO

from sqlalchemy.orm import Session

from events_service.db.queries import storage, tenants


def add_commands(commands: argparse._SubParsersAction) -> None:
    usage = commands.add_parser("storage", help="events and bytes per company, project and task")
    usage.add_argument("--company", help="only this company (name or id)")
    retention = commands.add_parser(
        "retention", help="delete the events of old tasks (dry run unless --apply)",
        description="Tasks matching every criterion given lose all their events.")
    retention.add_argument("--older-than", type=float, metavar="DAYS",
                           help="tasks whose last activity is older than DAYS days")
    retention.add_argument("--project", help="tasks of this project (name or id)")
    retention.add_argument("--company", help="tasks of this company (name or id)")
    retention.add_argument("--apply", action="store_true", help="really delete (default: dry run)")


def run(args: argparse.Namespace, session: Session, out: TextIO) -> int | None:
    """Run the command if it is one of these; None when it is not."""
    if args.group == "storage":
        return _storage(args, session, out)
    if args.group == "retention":
        return _retention(args, session, out)
    return None


def _size(n: int) -> str:
    for unit in ("bytes", "kB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:,} {unit}" if unit == "bytes" else f"{n:,.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def _company_key(session: Session, ref: str | None, out: TextIO) -> tuple[bool, int | None]:
    if ref is None:
        return True, None
    company = tenants.find_company(session, ref)
    if company is None:
        out.write(f"no company {ref!r}\n")
        return False, None
    return True, company.key


def _storage(args: argparse.Namespace, session: Session, out: TextIO) -> int:
    found, company_key = _company_key(session, args.company, out)
    if not found:
        return 1
    tasks = storage.usage(session, company_key)
    groups: dict[str, dict[str, list[storage.TaskUsage]]] = {}
    for task in tasks:
        groups.setdefault(task.company, {}).setdefault(task.project, []).append(task)
    for company, projects in groups.items():
        in_company = [t for p in projects.values() for t in p]
        out.write(f"company {company}: {sum(t.events for t in in_company):,} events, "
                  f"{_size(sum(t.bytes for t in in_company))}\n")
        for project, members in projects.items():
            out.write(f"  project {project or '(none)'}: {sum(t.events for t in members):,} events, "
                      f"{_size(sum(t.bytes for t in members))}\n")
            for t in members:
                out.write(f"    task {t.task_id} {t.task_name!r}: {t.events:,} events, {_size(t.bytes)}\n")
    out.write(f"total: {sum(t.events for t in tasks):,} events, {_size(sum(t.bytes for t in tasks))} "
              "(bytes estimated: each table's size shared out by rows)\n")
    return 0


def _retention(args: argparse.Namespace, session: Session, out: TextIO) -> int:
    if args.older_than is None and args.project is None and args.company is None:
        out.write("retention needs at least one of --older-than, --project, --company\n")
        return 2
    found, company_key = _company_key(session, args.company, out)
    if not found:
        return 1
    project_key = None
    if args.project is not None:
        keys = storage.project_keys(session, args.project, company_key)
        if len(keys) != 1:
            out.write(f"no project {args.project!r}\n" if not keys else
                      f"more than one project {args.project!r}: name it by id, or add --company\n")
            return 1
        project_key = keys[0]
    tasks = storage.select_tasks(session, older_than_days=args.older_than, company_key=company_key,
                                 project_key=project_key, lock=args.apply)
    plan = storage.plan(session, tasks, lock=args.apply)
    verb = "deleted" if args.apply else "would delete"
    for task in tasks:
        out.write(f"task {task.id}: {task.events:,} events\n")
    out.write(f"{verb} {plan.events:,} events of {len(tasks)} tasks: {len(plan.whole_chunks)} whole chunks "
              f"dropped ({_size(plan.chunk_bytes)} freed), other rows about {_size(plan.row_bytes)} "
              "(reusable after VACUUM)\n")
    if args.apply:
        storage.apply(session, plan)
    else:
        out.write("dry run: nothing was changed (add --apply to delete)\n")
    return 0
