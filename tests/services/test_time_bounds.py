"""Every read of a task touches only the chunks of its own time range (db/queries/timerange.py).

Task A's events lie in one week, task B's ten weeks later (other chunks of every hypertable). B's
chunks are then locked ACCESS EXCLUSIVE by another connection: a statement that plans or scans one
of them waits for that lock. Every read endpoint on A (and a re-send into A, and deleting a third
task in A's week) must finish while the lock is held; without time bounds they all wait.
"""
from __future__ import annotations

import threading

import psycopg
import pytest

from tests.conftest import server_dsn
from tests.helpers import ApiHelper, log, scalar
from sqlalchemy.engine import make_url

WEEK_MS = 7 * 24 * 3600 * 1000
T_A = 3_000_000_000_000  # year 2065: weeks no other test writes to
T_B = T_A + 10 * WEEK_MS
TABLES = ("scalar_events", "vector_events", "image_events", "plot_events", "log_events")


def events_at(task, t0, n=5):
    out = []
    for i in range(n):
        ts = t0 + i * 1000
        out += [scalar(task, i, value=float(i), timestamp=ts),
                scalar(task, i, metric="acc", value=float(i) / 2, timestamp=ts),
                {"type": "training_stats_vector", "task": task, "iter": i, "metric": "vec", "variant": "v",
                 "values": [1.0, float(i)], "timestamp": ts},
                {"type": "training_debug_image", "task": task, "iter": i, "metric": "img", "variant": "v",
                 "url": f"https://files/{task}/{i}.png", "key": "k", "timestamp": ts},
                {"type": "plot", "task": task, "iter": i, "metric": "plt", "variant": "v", "plot_str": "{}",
                 "timestamp": ts},
                log(task, f"line {i}", timestamp=ts)]
    return out


def reads(api: ApiHelper, task: str) -> None:
    """Every read endpoint on `task`, each of which must answer with its events."""
    assert api.call("events.get_task_events", task=task, batch_size=100)["returned"] == 30
    assert len(api.call("events.get_task_log", "1.7", task=task)["events"]) == 5
    assert len(api.call("events.get_task_log", "2.9", task=task, batch_size=2)["events"]) == 2
    first = api.call("events.get_task_log", "1.5", task=task, batch_size=2)
    assert len(api.call("events.get_task_log", "1.5", task=task, scroll_id=first["scroll_id"])["events"]) == 2
    response = api.raw("events.download_task_log", "2.1", task=task)
    assert response.status_code == 200 and response.data.count(b"line ") == 5
    assert len(api.call("events.get_task_latest_scalar_values", task=task)["metrics"]) == 2
    for key in ("iter", "timestamp"):
        assert api.call("events.scalar_metrics_iter_histogram", task=task, key=key)["loss"]["total"]["y"]
    assert api.call("events.multi_task_scalar_metrics_iter_histogram", tasks=[task])["metrics"]["loss"]
    data = api.call("events.get_scalar_metric_data", task=task, metric="loss", batch_size=2)
    assert data["returned"] == 2
    assert api.call("events.get_scalar_metric_data", task=task, metric="loss",
                    scroll_id=data["scroll_id"])["returned"] == 2
    vectors = api.call("events.vector_metrics_iter_histogram", task=task, metric="vec", variant="v")
    assert vectors["iterations"]
    assert api.call("events.get_scalar_metrics_and_variants", task=task)["metrics"]
    assert api.call("events.get_task_metrics", "2.7", tasks=[task])["metrics"]
    assert api.call("events.get_task_plots", task=task, iters=2)["returned"] == 2
    assert api.call("events.get_multi_task_plots", tasks=[task], iters=2)["plots"]
    assert api.call("events.debug_images", "2.1", task=task, iters=2)["returned"] == 2
    assert api.call("events.debug_images", "2.7", metrics=[{"task": task, "metric": "img"}],
                    iters=2)["metrics"][0]["iterations"]
    assert api.add_batch([scalar(task, 2, value=9.0, timestamp=T_A + 2000)])["added"] == 1  # a twin replaced


def locked_chunks(conn, t0):
    """Names of the chunks (of every event hypertable) that hold time t0."""
    return [f"{r[0]}.{r[1]}" for r in conn.execute(
        "SELECT chunk_schema, chunk_name FROM timescaledb_information.chunks WHERE hypertable_name = ANY(%s) "
        "AND range_start_integer <= %s AND range_end_integer > %s", (list(TABLES), t0, t0))]


def test_reads_of_a_task_never_touch_other_weeks_chunks(api, database_url, task_id):
    task_b, task_c = task_id + "-b", task_id + "-c"
    api.add_batch(events_at(task_id, T_A) + events_at(task_c, T_A + 500))
    api.add_batch(events_at(task_b, T_B))
    reads(api, task_id)  # warm: every statement prepared, nothing left to create
    dsn = server_dsn(database_url, make_url(database_url).database)
    with psycopg.connect(dsn) as locker:
        chunks = locked_chunks(locker, T_B)
        assert len(chunks) == len(TABLES)
        locker.execute("SET lock_timeout = '5s'")
        for chunk in chunks:
            locker.execute(f"LOCK TABLE {chunk} IN ACCESS EXCLUSIVE MODE")
        failures: list[BaseException] = []

        def run():
            try:
                reads(api, task_id)
                assert api.call("events.delete_for_task", task=task_c)["deleted_count"] == 30
            except BaseException as exc:  # noqa: BLE001 - reported by the main thread
                failures.append(exc)

        worker = threading.Thread(target=run)
        worker.start()
        worker.join(timeout=30)
        finished = not worker.is_alive()
        locker.rollback()  # release B's chunks either way, so a blocked read can end
    worker.join()
    assert finished, "a read of task A waited for a lock on task B's chunks"
    assert not failures, failures


@pytest.mark.parametrize("table", TABLES)
def test_series_range_covers_every_stored_event(api, db, task_id, table):
    """[min_ts, max_ts] never narrower than the stored events, after re-sends that move times."""
    api.add_batch(events_at(task_id, T_A))
    api.add_batch(events_at(task_id, T_A - 5000, n=3))  # earlier times, replacing iterations 0-2
    rows = db.execute(
        f"SELECT s.min_ts, s.max_ts, min(e.ts), max(e.ts) FROM series s JOIN tasks t ON t.key = s.task_key "
        f"JOIN {table} e ON e.series_key = s.key WHERE t.id = %s GROUP BY s.key", (task_id,)).fetchall()
    assert rows
    for min_ts, max_ts, lo, hi in rows:
        assert min_ts <= lo and max_ts >= hi
