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
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from events_service import cli, compaction, create_app
from events_service.db.queries import compact, storage, timerange
from tests.helpers import ApiHelper, kill_compact_while_waiting, repeated_in_background, scalar

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
    # the marker ingestion trusts to skip the blocks (compact.NEVER_COMPACTED): set on every series with one
    assert db.execute("SELECT count(*) FROM scalar_blocks b JOIN series s ON s.key = b.series_key "
                      f"WHERE b.task_key = %s AND s.{compact.NEVER_COMPACTED}", (key,)).fetchone()[0] == 0
    return blocks, rows[0], rows[1]


def run_cli(database_url: str, *args: str) -> str:
    out = io.StringIO()
    assert cli.main(["--database-url", database_url, "compact", *args], out=out) == 0
    return out.getvalue()


def test_every_scalar_read_answers_the_same_after_compaction(api, app, keys, db, database_url, task_id):
    populate(api, task_id)
    before = answers(api, app, task_id)
    assert forms(db, task_id) == (0, 2500 + 834 + 1, 1)
    printed = run_cli(database_url, "--task", task_id, "--whole")
    assert "compacted 3,335 points of 4 series" in printed, printed
    assert forms(db, task_id) == (3335, 0, 1)  # only the event without iteration stays a row
    assert db.execute("SELECT count(*) FROM scalar_blocks WHERE task_key = %s AND iters IS NULL",
                      (task_key(db, task_id),)).fetchone()[0] == 4  # loss, Summary: contiguous, implied
    after = answers(api, app, task_id)
    assert after.keys() == before.keys()
    for name in before:
        assert after[name] == before[name], name
    assert "compacted 0 points" in run_cli(database_url, "--task", task_id, "--whole")  # nothing left
    assert api.call("events.delete_for_task", task=task_id)["deleted_count"] == 3336  # both forms
    assert forms(db, task_id) == (0, 0, 0)


def test_reads_of_the_ends_of_blocks_answer_the_same(api, app, keys, database_url, task_id):
    """Latest values and pages by iteration read only the end of a block (compact._sliced): points
    without a value there (the last 40 of each block, every 7th) must not take the place of the 100
    latest; a block with explicit iterations is read whole below a page's position."""
    api.add_batch([scalar(task_id, i, value=None if i % 1000 >= 960 or i % 7 == 0 else i / 4,
                          timestamp=T0 + i) for i in range(2000)])
    # explicit iterations (every tenth missing): a page's position falls inside a block of 900 points
    api.add_batch([scalar(task_id, i, "loss", "sparse", value=i / 2, timestamp=T0 + i)
                   for i in range(3000) if i % 10])
    before = answers(api, app, task_id)
    run_cli(database_url, "--task", task_id, "--whole")
    after = answers(api, app, task_id)
    for name in before:
        assert after[name] == before[name], name


def test_first_page_by_time_takes_a_block_starting_where_the_first_ones_end(api, database_url, task_id):
    """get_task_events' first page reads only the blocks that can hold its events (compact._first_blocks):
    b's block starts at the time a's first 1,000 points end, and its first point (ingested first: a
    smaller id) is the 1,000th event."""
    api.add_batch([scalar(task_id, i, "b", value=float(i), timestamp=T0 + 999 + i) for i in range(10)])
    api.add_batch([scalar(task_id, i, "a", value=float(i), timestamp=T0 + i) for i in range(1500)])

    def scroll(order: str) -> list[bytes]:
        return _scroll(api, "events.get_task_events", {"task": task_id, "batch_size": 1000, "order": order})

    pages = {order: scroll(order) for order in ("asc", "desc")}
    assert b'"metric":"b"' in pages["asc"][0]
    run_cli(database_url, "--task", task_id, "--whole")
    for order, before in pages.items():
        assert scroll(order) == before, order


def test_resent_event_replaces_its_compacted_twin(api, app, keys, db, database_url, task_id, engine):
    populate(api, task_id)
    run_cli(database_url, "--task", task_id, "--whole")
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
    mixed = answers(api, app, task_id)  # pages merge the rows of one block with the other blocks
    compaction.compact_series(engine, pending)
    assert forms(db, task_id) == (3335, 0, 1)
    assert all_events(api, task_id) == events
    assert answers(api, app, task_id) == mixed


def test_new_points_beside_compacted_ones_keep_the_pre_aggregates_exact(api, db, database_url, task_id):
    """A batch's bucket refresh reads the blocks of a compacted series (not only its rows): iterations
    1000-1004 are compacted, 1005-1009 then written as rows share their pre-aggregate buckets."""
    api.add_batch([scalar(task_id, i, value=1.0, timestamp=T0 + i) for i in range(1005)])
    run_cli(database_url, "--task", task_id, "--whole")
    assert forms(db, task_id) == (1005, 0, 0)
    api.add_batch([scalar(task_id, i, value=1.0, timestamp=T0 + i) for i in range(1005, 1010)])
    assert forms(db, task_id) == (1005, 5, 0)
    buckets = db.execute("SELECT b.width, b.bucket, b.value_count, b.value_sum FROM scalar_buckets b "
                         "JOIN series s ON s.key = b.series_key WHERE s.task_key = %s",
                         (task_key(db, task_id),)).fetchall()
    assert {width for width, bucket, *_ in buckets if bucket * width <= 1009 < (bucket + 1) * width}
    for width, bucket, count, total in buckets:  # 1.0 at every iteration 0..1009
        expected = len(range(max(bucket * width, 0), min((bucket + 1) * width, 1010)))
        assert (count, total) == (expected, expected), (width, bucket)


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
        assert compaction.run_pass(engine).done == 0
    assert forms(db, created) == (0, 50, 0)
    summary = compaction.run_pass(engine)
    assert summary.events >= 50
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


def test_a_series_whose_compaction_fails_does_not_stop_the_pass(api, db, engine, monkeypatch, caplog):
    """The pass logs a series it cannot compact and goes on with the others (before, one series
    whose compaction raised stopped every pass there, for every other task)."""
    from sqlalchemy.exc import DataError

    ended = []
    for name in ("first", "second"):
        task = api.call("tasks.create", name=name, type="training")["id"]
        api.add_batch([scalar(task, i, value=float(i), timestamp=T0 + i) for i in range(20)])
        api.call("tasks.started", task=task)
        api.call("tasks.completed", task=task, force=True)
        ended.append(task)
    broken = series_keys(db, ended[0])[0]
    move = compact.compact_series

    def failing(session, key, **kw):
        if key == broken:
            session.execute(text("SELECT 1"))
            raise DataError("SELECT ...", {}, Exception("bigint out of range"))
        return move(session, key, **kw)
    monkeypatch.setattr(compact, "compact_series", failing)
    summary = compaction.run_pass(engine)
    assert forms(db, ended[0]) == (0, 20, 0) and forms(db, ended[1]) == (20, 0, 0)
    assert summary.skipped >= 1 and f"compaction of {broken} failed" in caplog.text
    monkeypatch.undo()
    compaction.run_pass(engine)
    assert forms(db, ended[0]) == (20, 0, 0)


def test_killed_compaction_loses_and_doubles_nothing(api, app, keys, db, database_url, task_id):
    for metric in ("a", "b", "c", "d"):
        api.add_batch([scalar(task_id, i, metric, value=i / 2, timestamp=T0 + 100 * i) for i in range(1200)])
    before = answers(api, app, task_id)
    series = [r[0] for r in db.execute("SELECT s.key FROM series s JOIN tasks t ON t.key = s.task_key "
                                       "WHERE t.id = %s ORDER BY s.key", (task_id,))]
    kill_compact_while_waiting(db, database_url, series[2], "--task", task_id, "--whole")  # 3rd series' move
    blocks, rows, _ = forms(db, task_id)
    assert (blocks, rows) == (2400, 2400)  # two series moved, whole; the third rolled back
    assert answers(api, app, task_id) == before
    assert "compacted 2,400 points of 2 series" in run_cli(database_url, "--task", task_id, "--whole")
    assert forms(db, task_id) == (4800, 0, 0)
    assert answers(api, app, task_id) == before


def test_ingestion_while_compacting_loses_and_doubles_nothing(api, app, db, engine, task_id):
    expected: dict[int, float] = {}
    api.add_batch([scalar(task_id, i, value=float(i), timestamp=T0 + i) for i in range(1500)])
    expected.update({i: float(i) for i in range(1500)})
    key = task_key(db, task_id)

    def compact_once():
        with Session(bind=engine) as session:
            keys = compact.pending(session, task_keys=[key], ended_only=False)
        compaction.compact_series(engine, keys)
    with repeated_in_background(compact_once):
        for n in range(30):  # new iterations, and re-sends of older (maybe compacted) ones
            batch = {1500 + 20 * n + j: float(-n - j) for j in range(20)}
            batch.update({(97 * n) % 1500: 1000.0 + n, (331 * n + 7) % 1500: 2000.0 + n})
            api.add_batch([scalar(task_id, i, value=v, timestamp=T0 + i) for i, v in batch.items()])
            expected.update(batch)
    with Session(bind=engine) as session:
        compaction.compact_series(engine, compact.pending(session, task_keys=[key], ended_only=False))
    events = all_events(api, task_id)
    got = [(e["iter"], e["value"]) for e in events]
    assert len(got) == len(expected)  # nothing doubled
    assert dict(got) == expected      # nothing lost, every re-send won
    blocks, rows, _ = forms(db, task_id)
    assert blocks + rows == len(expected) and blocks > 0


def stored_points(db, task: str) -> list[tuple]:
    """Every scalar point of the task as compact.rows() reads it (both forms), by series and iteration."""
    source = compact.rows(f"task_key = {task_key(db, task)}", timerange.Span(None, None))
    return db.execute(f"SELECT {compact.COLUMNS} FROM {source} e ORDER BY series_key, iter, id").fetchall()


def bucket_rows(db, task: str) -> list[tuple]:
    return db.execute("SELECT b.series_key, b.width, b.bucket, b.value_count, b.value_sum, b.min_value, "
                      "b.max_value, b.min_iter, b.max_iter FROM scalar_buckets b JOIN series s "
                      "ON s.key = b.series_key WHERE s.task_key = %s ORDER BY 1, 2, 3",
                      (task_key(db, task),)).fetchall()


def read_buckets(db, task: str, widths: tuple[int, ...]) -> list[tuple]:
    """The pre-aggregates as histograms read them (compact.buckets: rows, and the blocks' own)."""
    where = f"series_key IN ({', '.join(map(str, series_keys(db, task)))})"
    return sorted(r for w in widths for r in db.execute(
        f"SELECT {compact.BUCKET_COLUMNS} FROM {compact.buckets(where, str(w))} b").fetchall())


def series_keys(db, task: str) -> list[int]:
    return [r[0] for r in db.execute("SELECT key FROM series WHERE task_key = %s", (task_key(db, task),))]


def buckets_from_points(db, task: str, widths: tuple[int, ...]) -> list[tuple]:
    """The pre-aggregates of `widths` as direct SQL computes them from the points (both forms)."""
    source = compact.rows(f"task_key = {task_key(db, task)}", timerange.Span(None, None))
    return db.execute(f"""
        SELECT series_key, w, floor(iter::numeric / w)::bigint, count(*), sum(value), min(value), max(value),
               min(iter), max(iter)
        FROM {source} e CROSS JOIN unnest(%s::int[]) w
        WHERE iter IS NOT NULL AND iter <> -2147483648 AND value IS NOT NULL
        GROUP BY 1, 2, 3 ORDER BY 1, 2, 3""", (list(widths),)).fetchall()


def test_an_ended_task_keeps_its_fine_buckets_in_its_blocks_and_answers_the_same(api, app, keys, db,
                                                                                 database_url):
    task = api.call("tasks.create", name="finished", type="training")["id"]
    populate(api, task)
    # times off a line (residuals stored), values exact
    api.add_batch([scalar(task, i, "jitter", value=i / 2, timestamp=T0 + 10 * i + (i * 7) % 5)
                   for i in range(1205)])
    api.call("tasks.started", task=task)
    api.call("tasks.completed", task=task, force=True)
    before, points = answers(api, app, task), stored_points(db, task)
    assert {r[1] for r in bucket_rows(db, task)} == {10, 100, 1000}
    assert read_buckets(db, task, (10, 100, 1000)) == bucket_rows(db, task)
    run_cli(database_url, "--task", task)
    assert forms(db, task)[0] == 3335 + 1205
    jitter = db.execute("SELECT key FROM series WHERE task_key = %s AND metric = 'jitter'",
                        (task_key(db, task),)).fetchone()[0]
    key = task_key(db, task)
    # regular times and ids are a line: no array stored; the jittery series keeps residuals
    assert db.execute("SELECT count(*) FILTER (WHERE times IS NULL), count(times) FROM scalar_blocks "
                      "WHERE task_key = %s", (key,)).fetchone() == (7, 2)
    # widths 10 and 100 are the blocks' own now: only width 1000 stays rows; every width exact
    assert bucket_rows(db, task) == buckets_from_points(db, task, (1000,))
    assert read_buckets(db, task, (10, 100, 1000)) == buckets_from_points(db, task, (10, 100, 1000))
    assert stored_points(db, task) == points
    after = answers(api, app, task)
    for name in before:  # histograms of every interval, the viewer's zooms
        assert after[name] == before[name], name
    # the task resumed: new points, and a re-sent one that expands its block, keep the buckets exact;
    # 'jitter' 1207 is a row in a bucket its last block holds too (1200-1204): the row holds both
    api.add_batch([scalar(task, 1234, value=99.5, timestamp=T0 + 3),
                   scalar(task, 2600, value=1.5, timestamp=T0),
                   scalar(task, 1207, "jitter", value=0.75, timestamp=T0 + 12070),
                   scalar(task, 5, "jitter", value=None, timestamp=T0)])
    assert read_buckets(db, task, (10, 100, 1000)) == buckets_from_points(db, task, (10, 100, 1000))
    assert db.execute("SELECT count(*) FROM scalar_buckets WHERE series_key = %s AND width = 10 "
                      "AND bucket = 120", (jitter,)).fetchone()[0] == 1
    run_cli(database_url, "--task", task)
    assert bucket_rows(db, task) == buckets_from_points(db, task, (1000,))
    assert read_buckets(db, task, (10, 100, 1000)) == buckets_from_points(db, task, (10, 100, 1000))


def test_ids_and_times_at_the_int64_limits_survive_compaction(api, app, keys, db, database_url, task_id):
    api.add_batch([scalar(task_id, i, value=i / 8, timestamp=T0 + i) for i in range(3000)])
    low, high, line_limit = -2 ** 63, 2 ** 63 - 1, 2 ** 62
    # block 0: ids at both limits (no line fits: stored as they are); block 1: the widest range a line
    # takes (+-(2^62 - 1)), far from it; block 2: ids near the top, times falling (within the series' range)
    db.execute("""
        UPDATE scalar_events SET
            id = CASE WHEN iter < 1000 THEN CASE WHEN iter %% 2 = 0 THEN %(low)s + iter
                                                 ELSE %(high)s - iter END
                      WHEN iter < 2000 THEN CASE WHEN iter %% 3 = 0 THEN %(lim)s - 1 - iter
                                                 ELSE -%(lim)s + 1 + iter * iter END
                      ELSE %(high)s - 3000 + iter END,
            ts = CASE WHEN iter >= 2000 THEN %(t0)s + 4999 - iter ELSE ts END
        WHERE task_key = %(tk)s""", {"low": low, "high": high, "lim": line_limit, "t0": T0,
                                     "tk": task_key(db, task_id)})
    before, points = answers(api, app, task_id), stored_points(db, task_id)
    assert {p[3] for p in points} >= {low, high - 1, line_limit - 1 - 1002, -line_limit + 1 + 1001 * 1001}
    run_cli(database_url, "--task", task_id, "--whole")  # a running task, wholly
    assert forms(db, task_id) == (3000, 0, 0)
    lines = db.execute("SELECT ids_base, ids_step FROM scalar_blocks WHERE task_key = %s ORDER BY bucket",
                       (task_key(db, task_id),)).fetchall()
    assert lines[0] == lines[2] == (0, 0) and lines[1][0] == -line_limit + 1 + 1000 * 1000  # fallback, line
    assert stored_points(db, task_id) == points
    after = answers(api, app, task_id)
    for name in before:
        assert after[name] == before[name], name


# Aging: the old blocks of a running task (compact.age_series; design in migration 0011)

def test_every_scalar_read_answers_the_same_after_aging_a_running_task(
        api, app, keys, db, database_url, task_id):
    populate(api, task_id)  # a running task: newest iteration 2499
    before = answers(api, app, task_id)
    printed = run_cli(database_url, "--task", task_id, "--age", "500")
    # buckets 0 and 1 (iterations 0-1999) lie at least 500 behind 2499: 2,000 points of loss, 667 of acc;
    # the single value (iteration -2^31) and the event without iteration stay rows
    assert "compacted 2,667 points of 2 series" in printed, printed
    assert forms(db, task_id) == (2667, 500 + 167 + 1, 1)
    after = answers(api, app, task_id)
    assert after.keys() == before.keys()
    for name in before:
        assert after[name] == before[name], name
    assert "compacted 0 points" in run_cli(database_url, "--task", task_id, "--age", "500")  # not due yet

    api.add_batch([scalar(task_id, 1234, value=99.5, timestamp=T0 + 3)])  # a re-send into an aged block
    assert forms(db, task_id) == (2667 - 1000, 668 + 1000, 1)  # its block became rows, then it was replaced
    events = all_events(api, task_id)
    resent = [e for e in events if e["variant"] == "total" and e.get("iter") == 1234]
    assert [(e["value"], e["timestamp"]) for e in resent] == [(99.5, T0 + 3)]
    # the re-expanded bucket is due at once (expand lowered aged_through), not with the next block
    assert "compacted 1,000 points of 1 series" in run_cli(database_url, "--task", task_id, "--age", "500")
    assert forms(db, task_id) == (2667, 500 + 167 + 1, 1)
    assert all_events(api, task_id) == events
    api.add_batch([scalar(task_id, i, value=i / 4, timestamp=T0 + 10 * i) for i in range(2500, 3500)])
    events = all_events(api, task_id)
    # loss is due again (newest 3499): its bucket 2 ages; acc is not due
    assert "compacted 1,000 points of 1 series" in run_cli(database_url, "--task", task_id, "--age", "500")
    assert forms(db, task_id) == (3667, 500 + 167 + 1, 1)
    assert all_events(api, task_id) == events

    api.call("tasks.completed", task=task_id, force=True)  # ended: everything compacts, as before aging
    assert "compacted 668 points of 4 series" in run_cli(database_url, "--task", task_id)
    assert forms(db, task_id) == (4335, 0, 1)
    assert all_events(api, task_id) == events


def test_aging_at_the_ends_of_int64(api, app, keys, db, database_url, task_id):
    low, high = -(2 ** 63), 2 ** 63 - 1
    iterations = [low, low + 1, low + 999, *range(0, 1500), high - 1, high]
    api.add_batch([scalar(task_id, i, value=float(n), timestamp=T0 + n) for n, i in enumerate(iterations)])
    before = answers(api, app, task_id)
    # every bucket but high's (the newest) is old, the lowest of them starting below int64
    assert "compacted 1,503 points of 1 series" in run_cli(database_url, "--task", task_id)
    assert forms(db, task_id) == (1503, 2, 0)
    assert answers(api, app, task_id) == before
    api.add_batch([scalar(task_id, low, value=-1.0, timestamp=T0)])  # a re-send into the lowest block
    assert [e["value"] for e in all_events(api, task_id) if e["iter"] == low] == [-1.0]
    # the whole task, int64's last iteration too (a block's first iteration: no offset may overflow),
    # also alone in its block ('solo': the latest values read that block's last points)
    api.add_batch([scalar(task_id, high, "solo", value=2.5, timestamp=T0)])
    expected = answers(api, app, task_id)
    run_cli(database_url, "--task", task_id, "--whole")
    assert forms(db, task_id) == (1506, 0, 0)
    assert answers(api, app, task_id) == expected


def test_compact_refuses_whole_without_task_and_a_negative_age(database_url):
    out = io.StringIO()
    assert cli.main(["--database-url", database_url, "compact", "--whole"], out=out) == 1
    assert "--whole needs --task" in out.getvalue()
    with pytest.raises(SystemExit):
        cli.main(["--database-url", database_url, "compact", "--age", "-5"], out=out)


def test_the_pass_ages_running_tasks_and_skips_a_series_being_written(api, db, engine, task_id):
    api.add_batch([scalar(task_id, i, metric, value=float(i), timestamp=T0 + i)
                   for metric in ("a", "b") for i in range(3000)])
    key = task_key(db, task_id)
    a, b = [r[0] for r in db.execute("SELECT key FROM series WHERE task_key = %s ORDER BY metric", (key,))]
    passes: list[compaction.Summary] = []
    with Session(bind=engine) as writer, writer.begin():
        compact.lock_series(writer, a)  # a batch of "a" is being written
        for _ in range(5):  # the pass ages every running task of the database: until it has reached ours
            runner = threading.Thread(target=lambda: passes.append(compaction.run_pass(engine, age=1000)))
            runner.start()
            runner.join(timeout=60)
            assert not runner.is_alive(), "the pass waited for a series being written"
            with Session(bind=engine) as session:
                if compact.aging(session, 1000, task_keys=[key]) == [a]:
                    break
    assert sum(p.skipped for p in passes) >= 1
    # "b": buckets 0 and 1 (iterations 0-1999, at least 1,000 behind 2999) are blocks; "a" was skipped
    assert forms(db, task_id) == (2000, 4000, 0)
    with Session(bind=engine) as session:
        assert compact.aging(session, 1000, task_keys=[key]) == [a]
    for _ in range(5):
        compaction.run_pass(engine, age=1000)
        with Session(bind=engine) as session:
            if not compact.aging(session, 1000, task_keys=[key]):
                break
    assert forms(db, task_id) == (4000, 2000, 0)
    assert db.execute("SELECT count(*) FROM scalar_blocks WHERE task_key = %s", (key,)).fetchone()[0] == 4


def test_ingestion_while_aging_loses_and_doubles_nothing(app, api, db, engine, task_id):
    api.add_batch([scalar(task_id, i, value=float(i), timestamp=T0 + i) for i in range(1500)])
    key = task_key(db, task_id)
    series = db.execute("SELECT key FROM series WHERE task_key = %s", (key,)).fetchone()[0]
    expected = {"appender": {}, "resender": {}}
    expected["resender"].update({i: float(i) for i in range(1500)})
    failures: list[BaseException] = []  # the writers'

    def appender():  # new iterations at the head, and re-sends of its own recent ones
        writer = ApiHelper(app, app.test_client(authorization=app.config["TEST_AUTHORIZATION"]))
        for n in range(40):
            batch = {1500 + 40 * n + j: float(-n - j) for j in range(40)}
            if n:
                batch[1500 + 40 * n - 7] = 5000.0 + n
            writer.add_batch([scalar(task_id, i, value=v, timestamp=T0 + i) for i, v in batch.items()])
            expected["appender"].update(batch)

    def resender():  # re-sends of old iterations, which lie in aged blocks
        writer = ApiHelper(app, app.test_client(authorization=app.config["TEST_AUTHORIZATION"]))
        for n in range(40):
            batch = {(97 * n) % 1500: 1000.0 + n, (331 * n + 7) % 1500: 2000.0 + n}
            writer.add_batch([scalar(task_id, i, value=v, timestamp=T0 + i) for i, v in batch.items()])
            expected["resender"].update(batch)

    aged_meanwhile = []

    def age_once():
        for wait in (True, False):  # as the command does, and as the pass does
            aged_meanwhile.append(compaction.age_series(engine, [series], age=100, wait=wait).events)

    def run(target):
        def guarded():
            try:
                target()
            except BaseException as exc:  # noqa: BLE001 - reported by the main thread
                failures.append(exc)
        thread = threading.Thread(target=guarded)
        thread.start()
        return thread

    with repeated_in_background(age_once):
        writers = [run(appender), run(resender)]
        for thread in writers:
            thread.join(timeout=120)
    assert not failures, failures
    assert sum(aged_meanwhile) > 0  # blocks were aged while the writers wrote
    compaction.age_series(engine, [series], age=100)
    want = {**expected["resender"], **expected["appender"]}
    got = [(e["iter"], e["value"]) for e in all_events(api, task_id)]
    assert len(got) == len(want) == 3100  # nothing doubled
    assert dict(got) == want              # nothing lost, every re-send won
    blocks, rows, _ = forms(db, task_id)
    assert blocks + rows == len(want) and blocks >= 2000  # buckets 0 and 1 at least are blocks (newest 3099)


@pytest.fixture
def hourly(app):
    """An app whose runner passes once an hour, and a running task of 1,200 points, the runner's
    first wait begun: only a wake can run a pass within the hour. Yields (api, task)."""
    woken = create_app({**app.config, "COMPACT_INTERVAL_SEC": 3600})
    woken.test_client_class = type(app.test_client())
    api = ApiHelper(woken, woken.test_client(authorization=app.config["TEST_AUTHORIZATION"]))
    task = api.call("tasks.create", name="ends", type="training")["id"]
    api.add_batch([scalar(task, i, value=float(i), timestamp=T0 + i) for i in range(1200)])
    api.call("tasks.started", task=task)
    time.sleep(1)
    yield api, task
    runner = woken.extensions["compaction_runner"]
    runner.stop()
    runner.join(timeout=10)
    woken.extensions["db_engine"].dispose()


def wait_for_forms(db, task: str, expected: tuple[int, int, int]) -> None:
    deadline = time.monotonic() + 30
    while forms(db, task) != expected and time.monotonic() < deadline:
        time.sleep(0.1)
    assert forms(db, task) == expected


def test_ending_a_task_compacts_it_at_once_not_at_the_next_interval(hourly, db):
    """The runner of the process that served tasks.completed is woken once the status change has
    committed: with an interval of an hour, the task's points are blocks within seconds."""
    api, task = hourly
    assert forms(db, task) == (0, 1200, 0)
    api.call("tasks.completed", task=task, force=True)
    wait_for_forms(db, task, (1200, 0, 0))


def test_a_woken_pass_that_finds_another_runner_at_work_runs_again_soon(hourly, db, engine):
    """A task ends while another runner holds the pass lock: the woken pass yields, then runs again
    a second later (compaction.RETRY_SECONDS), not at the next interval (an hour here)."""
    api, task = hourly

    def passes() -> float:
        return sample("events_compaction_passes_total", outcome="ok")
    before = passes()
    with Session(bind=engine) as other, other.begin():
        assert compact.try_lock_pass(other)  # another runner at work
        api.call("tasks.completed", task=task, force=True)
        deadline = time.monotonic() + 30
        while passes() == before and time.monotonic() < deadline:
            time.sleep(0.05)
        assert passes() > before  # it ran, and yielded
        assert forms(db, task) == (0, 1200, 0)
    wait_for_forms(db, task, (1200, 0, 0))


def test_a_retention_dry_run_counts_the_compact_blocks_of_a_task(api, db, engine, database_url, task_id):
    """A compacted task has no scalar rows left: what retention would free is its share of the blocks."""
    api.add_batch([scalar(task_id, i, value=float(i), timestamp=T0 + i) for i in range(3000)])
    run_cli(database_url, "--task", task_id, "--whole")
    assert forms(db, task_id) == (3000, 0, 0)
    key = task_key(db, task_id)
    with Session(bind=engine) as session:
        tasks = [t for t in storage.select_tasks(session, older_than_days=None, company_key=None,
                                                 project_key=None, lock=False) if t.key == key]
        planned = storage.plan(session, tasks, lock=False)
        total, mine, points = session.execute(text(
            "SELECT pg_total_relation_size('scalar_blocks'), sum(n) FILTER (WHERE task_key = :k), sum(n) "
            "FROM scalar_blocks"), {"k": key}).one()
    # (the share as a ratio: an integer division made it 0 beside other tasks' blocks)
    assert planned.whole_chunks == [] and planned.row_bytes > 0
    assert abs(planned.row_bytes - total * mine / points) <= 1


@pytest.mark.parametrize("aged_first", [False, True])
def test_a_page_read_while_a_compaction_commits_holds_every_point_once(api, database_url, task_id,
                                                                       monkeypatch, aged_first):
    """get_scalar_metric_data reads a series' forms, its blocks and its rows in one snapshot: a
    compaction that commits between those reads (made to here) neither hides its points nor shows
    them twice."""
    from events_service.db.queries import scalars

    api.add_batch([scalar(task_id, i, value=i / 4, timestamp=T0 + i) for i in range(2500)])
    if aged_first:  # 2 blocks, 500 rows: the rest is compacted between the read of the blocks and the rows'
        run_cli(database_url, "--task", task_id, "--age", "100")
    hooked = "_fetch_binary" if aged_first else "_series_forms"
    read, printed = getattr(scalars, hooked), []

    def then_compact(*args):
        found = read(*args)
        if not printed:
            printed.append(run_cli(database_url, "--task", task_id, "--whole"))
        return found
    monkeypatch.setattr(scalars, hooked, then_compact)
    events = api.call("events.get_scalar_metric_data", task=task_id, metric="loss", batch_size=3000)["events"]
    assert f"compacted {500 if aged_first else 2500:,} points" in printed[0]
    assert [e["iter"] for e in events] == list(range(2499, -1, -1))
    monkeypatch.undo()
    assert api.call("events.get_scalar_metric_data", task=task_id, metric="loss",
                    batch_size=3000)["events"] == events
