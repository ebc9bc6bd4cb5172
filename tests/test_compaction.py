"""Compaction of finished scalars (db/queries/compact.py, events_service/compaction.py): every scalar
read answers byte for byte as before; a re-sent event still replaces its twin; a compaction killed
midway and re-run, and ingestion while a task is compacted, lose and double nothing."""
from __future__ import annotations

import io
import json
import re
import threading
import time
from pathlib import Path

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from events_service import cli, compaction
from events_service.db.queries import compact
from tests.helpers import ApiHelper, kill_compact_while_waiting, scalar

ROOT = Path(__file__).resolve().parent.parent
T0 = 2_600_000_000_000  # a week no other test writes to
SCROLL_ID = re.compile(rb'"scroll_id":"[^"]*"')


def populate(api: ApiHelper, task: str) -> None:
    """Three blocks of 'loss' (2,500 contiguous iterations), 'acc' every third iteration (explicit
    iterations; no value from iteration 1000 on: its latest values are in its first block), extra
    fields, two workers and ingestion times, an event without iteration and a single value; values
    exactly representable, so every mean is exact."""
    first = [scalar(task, i, value=i / 4, timestamp=T0 + 10 * i) for i in range(1500)]
    first += [scalar(task, i, "acc", "top1", value=-i / 8 if i < 1000 else None, timestamp=T0 + 10 * i + 1,
                     epoch=i // 100) for i in range(0, 1500, 3)]
    api.add_batch(first, headers={"X-ClearML-Worker": "w1"})
    time.sleep(0.01)  # another ingestion time
    second = [scalar(task, i, value=i / 4, timestamp=T0 + 10 * i) for i in range(1500, 2500)]
    second += [scalar(task, i, "acc", "top1", value=None, timestamp=T0 + 10 * i + 1)  # no value
               for i in range(1500, 2500, 3)]
    second += [scalar(task, None, "loss", "no-iter", value=3.5, timestamp=T0 + 5),
               scalar(task, -2147483648, "Summary", "best", value=0.25, timestamp=T0 + 7)]
    api.add_batch(second, headers={"X-ClearML-Worker": "w2"})


def _body(response) -> bytes:
    """The response's data as sent (the envelope's meta carries the call's own id)."""
    assert response.status_code == 200, response.data[:500]
    data = response.data
    return b"{" + SCROLL_ID.sub(b'"scroll_id":""', data[data.index(b',"data":') + 1:])


def _scroll(api: ApiHelper, endpoint: str, body: dict) -> list[bytes]:
    pages, scroll_id = [], None
    for _ in range(50):
        response = api.raw(endpoint, "2.1", **body, **({"scroll_id": scroll_id} if scroll_id else {}))
        pages.append(_body(response))
        data = response.get_json()["data"]
        scroll_id = data.get("scroll_id")
        if not data.get("events"):
            return pages
    raise AssertionError("scroll did not end")


def answers(api: ApiHelper, app, task: str) -> dict[str, object]:
    """Every scalar read of the task: API endpoints (scrolled to the end) and the viewer's data calls."""
    out: dict[str, object] = {}
    for order in ("asc", "desc"):
        out[f"events {order}"] = _scroll(api, "events.get_task_events",
                                         {"task": task, "batch_size": 700, "order": order})
    for metric in ("loss", "acc"):
        out[f"metric {metric}"] = _scroll(api, "events.get_scalar_metric_data",
                                          {"task": task, "metric": metric, "batch_size": 600})
    calls = {
        "latest": ("events.get_task_latest_scalar_values", "2.1", {"task": task}),
        "metrics": ("events.get_scalar_metrics_and_variants", "2.1", {"task": task}),
        "task metrics": ("events.get_task_metrics", "2.7", {"tasks": [task]}),
        "single": ("events.get_task_single_value_metrics", "2.20", {"tasks": [task]}),
        "multi": ("events.multi_task_scalar_metrics_iter_histogram", "2.1", {"tasks": [task]}),
    }
    for samples in (7, 90, 300, 1000, 5000):
        for key in ("iter", "timestamp", "iso_time"):
            calls[f"hist {key} {samples}"] = ("events.scalar_metrics_iter_histogram", "2.1",
                                              {"task": task, "key": key, "samples": samples})
    for name, (endpoint, version, body) in calls.items():
        out[name] = _body(api.raw(endpoint, version, **body))
    viewer = app.test_client()
    viewer.post("/ui/signin", data={"access_key": app.config["TEST_KEYS"][0],
                                    "secret_key": app.config["TEST_KEYS"][1], "next": "/"})
    paths = [f"/ui/data/scalars?task={task}", f"/ui/data/scalars?task={task}&x=time",
             f"/ui/data/scalars?task={task}&metric=loss&lo=990&hi=1010",
             f"/ui/data/scalars?task={task}&metric=loss&lo=100&hi=2400&samples=50",
             f"/ui/data/scalars?task={task}&metric=acc&lo=3&hi=2000&samples=400",
             f"/ui/data/scalars?task={task}&metric=loss&x=time&lo={T0 + 9000}&hi={T0 + 12000}",
             f"/ui/data/scalars?task={task}&metric=loss&x=time&lo={T0}&hi={T0 + 25000}&samples=30",
             f"/ui/data/scalars?task={task}&metric=loss&x=time&lo={T0 + 9000}&hi={T0 + 12000}"
             "&ilo=900&ihi=1200",
             f"/ui/data/scalars?task={task}&metric=loss&x=time&lo={T0}&hi={T0 + 25000}&ilo=0&ihi=2499"
             "&samples=40",
             f"/ui/data/compare?tasks={task}"]
    for path in paths:
        response = viewer.get(path)
        assert response.status_code == 200, (path, response.data[:300])
        out[path] = response.data
    return out


def all_events(api: ApiHelper, task: str) -> list[dict]:
    return [e for page in _scroll(api, "events.get_task_events", {"task": task, "batch_size": 5000})
            for e in json.loads(page)["data"]["events"]]


@pytest.fixture
def keys(app, credentials):
    app.config["TEST_KEYS"] = credentials
    return credentials


@pytest.fixture
def engine(database_url):
    engine = create_engine(database_url)
    yield engine
    engine.dispose()


def task_key(db, task: str) -> int:
    return db.execute("SELECT key FROM tasks WHERE id = %s", (task,)).fetchone()[0]


def forms(db, task: str) -> tuple[int, int, int]:
    """(points in blocks, rows with an iteration, rows without) of the task's scalars."""
    key = task_key(db, task)
    blocks = db.execute("SELECT coalesce(sum(n), 0) FROM scalar_blocks WHERE task_key = %s",
                        (key,)).fetchone()[0]
    rows = db.execute("SELECT count(iter), count(*) - count(iter) FROM scalar_events WHERE task_key = %s",
                      (key,)).fetchone()
    return blocks, rows[0], rows[1]


def run_cli(database_url: str, *args: str) -> str:
    out = io.StringIO()
    assert cli.main(["--database-url", database_url, "compact", *args], out=out) == 0
    return out.getvalue()


def test_every_scalar_read_answers_the_same_after_compaction(api, app, keys, db, database_url, task_id):
    populate(api, task_id)
    before = answers(api, app, task_id)
    assert forms(db, task_id) == (0, 2500 + 834 + 1, 1)
    printed = run_cli(database_url, "--task", task_id)
    assert "compacted 3,335 points of 4 series" in printed, printed
    assert forms(db, task_id) == (3335, 0, 1)  # only the event without iteration stays a row
    assert db.execute("SELECT count(*) FROM scalar_blocks WHERE task_key = %s AND iters IS NULL",
                      (task_key(db, task_id),)).fetchone()[0] == 4  # loss, Summary: contiguous, implied
    after = answers(api, app, task_id)
    assert after.keys() == before.keys()
    for name in before:
        assert after[name] == before[name], name
    assert "compacted 0 points" in run_cli(database_url, "--task", task_id)  # nothing left to do
    assert api.call("events.delete_for_task", task=task_id)["deleted_count"] == 3336  # both forms
    assert forms(db, task_id) == (0, 0, 0)


def test_resent_event_replaces_its_compacted_twin(api, app, keys, db, database_url, task_id, engine):
    populate(api, task_id)
    run_cli(database_url, "--task", task_id)
    api.add_batch([scalar(task_id, 1234, value=99.5, timestamp=T0 + 3)])  # a twin inside the 2nd block
    blocks, rows, _ = forms(db, task_id)
    assert (blocks, rows) == (3335 - 1000, 1000)  # its block became rows, then the twin was replaced
    events = all_events(api, task_id)
    found = [e for e in events
             if e["metric"] == "loss" and e["variant"] == "total" and e.get("iter") == 1234]
    assert [(e["value"], e["timestamp"]) for e in found] == [(99.5, T0 + 3)]
    assert len(events) == 3336
    with Session(bind=engine) as session:
        pending = compact.pending(session, task_keys=[task_key(db, task_id)], ended_only=False)
    assert len(pending) == 1  # the series written since: compacted again
    compaction.compact_series(engine, pending)
    assert forms(db, task_id) == (3335, 0, 1)
    assert all_events(api, task_id) == events


def sample(name: str, **labels: str) -> float:
    """A metric of this process as /metrics would show it (0 before its first count)."""
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_ended_tasks_are_compacted_by_the_pass_and_one_runner_works_at_a_time(api, db, engine):
    created = api.call("tasks.create", name="ends", type="training")["id"]
    api.add_batch([scalar(created, i, value=float(i), timestamp=T0 + i) for i in range(50)])
    with Session(bind=engine) as session:
        assert task_key(db, created) not in {
            k for k in compact.pending(session)}  # a running task is not compacted
    api.call("tasks.started", task=created)
    api.call("tasks.completed", task=created, force=True)
    with Session(bind=engine) as other, other.begin():
        assert compact.try_lock_pass(other)  # another runner is working: this pass stops at once
        assert compaction.run_pass(engine).series == 0
    assert forms(db, created) == (0, 50, 0)
    summary = compaction.run_pass(engine)
    assert summary.points >= 50
    assert forms(db, created) == (50, 0, 0)
    points_before = sample("events_compacted_points_total")
    passes_before = sample("events_compaction_passes_total", outcome="ok")
    runner = compaction.PassRunner(engine, 0.05)
    runner.start()
    try:
        api.add_batch([scalar(created, i, value=float(i), timestamp=T0 + i) for i in range(50, 60)])
        deadline = time.monotonic() + 20
        while forms(db, created) != (60, 0, 0) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        runner.stop()
        runner.join(timeout=10)
    assert forms(db, created) == (60, 0, 0)
    # /metrics counts the runner's passes and what they moved (the 10 new points at least)
    assert sample("events_compaction_passes_total", outcome="ok") > passes_before
    assert sample("events_compacted_points_total") - points_before >= 10


def test_killed_compaction_loses_and_doubles_nothing(api, app, keys, db, database_url, task_id):
    for metric in ("a", "b", "c", "d"):
        api.add_batch([scalar(task_id, i, metric, value=i / 2, timestamp=T0 + 100 * i) for i in range(1200)])
    before = answers(api, app, task_id)
    series = [r[0] for r in db.execute("SELECT s.key FROM series s JOIN tasks t ON t.key = s.task_key "
                                       "WHERE t.id = %s ORDER BY s.key", (task_id,))]
    kill_compact_while_waiting(db, database_url, series[2], "--task", task_id)  # in the third series' move
    blocks, rows, _ = forms(db, task_id)
    assert (blocks, rows) == (2400, 2400)  # two series moved, whole; the third rolled back
    assert answers(api, app, task_id) == before
    assert "compacted 2,400 points of 2 series" in run_cli(database_url, "--task", task_id)
    assert forms(db, task_id) == (4800, 0, 0)
    assert answers(api, app, task_id) == before


def test_ingestion_while_compacting_loses_and_doubles_nothing(api, app, db, engine, task_id):
    expected: dict[int, float] = {}
    api.add_batch([scalar(task_id, i, value=float(i), timestamp=T0 + i) for i in range(1500)])
    expected.update({i: float(i) for i in range(1500)})
    key = task_key(db, task_id)
    failures: list[BaseException] = []
    stop = threading.Event()

    def compact_repeatedly():
        try:
            while not stop.is_set():
                with Session(bind=engine) as session:
                    keys = compact.pending(session, task_keys=[key], ended_only=False)
                compaction.compact_series(engine, keys)
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            failures.append(exc)

    worker = threading.Thread(target=compact_repeatedly)
    worker.start()
    try:
        for n in range(30):  # new iterations, and re-sends of older (maybe compacted) ones
            batch = {1500 + 20 * n + j: float(-n - j) for j in range(20)}
            batch.update({(97 * n) % 1500: 1000.0 + n, (331 * n + 7) % 1500: 2000.0 + n})
            api.add_batch([scalar(task_id, i, value=v, timestamp=T0 + i) for i, v in batch.items()])
            expected.update(batch)
    finally:
        stop.set()
        worker.join(timeout=60)
    assert not failures, failures
    with Session(bind=engine) as session:
        compaction.compact_series(engine, compact.pending(session, task_keys=[key], ended_only=False))
    events = all_events(api, task_id)
    got = [(e["iter"], e["value"]) for e in events]
    assert len(got) == len(expected)  # nothing doubled
    assert dict(got) == expected      # nothing lost, every re-send won
    blocks, rows, _ = forms(db, task_id)
    assert blocks + rows == len(expected) and blocks > 0
