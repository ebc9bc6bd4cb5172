"""EVENTS_READ_DATABASE_URL against a real streaming replica of the test cluster (tests/ops/replica.py):
the read-only endpoints are served from it, answer as the primary does once it has caught up, a
scroll started there continues, and when it is down reads fall back to the primary (a log line and
a metric), with a 503 at worst for a request caught in the middle, never a 500."""
from __future__ import annotations

import logging

import pytest

from events_service import create_app
from tests.conftest import SECRET, AuthenticatedClient
from tests.helpers import ApiHelper, log, scalar
from tests.ops.helpers import samples, value
from tests.ops.replica import streaming_replica

READS = [("events.get_task_events", "2.1", {"batch_size": 1000}),
         ("events.scalar_metrics_iter_histogram", "2.1", {}),
         ("events.get_task_latest_scalar_values", "2.1", {}),
         ("events.get_task_log", "2.9", {"batch_size": 100})]


def without_token(data: dict) -> dict:
    """A page without its scroll id (the token carries its own expiry time, to the second)."""
    return {k: v for k, v in data.items() if k != "scroll_id"}


@pytest.fixture(scope="module")
def replica(database_url):
    with streaming_replica(database_url) as replica:
        yield replica


@pytest.fixture(scope="module")
def reading_app(app, database_url, replica):
    """The same service, with READ_DATABASE_URL pointing at the replica."""
    reading = create_app({"DATABASE_URL": database_url, "READ_DATABASE_URL": replica.url,
                          "VALIDATE_RESPONSES": True, "SECRET_KEY": SECRET})
    reading.test_client_class = AuthenticatedClient
    yield reading
    for name in ("db_engine", "db_engine_replica"):
        if reading.extensions.get(name) is not None:
            reading.extensions[name].dispose()


@pytest.fixture
def reader(reading_app, app) -> ApiHelper:
    return ApiHelper(reading_app, reading_app.test_client(authorization=app.config["TEST_AUTHORIZATION"]))


def test_reads_come_from_the_replica_and_equal_the_primary(api, reader, replica, task_id):
    api.add_batch([scalar(task_id, i, variant=v, value=i * 0.5) for i in range(50) for v in ("a", "b")]
                  + [log(task_id, f"line {i}", timestamp=1_700_000_000_000 + i) for i in range(30)])
    replica.catch_up()
    for name, version, extra in READS:
        assert without_token(reader.call(name, version, task=task_id, **extra)) == \
            without_token(api.call(name, version, task=task_id, **extra))

    replica.execute("SELECT pg_wal_replay_pause()")  # what the primary gets now the replica does not show
    try:
        api.add_batch([scalar(task_id, 50, variant="a")])
        assert api.call("events.get_task_events", "2.1", task=task_id)["total"] == 131
        assert reader.call("events.get_task_events", "2.1", task=task_id)["total"] == 130
    finally:
        replica.execute("SELECT pg_wal_replay_resume()")
    replica.catch_up()
    assert reader.call("events.get_task_events", "2.1", task=task_id)["total"] == 131


def test_a_scroll_started_on_the_replica_continues(api, reader, replica, task_id):
    api.add_batch([scalar(task_id, i) for i in range(25)])
    replica.catch_up()
    expected = api.call("events.get_task_events", "2.1", task=task_id, batch_size=100)["events"]
    pages, scroll_id = [], None
    while True:
        page = reader.call("events.get_task_events", "2.1", task=task_id, batch_size=10,
                           **({"scroll_id": scroll_id} if scroll_id else {}))
        if not page["events"]:
            break
        pages.append(page["events"])
        scroll_id = page["scroll_id"]
    assert [len(p) for p in pages] == [10, 10, 5]
    assert [e for p in pages for e in p] == expected
    # and the replica's token is good on the primary (the other way round too: tokens are stateless)
    first = reader.call("events.get_task_events", "2.1", task=task_id, batch_size=10)
    second = api.call("events.get_task_events", "2.1", task=task_id, batch_size=10,
                      scroll_id=first["scroll_id"])
    assert first["events"] + second["events"] == expected[:20]


def test_reads_fall_back_to_the_primary_while_the_replica_is_down(api, reader, replica, task_id, caplog):
    api.add_batch([scalar(task_id, i) for i in range(5)])
    replica.catch_up()
    assert reader.call("events.get_task_events", "2.1", task=task_id)["total"] == 5
    before = samples(reader.client.get("/metrics").get_data(as_text=True))
    replica.stop()
    api.add_batch([scalar(task_id, 5)])  # only the primary has it now
    statuses = []
    with caplog.at_level(logging.WARNING):
        for _ in range(3):
            response = reader.raw("events.get_task_events", "2.1", task=task_id)
            statuses.append(response.status_code)
            if response.status_code == 503:  # the request that met the dead connection
                assert response.headers["Retry-After"]
            else:
                assert reader.check_ok(response)["total"] == 6
    assert 500 not in statuses and statuses[-2:] == [200, 200]
    assert any("read replica unavailable" in r.getMessage() for r in caplog.records)
    after = samples(reader.client.get("/metrics").get_data(as_text=True))
    fallbacks = "events_replica_fallbacks_total"
    assert value(after, fallbacks) >= value(before, fallbacks) + 2
