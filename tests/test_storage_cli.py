"""`events-service storage` and `events-service retention` (dry run, and --apply with drop_chunks)."""
from __future__ import annotations

import threading
import uuid

import pytest

from events_service.db.queries.events import SOURCES
from tests.conftest import make_credentials
from tests.helpers import ApiHelper, basic_auth, log, scalar
from tests.test_cli import run

WEEK_MS = 7 * 24 * 3600 * 1000
TABLES = [table for table, _ in SOURCES.values()]


@pytest.fixture
def company(app, database_url):
    """A company of its own (retention by company touches nothing of other tests), and its API."""
    name = f"retention {uuid.uuid4().hex[:8]}"
    key, secret = make_credentials(database_url, name)
    return name, ApiHelper(app, app.test_client(authorization=basic_auth(key, secret)))


def week_t0():
    """A week of its own, far from other tests' data: its chunks hold only what the test writes."""
    return 3_500_000_000_000 + uuid.uuid4().int % 10_000 * 2 * WEEK_MS


def events(task, t0, n=4):
    return ([scalar(task, i, value=float(i), timestamp=t0 + i) for i in range(n)]
            + [log(task, f"line {i}", timestamp=t0 + i) for i in range(n)])


def stored(db, task_ids):
    return {t: sum(db.execute(f"SELECT count(*) FROM {table} e JOIN tasks t ON t.key = e.task_key "
                              "WHERE t.id = %s", (t,)).fetchone()[0] for table in TABLES) for t in task_ids}


def chunk_count(db):
    return db.execute("SELECT count(*) FROM timescaledb_information.chunks").fetchone()[0]


def test_storage_counts_events_per_company_project_and_task(database_url, company):
    name, api = company
    t1, t2 = uuid.uuid4().hex, uuid.uuid4().hex
    api.add_batch(events(t1, week_t0()) + events(t2, week_t0(), n=2))
    code, text = run(database_url, "storage", "--company", name)
    assert code == 0
    assert f"company {name}: 12 events," in text
    assert f"task {t1} '{t1}': 8 events," in text and f"task {t2} '{t2}': 4 events," in text
    assert "total: 12 events" in text
    assert run(database_url, "storage", "--company", "no such company")[0] == 1


def test_retention_dry_run_deletes_nothing(database_url, company, db):
    name, api = company
    tasks = [uuid.uuid4().hex for _ in range(2)]
    api.add_batch(events(tasks[0], week_t0()) + events(tasks[1], week_t0()))
    before, chunks = stored(db, tasks), chunk_count(db)
    code, text = run(database_url, "retention", "--company", name)
    assert code == 0
    assert "would delete 16 events of 2 tasks: 4 whole chunks dropped" in text
    assert "dry run: nothing was changed" in text
    assert stored(db, tasks) == before and chunk_count(db) == chunks
    assert api.call("events.get_task_events", task=tasks[0])["total"] == 8


def test_retention_needs_a_criterion(database_url):
    code, text = run(database_url, "retention")
    assert code == 2 and "at least one of" in text


def test_retention_drops_whole_chunks_and_deletes_rows_elsewhere(database_url, company, api, db, task_id):
    """Task `alone` fills its own chunks (dropped whole); `shared` shares a week with a task of
    another company (its rows deleted, the other's kept)."""
    name, mine = company
    alone, shared = uuid.uuid4().hex, uuid.uuid4().hex
    alone_t0, shared_t0 = week_t0(), week_t0()
    mine.add_batch(events(alone, alone_t0) + events(shared, shared_t0))
    api.add_batch(events(task_id, shared_t0 + 10))  # the tests' company: not selected
    chunks = chunk_count(db)
    code, text = run(database_url, "retention", "--company", name, "--apply")
    assert code == 0
    assert "deleted 16 events of 2 tasks: 2 whole chunks dropped" in text
    assert stored(db, [alone, shared, task_id]) == {alone: 0, shared: 0, task_id: 8}
    assert chunk_count(db) == chunks - 2
    assert db.execute("SELECT count(*) FROM series s JOIN tasks t ON t.key = s.task_key WHERE t.id = ANY(%s)",
                      ([alone, shared],)).fetchone()[0] == 0
    assert mine.call("events.get_task_events", task=shared)["total"] == 0
    assert api.call("events.get_task_events", task=task_id)["total"] == 8
    mine.add_batch(events(alone, alone_t0))  # the task takes events again afterwards
    assert mine.call("events.get_task_events", task=alone)["total"] == 8


def test_retention_under_concurrent_ingestion_loses_no_acknowledged_event(
        database_url, company, api, db, task_id):
    """Another company's task keeps writing into the week (and chunks) of the tasks being deleted:
    every event acknowledged to it is stored once; the selected tasks' events are all gone."""
    name, mine = company
    t0 = week_t0()
    doomed = [uuid.uuid4().hex for _ in range(3)]
    mine.add_batch([e for t in doomed for e in events(t, t0, n=50)])
    api.add_batch(events(task_id, t0, n=1))  # the writer's series exist before retention starts
    acknowledged, stop = [2], threading.Event()

    def write():
        i = 1
        while not stop.is_set() and i < 400:
            batch = [scalar(task_id, i * 10 + k, value=float(k), timestamp=t0 + i * 10 + k)
                     for k in range(10)]
            acknowledged[0] += api.add_batch(batch)["added"]
            i += 1

    writer = threading.Thread(target=write)
    writer.start()
    try:
        code, text = run(database_url, "retention", "--company", name, "--apply")
    finally:
        stop.set()
        writer.join()
    assert code == 0 and "deleted 300 events of 3 tasks" in text
    assert stored(db, doomed) == dict.fromkeys(doomed, 0)
    assert stored(db, [task_id])[task_id] == acknowledged[0]
    assert api.call("events.get_task_events", task=task_id)["total"] == acknowledged[0]


def test_retention_by_age_of_last_activity(database_url, company, db):
    """Only the task idle for longer than --older-than goes; a task created long ago that received
    events yesterday stays (its newest ingestion counts as activity)."""
    name, mine = company
    old, revived, recent = (uuid.uuid4().hex for _ in range(3))
    t0 = week_t0()
    mine.add_batch(events(old, t0) + events(revived, t0) + events(recent, t0))
    day_ms = 24 * 3600 * 1000
    db.execute("UPDATE tasks SET created = now() - interval '400 days', "
               "last_update = now() - interval '400 days' WHERE id = ANY(%s)", ([old, revived],))
    db.execute("UPDATE series s SET last_received = (extract(epoch FROM now()) * 1000)::bigint - %s "
               "FROM tasks t WHERE t.key = s.task_key AND t.id = %s", (400 * day_ms, old))
    db.execute("UPDATE series s SET last_received = (extract(epoch FROM now()) * 1000)::bigint - %s "
               "FROM tasks t WHERE t.key = s.task_key AND t.id = %s", (day_ms, revived))
    code, text = run(database_url, "retention", "--older-than", "365", "--company", name, "--apply")
    assert code == 0 and "deleted 8 events of 1 tasks" in text and f"task {old}:" in text
    assert stored(db, [old, revived, recent]) == {old: 0, revived: 8, recent: 8}
