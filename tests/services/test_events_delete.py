"""events.delete_for_task 2.1: every event type of the task goes, nothing else; series go too."""
from __future__ import annotations

import pytest

from tests.helpers import log, scalar


def every_type(task_id, n=3):
    events = []
    for i in range(n):
        events += [scalar(task_id, i, value=float(i)),
                   {"type": "training_stats_vector", "task": task_id, "iter": i, "metric": "vec",
                    "variant": "v", "values": [1.0, 2.0]},
                   {"type": "training_debug_image", "task": task_id, "iter": i, "metric": "img",
                    "variant": "v", "url": f"u{i}", "key": "k"},
                   {"type": "plot", "task": task_id, "iter": i, "metric": "plt", "variant": "v",
                    "plot_str": "{}"},
                   log(task_id, f"line {i}", timestamp=1000 + i)]
    return events


def stored(db, task_id):
    counts = {}
    for table in ("scalar_events", "vector_events", "image_events", "plot_events", "log_events"):
        counts[table] = db.execute(f"SELECT count(*) FROM {table} e JOIN tasks t ON t.key = e.task_key "
                                   "WHERE t.id = %s", (task_id,)).fetchone()[0]
    counts["series"] = db.execute("SELECT count(*) FROM series s JOIN tasks t ON t.key = s.task_key "
                                  "WHERE t.id = %s", (task_id,)).fetchone()[0]
    return counts


def test_deletes_every_type_of_this_task_only(api, db, task_id):
    other = task_id[::-1]
    api.add_batch(every_type(task_id) + every_type(other))
    before_other = stored(db, other)
    data = api.call("events.delete_for_task", task=task_id)
    assert data == {"deleted": True, "deleted_count": 15}
    assert stored(db, task_id) == dict.fromkeys(stored(db, task_id), 0)
    assert stored(db, other) == before_other
    assert api.call("events.get_task_events", task=task_id)["total"] == 0
    assert api.call("events.get_task_log", "1.7", task=task_id)["total"] == 0
    assert api.call("events.get_task_events", task=other)["total"] == 15


def test_task_row_and_last_iteration_stay(api, db, task_id):
    api.add_batch([scalar(task_id, 42)])
    api.call("events.delete_for_task", task=task_id)
    assert db.execute("SELECT last_iteration FROM tasks WHERE id = %s", (task_id,)).fetchone() == (42,)


def test_nothing_to_delete(api, db, task_id):
    api.add_batch([scalar(task_id, 1)])
    api.call("events.delete_for_task", task=task_id)
    assert api.call("events.delete_for_task", task=task_id) == {"deleted": False, "deleted_count": 0}


def test_events_after_delete_start_fresh_statistics(api, db, task_id):
    api.add_batch([scalar(task_id, i, value=100.0 + i) for i in range(5)] + [log(task_id, "a", timestamp=5)])
    api.call("events.delete_for_task", task=task_id)
    api.add_batch([scalar(task_id, 7, value=1.5), log(task_id, "b", timestamp=6)])
    row = db.execute("SELECT s.event_count, s.min_value, s.max_value, s.last_value FROM series s "
                     "JOIN tasks t ON t.key = s.task_key "
                     "WHERE t.id = %s AND s.event_type = 'training_stats_scalar'",
                     (task_id,)).fetchone()
    assert row == (1, 1.5, 1.5, 1.5)
    assert api.call("events.get_task_log", "1.7", task=task_id)["total"] == 1
    # a re-reported iteration after the delete is a new event, not a replacement of a deleted one
    assert api.call("events.get_task_events", task=task_id)["total"] == 2


@pytest.mark.parametrize("status", ["publishing", "published"])
def test_locked_task_needs_allow_locked(api, db, task_id, status):
    api.add_batch([scalar(task_id, 1)])
    db.execute("UPDATE tasks SET status = %s WHERE id = %s", (status, task_id))
    code, subcode, msg = api.error("events.delete_for_task", task=task_id)
    assert (code, subcode) == (400, 101) and task_id in msg
    assert api.call("events.get_task_events", task=task_id)["total"] == 1
    assert api.call("events.delete_for_task", task=task_id, allow_locked=True) == {"deleted": True,
                                                                                   "deleted_count": 1}


def test_other_company_task_is_400_101(api, db, task_id):
    db.execute("INSERT INTO companies (id) VALUES (%s) ON CONFLICT DO NOTHING", ("other-company",))
    db.execute("INSERT INTO tasks (company_key, id) SELECT key, %s FROM companies WHERE id = 'other-company'",
               (task_id,))
    assert api.error("events.delete_for_task", task=task_id)[:2] == (400, 101)


def test_bad_input(api, task_id):
    assert api.error("events.delete_for_task")[:2] == (400, 11)
    assert api.error("events.delete_for_task", task="no-such-task")[:2] == (400, 101)
    api.add_batch([scalar(task_id, 1)])
    code, subcode, msg = api.error("events.delete_for_task", task=task_id, allow_locked="yes")
    assert (code, subcode) == (400, 12) and "allow_locked" in msg
