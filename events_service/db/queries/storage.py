"""Storage accounting and retention for DBAs (`events-service storage`, `events-service retention`).

Events are counted from the per-series counters ingestion keeps exact. Bytes are estimated: each
event table's size (heap, TOAST and indexes of all its chunks) shared out by the rows each task
holds, plus its scalar pre-aggregates by the same rule. That costs O(series), where an exact
figure would read every row.

Retention selects tasks by the age of their last activity (the later of the task row's
last_update and its newest ingestion), by project and by company. A chunk whose every row belongs
to selected tasks is dropped whole (drop_chunks over exactly its range: no dead rows, the disk is
given back at once); the selected tasks' rows in the other chunks are deleted (their space is
reused after VACUUM), then their series (cascading to the pre-aggregates), as delete_for_task does.
Everything runs in one transaction that first locks the selected tasks' rows (ingestion and
delete_for_task wait for it) and each chunk it drops (SHARE ROW EXCLUSIVE, before checking its
rows: an insert by another task cannot slip in between the check and the drop).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

from sqlalchemy import text
from sqlalchemy.orm import Session

from events_service.db.queries import compact, log_blocks, timerange
from events_service.db.queries.delete import delete_events
from events_service.db.queries.events import SOURCES
from events_service.db.queries.filters import Where

TYPE_TABLES = {event_type: table for event_type, (table, _) in SOURCES.items()}


def _table_bytes(session: Session) -> dict[str, int]:
    """Total bytes (heap, TOAST, indexes) of each event hypertable (scalars: with their compact
    blocks) and of scalar_buckets."""
    rows = session.execute(text(
        "SELECT t, CASE WHEN t = 'scalar_buckets' THEN pg_total_relation_size('scalar_buckets') "
        "ELSE hypertable_size(t::regclass) END FROM unnest(CAST(:tables AS text[])) t"),
        {"tables": [*TYPE_TABLES.values(), "scalar_buckets"]})
    sizes = {r[0]: int(r[1] or 0) for r in rows}
    sizes[TYPE_TABLES["training_stats_scalar"]] += compact.block_bytes(session)  # both forms of scalars
    sizes[TYPE_TABLES["log"]] += log_blocks.block_bytes(session)  # both forms of log lines
    return sizes


@dataclass
class TaskUsage:
    company: str
    project: str
    task_id: str
    task_name: str
    events: int = 0
    bytes: int = 0


def usage(session: Session, company_key: int | None = None) -> list[TaskUsage]:
    """Per task that holds events: its company and project names, events, and estimated bytes."""
    sizes = _table_bytes(session)
    totals = dict(session.execute(text(
        "SELECT event_type, sum(event_count)::bigint FROM series GROUP BY event_type")).all())
    bucket_rows = session.execute(text("SELECT count(*) FROM scalar_buckets")).scalar_one()
    where, params = "", {}
    if company_key is not None:
        where, params = "WHERE s.company_key = :ck", {"ck": company_key}
    rows = session.execute(text(f"""
        SELECT coalesce(nullif(c.name, ''), c.id), coalesce(p.name, ''), t.id, t.name, s.event_type,
               sum(s.event_count)::bigint,
               (SELECT count(*) FROM scalar_buckets b WHERE b.series_key = ANY(array_agg(s.key)))
        FROM series s JOIN tasks t ON t.key = s.task_key JOIN companies c ON c.key = t.company_key
        LEFT JOIN projects p ON p.key = t.project_key {where}
        GROUP BY c.name, c.id, p.name, t.key, t.id, t.name, s.event_type
        ORDER BY 1, 2, 3"""), params)
    out: dict[str, TaskUsage] = {}
    for company, project, task_id, name, event_type, events, buckets in rows:
        task = out.setdefault(task_id, TaskUsage(company, project, task_id, name))
        task.events += events
        table = TYPE_TABLES.get(event_type)
        if table and totals.get(event_type):
            task.bytes += sizes[table] * events // totals[event_type]
        if buckets and bucket_rows:
            task.bytes += sizes["scalar_buckets"] * buckets // bucket_rows
    return [t for t in out.values() if t.events]


@dataclass
class Selected:
    key: int
    id: str
    events: int


@dataclass
class Plan:
    tasks: list[Selected]
    whole_chunks: list[tuple[str, str, int]] = field(default_factory=list)  # (table, chunk, bytes)
    row_bytes: int = 0  # estimated bytes of the rows deleted outside the whole chunks

    @property
    def events(self) -> int:
        return sum(t.events for t in self.tasks)

    @property
    def chunk_bytes(self) -> int:
        return sum(c[2] for c in self.whole_chunks)


def select_tasks(session: Session, *, older_than_days: float | None, company_key: int | None,
                 project_key: int | None, lock: bool) -> list[Selected]:
    """Tasks holding events that match every given criterion; their rows locked FOR UPDATE if `lock`."""
    where = Where("true")
    if company_key is not None:
        where.add("t.company_key = :ck", ck=company_key)
    if project_key is not None:
        where.add("t.project_key = :pk", pk=project_key)
    if older_than_days is not None:
        where.add("greatest(t.last_update, t.created, "
                  "to_timestamp((SELECT max(last_received) FROM series WHERE task_key = t.key) / 1000.0)) "
                  "< now() - make_interval(secs => :age)", age=older_than_days * 86400)
    keys = session.execute(text(f"SELECT t.key FROM tasks t WHERE {where.sql} ORDER BY t.key"
                                + (" FOR UPDATE" if lock else "")), where.params).scalars().all()
    rows = session.execute(text(
        "SELECT t.key, t.id, coalesce(sum(s.event_count), 0)::bigint FROM tasks t "
        "JOIN series s ON s.task_key = t.key WHERE t.key = ANY(:keys) GROUP BY t.key, t.id ORDER BY t.key"),
        {"keys": list(keys)})
    return [Selected(*r) for r in rows if r[2] > 0]


def _chunks_of(session: Session, table: str, task_keys: Sequence[int]) -> list[tuple[str, int]]:
    """(chunk, bytes) of the chunks that may hold the tasks' events of `table`."""
    event_type = next(t for t, name in TYPE_TABLES.items() if name == table)
    span = timerange.of_tasks(session, task_keys, [event_type])[event_type]
    names = timerange.chunks(session, table, span)
    if not names:
        return []
    return [(r[0], int(r[1])) for r in session.execute(text(
        "SELECT n, pg_total_relation_size(n::regclass) FROM unnest(CAST(:n AS text[])) n"), {"n": names})]


def plan(session: Session, tasks: list[Selected], *, lock: bool) -> Plan:
    """What retention of `tasks` removes: the chunks that hold nothing else, and an estimate of the
    bytes of the other rows. With `lock`, each chunk is locked against inserts before it is checked."""
    result = Plan(tasks)
    keys = [t.key for t in tasks]
    if not keys:
        return result
    for table in TYPE_TABLES.values():
        for chunk, size in _chunks_of(session, table, keys):
            if lock:
                session.execute(text(f"LOCK TABLE {chunk} IN SHARE ROW EXCLUSIVE MODE"))
            counts = session.execute(text(
                f"SELECT count(*) FILTER (WHERE task_key = ANY(:keys)), count(*) FROM {chunk}"),
                {"keys": keys}).one()
            if counts[1] and counts[0] == counts[1]:
                result.whole_chunks.append((table, chunk, size))
            elif counts[0]:
                result.row_bytes += size * counts[0] // counts[1]
    for blocks in ("scalar_blocks", "log_blocks"):  # the compact forms, deleted as rows are
        result.row_bytes += _blocks_share(session, blocks, keys)
    return result


def _blocks_share(session: Session, blocks: str, task_keys: Sequence[int]) -> int:
    """Estimated bytes of these tasks' compact blocks (scalar_blocks, log_blocks: both count their
    events in `n`): the table's size shared out by events."""
    return session.execute(text(
        f"SELECT (pg_total_relation_size('{blocks}') * coalesce(sum(n) FILTER (WHERE task_key = ANY(:tks)) "
        f"::float8 / nullif(sum(n), 0), 0))::bigint FROM {blocks}"), {"tks": list(task_keys)}).scalar_one()


def apply(session: Session, retention: Plan) -> int:
    """Drop the plan's whole chunks, delete the tasks' remaining events and their series; the
    number of events deleted (as the series counted them)."""
    for table, chunk, _ in retention.whole_chunks:
        start, end = session.execute(text(
            "SELECT ds.range_start, ds.range_end FROM _timescaledb_catalog.chunk c "
            "JOIN _timescaledb_catalog.chunk_constraint cc ON cc.chunk_id = c.id "
            "JOIN _timescaledb_catalog.dimension_slice ds ON ds.id = cc.dimension_slice_id "
            "WHERE format('%I.%I', c.schema_name, c.table_name) = :chunk"), {"chunk": chunk}).one()
        dropped = session.execute(text(
            "SELECT drop_chunks(CAST(:table AS regclass), older_than => CAST(:end AS bigint), "
            "newer_than => CAST(:start AS bigint))"), {"table": table, "start": start, "end": end}).all()
        if len(dropped) != 1:
            raise RuntimeError(f"drop_chunks over the range of {chunk} dropped {len(dropped)} chunks")
    for task in retention.tasks:
        delete_events(session, task.key)
    return retention.events


def project_keys(session: Session, ref: str, company_key: int | None) -> list[int]:
    """Keys of the projects with this id or name (in the company, when given)."""
    where = " AND company_key = :ck" if company_key is not None else ""
    return list(session.execute(text(f"SELECT key FROM projects WHERE (id = :ref OR name = :ref){where}"),
                                {"ref": ref, "ck": company_key}).scalars())
