"""Compaction of log lines (db/queries/log_blocks.py, events_service/compaction.py): every log read
answers byte for byte as before; an exact repeat of a compacted line is still dropped and a new line
for a compacted task is kept; a compaction killed midway and re-run, and ingestion while a task's log
is compacted, lose and double nothing."""
from __future__ import annotations

import io
import json
import time

from sqlalchemy.orm import Session

from events_service import cli, compaction
from events_service.db.queries import log_blocks
from tests.helpers import kill_compact_while_waiting, log, repeated_in_background, scalar
from tests import test_compaction
from tests.test_compaction import _body, _scroll, run_cli, task_key

keys, engine = test_compaction.keys, test_compaction.engine  # the same fixtures

T0 = 2_600_100_000_000  # a week no other test writes to
LOG_QUERIES = ("text {asctime} {level} {worker} {msg}", "text {msg:>5}|{timestamp}", "json")


def populate(api, task: str) -> None:
    """2,600 lines in two batches (two workers, two ingestion times) whose times interleave, three
    lines a time (ties across block boundaries), levels, iterations, extra fields, a second log
    series, non-ASCII and control characters; and a few scalars (get_task_events of every type)."""
    first = [log(task, f"line {i} caf\u00e9 \"q\"\t{'warn' if i % 7 == 0 else 'ok'}",
                 timestamp=T0 + (i // 3) * 7, level="warning" if i % 7 == 0 else "info",
                 **({"iter": i} if i % 10 == 0 else {}),
                 **({"custom": i} if i % 50 == 0 else {}))
             for i in range(1500)]
    first += [dict(log(task, f"other {i}", timestamp=T0 + 13 * i), metric="m", variant="v")
              for i in range(20)]
    api.add_batch(first, headers={"X-ClearML-Worker": "w1"})
    time.sleep(0.01)  # another ingestion time
    second = [log(task, f"later {j} \u2603\n", timestamp=T0 + 5 + (j // 2) * 9, level="error" if j % 11 == 0
                  else "info") for j in range(1080)]
    second += [scalar(task, i, value=i / 2, timestamp=T0 + 100 * i) for i in range(30)]
    api.add_batch(second, headers={"X-ClearML-Worker": "w2"})


def _download(api, task: str, query: str) -> bytes:
    kind, _, line_format = query.partition(" ")
    body = {"task": task, "line_type": kind, **({"line_format": line_format} if line_format else {})}
    response = api.raw("events.download_task_log", "2.1", **body)
    assert response.status_code == 200, response.data[:300]
    return response.data


def _navigate(api, task: str, earlier: bool, start: int | None) -> list[bytes]:
    """get_task_log 2.9 navigated by time to the end, as the SDK does."""
    pages = []
    for _ in range(50):
        body = {"task": task, "batch_size": 400, "navigate_earlier": earlier}
        if start is not None:
            body["from_timestamp"] = start
        response = api.raw("events.get_task_log", "2.9", **body)
        pages.append(_body(response))
        events = response.get_json()["data"]["events"]
        if not events:
            return pages
        start = events[-1]["timestamp"]
    raise AssertionError("navigation did not end")


def answers(api, app, task: str) -> dict[str, object]:
    """Every log read of the task: the API's (scrolled or navigated to the end), downloads, the
    viewer's console pages, search and download."""
    out: dict[str, object] = {}
    for start in ("head", "tail"):
        for order in ("asc", "desc"):
            body = {"task": task, "batch_size": 700, "from": start, "order": order}
            out[f"log {start} {order}"] = _scroll(api, "events.get_task_log", body)
    for order in ("asc", "desc"):
        out[f"log 1.5 {order}"] = [_body(api.raw("events.get_task_log", "1.5", task=task, order=order,
                                                 batch_size=600))]
        body = {"task": task, "batch_size": 650, "order": order, "event_type": "log"}
        out[f"events log {order}"] = _scroll(api, "events.get_task_events", body)
        out[f"events {order}"] = _scroll(api, "events.get_task_events",
                                         {"task": task, "batch_size": 900, "order": order})
    out["2.9 earlier"] = _navigate(api, task, True, None)
    out["2.9 later"] = _navigate(api, task, False, T0 - 1)
    out["2.9 middle"] = _navigate(api, task, True, T0 + 3000)
    for query in LOG_QUERIES:
        out[f"download {query}"] = _download(api, task, query)
    viewer = app.test_client()
    viewer.post("/ui/signin", data={"access_key": app.config["TEST_KEYS"][0],
                                    "secret_key": app.config["TEST_KEYS"][1], "next": "/"})
    for path in (f"/ui/data/log?task={task}", f"/ui/data/log?task={task}&before={T0 + 2000}",
                 f"/ui/data/log?task={task}&after={T0 + 2000}", f"/ui/data/log?task={task}&q=WARN",
                 f"/ui/data/log?task={task}&q=caf%C3%A9&before={T0 + 3000}&before_id=9223372036854775807",
                 f"/ui/data/log/download?task={task}"):
        response = viewer.get(path)
        assert response.status_code == 200, (path, response.data[:300])
        out[path] = response.data
    return out


def forms(db, task: str) -> tuple[int, int]:
    """(lines in blocks, lines as rows) of the task's log."""
    key = task_key(db, task)
    blocks = db.execute("SELECT coalesce(sum(n), 0) FROM log_blocks WHERE task_key = %s",
                        (key,)).fetchone()[0]
    rows = db.execute("SELECT count(*) FROM log_events WHERE task_key = %s", (key,)).fetchone()[0]
    return blocks, rows


def overlapping_blocks(db, task: str) -> int:
    """Pairs of the task's blocks whose (ts, id) ranges overlap (there must be none)."""
    return db.execute(
        "SELECT count(*) FROM log_blocks a JOIN log_blocks b ON a.task_key = b.task_key "
        "AND (a.min_ts, a.first_id) < (b.min_ts, b.first_id) "
        "AND (a.max_ts, a.last_id) >= (b.min_ts, b.first_id) "
        "WHERE a.task_key = %s", (task_key(db, task),)).fetchone()[0]


def log_lines(api, task: str) -> list[tuple]:
    events = [e for page in _scroll(api, "events.get_task_events", {"task": task, "batch_size": 5000,
                                                                    "event_type": "log"})
              for e in json.loads(page)["data"]["events"]]
    return sorted((e["timestamp"], e["msg"], e["worker"], e["level"]) for e in events)


def test_every_log_read_answers_the_same_after_compaction(api, app, keys, db, database_url, task_id):
    populate(api, task_id)
    before = answers(api, app, task_id)
    assert forms(db, task_id) == (0, 2600)
    printed = run_cli(database_url, "--task", task_id)
    assert "compacted 2,600 log lines of 1 tasks" in printed, printed
    assert forms(db, task_id) == (2600, 0)
    blocks = db.execute("SELECT n, one_worker, one_level, one_series, iters IS NULL, extras IS NULL "
                        "FROM log_blocks WHERE task_key = %s ORDER BY min_ts, first_id",
                        (task_key(db, task_id),)).fetchall()
    assert [b[0] for b in blocks] == [1000, 1000, 600]
    assert all(b[1] is None and b[2] is None and b[4] is False and b[5] is False for b in blocks)  # varying
    assert overlapping_blocks(db, task_id) == 0
    after = answers(api, app, task_id)
    assert after.keys() == before.keys()
    for name in before:
        assert after[name] == before[name], name
    assert "compacted 0 log lines" in run_cli(database_url, "--task", task_id)  # nothing left to do
    out = io.StringIO()
    assert cli.main(["--database-url", database_url, "storage"], out=out) == 0
    assert task_id in out.getvalue()  # `events-service storage` counts both forms
    out = io.StringIO()
    assert cli.main(["--database-url", database_url, "retention", "--older-than", "0"], out=out) == 0
    assert f"task {task_id}: 2,630 events" in out.getvalue() and "dry run" in out.getvalue()
    assert forms(db, task_id) == (2600, 0)  # a dry run deletes nothing
    assert api.call("events.delete_for_task", task=task_id)["deleted_count"] == 2600 + 30  # both forms
    assert forms(db, task_id) == (0, 0)


def test_ended_task_log_compacted_by_the_pass_then_repeats_dropped_and_new_lines_kept(api, app, keys, db,
                                                                                      engine):
    created = api.call("tasks.create", name="log ends", type="training")["id"]
    lines = [log(created, f"line {i}", timestamp=T0 + 10 * i) for i in range(1500)]
    api.add_batch(lines)
    with Session(bind=engine) as session:
        assert task_key(db, created) not in log_blocks.pending(session)  # a running task is not compacted
    api.call("tasks.started", task=created)
    api.call("tasks.completed", task=created, force=True)
    summary = compaction.run_pass(engine)
    assert forms(db, created) == (1500, 0)
    assert summary.logs.events >= 1500 and summary.logs.done >= 1  # the lines apart from the scalars
    expected = log_lines(api, created)
    # an exact repeat of a compacted line is dropped; new lines (one amid the blocks, one after) are kept
    added = [log(created, "amid", timestamp=T0 + 10 * 700 + 5),
             log(created, "after", timestamp=T0 + 10 ** 6)]
    api.add_batch([lines[1234], *added])
    assert forms(db, created) == (1500, 2)
    assert api.call("events.get_task_log", task=created)["total"] == 1502
    expected = sorted(expected + [(e["timestamp"], e["msg"], expected[0][2], "info") for e in added])
    assert log_lines(api, created) == expected
    mixed = answers(api, app, created)
    compaction.run_pass(engine)  # the new lines' series were written since: compacted again
    assert forms(db, created) == (1502, 0)
    assert overlapping_blocks(db, created) == 0
    assert db.execute("SELECT array_agg(n ORDER BY min_ts) FROM log_blocks WHERE task_key = %s",
                      (task_key(db, created),)).fetchone()[0] == [1000, 502]  # the partial block refilled
    assert answers(api, app, created) == mixed


def test_killed_log_compaction_loses_and_doubles_nothing(api, app, keys, db, database_url):
    tasks = [api.call("tasks.create", name=f"killed {n}", type="training")["id"] for n in range(3)]
    for task in tasks:
        api.add_batch([log(task, f"{task} line {i}", timestamp=T0 + 10 * i) for i in range(1200)])
    before = {task: answers(api, app, task) for task in tasks}
    series = [db.execute("SELECT s.key FROM series s JOIN tasks t ON t.key = s.task_key WHERE t.id = %s",
                         (task,)).fetchone()[0] for task in tasks]
    task_args = [arg for t in tasks for arg in ("--task", t)]
    kill_compact_while_waiting(db, database_url, series[1], *task_args)  # inside the second task's move
    # compacted in key order: the first task moved whole, the second rolled back, the third not reached
    assert [forms(db, task) for task in tasks] == [(1200, 0), (0, 1200), (0, 1200)]
    assert {task: answers(api, app, task) for task in tasks} == before
    assert "compacted 2,400 log lines of 2 tasks" in run_cli(database_url, *task_args)
    assert [forms(db, task) for task in tasks] == [(1200, 0)] * 3
    assert {task: answers(api, app, task) for task in tasks} == before


def test_ingestion_while_compacting_logs_loses_and_doubles_nothing(api, db, engine, task_id):
    first = [log(task_id, f"line {i}", timestamp=T0 + 10 * i) for i in range(1500)]
    api.add_batch(first)
    expected = {(e["timestamp"], e["msg"]) for e in first}
    key = task_key(db, task_id)

    def compact_once():
        with Session(bind=engine) as session:
            keys = log_blocks.pending(session, task_keys=[key], ended_only=False)
        compaction.compact_logs(engine, keys)
    with repeated_in_background(compact_once):
        for n in range(30):  # new lines at new times and amid the old ones, and exact repeats
            batch = [log(task_id, f"new {n}.{j}", timestamp=T0 + 15000 + 100 * n + j) for j in range(20)]
            batch += [log(task_id, f"amid {n}", timestamp=T0 + 10 * ((97 * n) % 1500) + 3),
                      first[(331 * n + 7) % 1500]]
            api.add_batch(batch)
            expected |= {(e["timestamp"], e["msg"]) for e in batch}
    with Session(bind=engine) as session:
        compaction.compact_logs(engine, log_blocks.pending(session, task_keys=[key], ended_only=False))
    got = [(t, m) for t, m, _, _ in log_lines(api, task_id)]
    assert len(got) == len(expected)  # nothing doubled
    assert set(got) == expected       # nothing lost
    blocks, rows = forms(db, task_id)
    assert (blocks, rows) == (len(expected), 0)
    assert overlapping_blocks(db, task_id) == 0


def test_running_task_old_lines_compacted_by_the_pass_newest_hour_stays_rows(api, app, keys, db, engine):
    created = api.call("tasks.create", name="long run", type="training")["id"]
    api.call("tasks.started", task=created)
    minute = 60 * 1000
    api.add_batch([log(created, f"minute {i}", timestamp=T0 + i * minute) for i in range(150)]  # 2.5 hours
                  + [log(created, f"burst {i}", timestamp=T0 + 30 * minute + i % 7) for i in range(1200)])
    before = answers(api, app, created)
    compaction.run_pass(engine)
    # lines more than an hour older than the newest (minute 149) are blocks: minutes 0-88 and the burst
    old = 89 + 1200
    assert forms(db, created) == (old, 150 + 1200 - old)
    assert answers(api, app, created) == before
    compaction.run_pass(engine)  # nothing more has aged: nothing moves
    assert forms(db, created) == (old, 150 + 1200 - old)
    api.add_batch([log(created, f"later {i}", timestamp=T0 + (150 + i) * minute) for i in range(30)])
    compaction.run_pass(engine)  # half an hour later: 30 more minutes have aged
    assert forms(db, created) == (old + 30, 150 + 1200 + 30 - old - 30)
    assert overlapping_blocks(db, created) == 0
    api.call("tasks.completed", task=created, force=True)
    compaction.run_pass(engine)  # ended: the rest
    assert forms(db, created) == (150 + 1200 + 30, 0)
    with Session(bind=engine) as session:
        assert task_key(db, created) not in log_blocks.pending(session)
    assert len(log_lines(api, created)) == 150 + 1200 + 30


def test_the_runner_counts_the_log_lines_its_passes_compact(api, db, engine):
    created = api.call("tasks.create", name="log metric", type="training")["id"]
    api.add_batch([log(created, f"line {i}", timestamp=T0 + 10 * i) for i in range(30)])
    api.call("tasks.started", task=created)
    api.call("tasks.completed", task=created, force=True)
    before = test_compaction.sample("events_compacted_log_lines_total")
    runner = compaction.PassRunner(engine, 0.05)
    runner.start()
    try:
        deadline = time.monotonic() + 20
        while forms(db, created) != (30, 0) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        runner.stop()
        runner.join(timeout=10)
    assert forms(db, created) == (30, 0)
    assert test_compaction.sample("events_compacted_log_lines_total") - before >= 30
