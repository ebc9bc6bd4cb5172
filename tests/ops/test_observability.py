"""/health, /ready, /metrics and the request metrics, through the Flask test client (one process;
tests/ops/test_gunicorn_metrics.py checks the sums over several gunicorn workers)."""
from __future__ import annotations

import uuid

import pytest
from alembic import command

from events_service import create_app
from events_service.db import session as db_session
from tests.conftest import SECRET, alembic_config, free_port, scratch_database
from tests.helpers import log, scalar
from tests.ops.helpers import samples, value


def metrics(anonymous) -> dict:
    response = anonymous.get("/metrics")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    return samples(response.get_data(as_text=True))


def test_health_and_ready_need_no_credentials(anonymous):
    health = anonymous.get("/health")
    assert (health.status_code, health.get_json()) == (200, {"status": "ok"})
    response = anonymous.get("/ready")
    assert (response.status_code, response.get_json()) == (200, {"status": "ready"})


def test_ready_is_503_when_the_database_does_not_answer():
    app = create_app({"DATABASE_URL": f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/none",
                      "SECRET_KEY": SECRET})
    with app.test_client() as client:
        response = client.get("/ready")
        health = client.get("/health")
    assert response.status_code == 503 and response.headers["Retry-After"] == "5"
    assert response.get_json() == {"status": "unavailable", "reason": "database"}
    assert health.status_code == 200  # the process itself answers


def test_ready_is_503_while_the_schema_is_behind_the_migrations():
    with scratch_database("ready") as url:
        app = create_app({"DATABASE_URL": url, "SECRET_KEY": SECRET})
        client = app.test_client()
        never_migrated = client.get("/ready")  # no alembic_version table yet
        command.upgrade(alembic_config(url), "0003")
        behind = client.get("/ready")
        command.upgrade(alembic_config(url), "head")
        ready = client.get("/ready")
        app.extensions["db_engine"].dispose()
    for response in (never_migrated, behind):
        assert response.status_code == 503
        assert response.get_json() == {"status": "unavailable",
                                       "reason": "schema is not at the migrations' head"}
    assert ready.status_code == 200


def test_requests_are_counted_by_endpoint_and_status(api, anonymous):
    before = metrics(anonymous)
    assert api.error("events.get_task_events", "2.1", task="no-such-task")[0] == 400
    anonymous.post("/v2.1/events.get_task_events", json={})
    anonymous.post(f"/x{uuid.uuid4().hex}.whatever", json={})  # a client-chosen path: 404
    after = metrics(anonymous)
    counted = "events_http_requests_total"
    assert value(after, counted, endpoint="events.get_task_events", status="400") == \
        value(before, counted, endpoint="events.get_task_events", status="400") + 1
    assert value(after, counted, endpoint="events.get_task_events", status="401") == \
        value(before, counted, endpoint="events.get_task_events", status="401") + 1
    assert value(after, counted, endpoint="unmatched", status="404") == \
        value(before, counted, endpoint="unmatched", status="404") + 1
    assert value(after, "events_http_request_duration_seconds_count", endpoint="events.get_task_events",
                 status="400") == value(before, "events_http_request_duration_seconds_count",
                                        endpoint="events.get_task_events", status="400") + 1
    assert not [key for key in after if "whatever" in str(key)]  # no label from the client's path


def test_files_and_pages_are_counted_by_route_not_by_path(anonymous):
    """The files store and the viewer's pages: one label per route template, whatever the path."""
    before = metrics(anonymous)
    names = [uuid.uuid4().hex for _ in range(2)]
    for name in names:
        assert anonymous.get(f"/files/{name}/a.png").status_code == 401
        assert anonymous.get(f"/projects/{name}").status_code == 302  # to the sign-in page
    after = metrics(anonymous)
    counted = "events_http_requests_total"
    for route, status in (("/files/<path:path>", "401"), ("/projects/<project_id>", "302")):
        assert value(after, counted, endpoint=route, status=status) == \
            value(before, counted, endpoint=route, status=status) + 2, route
    assert not [key for key in after if any(name in str(key) for name in names)]


def test_events_ingested_and_refused_per_type(api, anonymous, task_id):
    before = metrics(anonymous)
    api.add_batch([scalar(task_id, 1), scalar(task_id, 2), log(task_id, "hello"),
                   {"type": "log", "task": task_id, "level": "bogus", "msg": 1},  # invalid: refused
                   {"type": "no such type", "task": task_id}])                    # unknown type
    refused = api.batch([scalar("", 3)])  # no task: nothing stored, 400
    assert refused.status_code == 400
    after = metrics(anonymous)

    def delta(name: str, event_type: str) -> float:
        return value(after, name, type=event_type) - value(before, name, type=event_type)

    assert delta("events_ingested_total", "training_stats_scalar") == 2
    assert delta("events_ingested_total", "log") == 1
    assert delta("events_refused_total", "log") == 1
    assert delta("events_refused_total", "unknown") == 1
    assert delta("events_refused_total", "training_stats_scalar") == 1


def test_events_for_a_locked_task_count_as_refused(api, anonymous, task_id):
    api.add_batch([scalar(task_id, 1)])
    api.call("tasks.publish", task=task_id, force=True)
    before = metrics(anonymous)
    api.batch([scalar(task_id, 2), scalar(task_id, 3, allow_locked=True)])
    after = metrics(anonymous)
    assert value(after, "events_refused_total", type="training_stats_scalar") == \
        value(before, "events_refused_total", type="training_stats_scalar") + 1
    assert value(after, "events_ingested_total", type="training_stats_scalar") == \
        value(before, "events_ingested_total", type="training_stats_scalar") + 1


def test_scroll_pages_are_counted(api, anonymous, task_id):
    api.add_batch([scalar(task_id, i) for i in range(5)])
    before = metrics(anonymous)
    page = api.call("events.get_task_events", "2.1", task=task_id, batch_size=2)
    api.call("events.get_task_events", "2.1", task=task_id, batch_size=2, scroll_id=page["scroll_id"])
    after = metrics(anonymous)
    assert value(after, "events_scroll_pages_total", endpoint="events.get_task_events") == \
        value(before, "events_scroll_pages_total", endpoint="events.get_task_events") + 2


@pytest.fixture
def guarded(database_url):
    app = create_app({"DATABASE_URL": database_url, "SECRET_KEY": SECRET, "METRICS_TOKEN": "s3cret-metrics"})
    yield app.test_client()
    if app.extensions.get("db_engine") is not None:
        app.extensions["db_engine"].dispose()


def test_metrics_token_when_configured(guarded):
    assert guarded.get("/metrics").status_code == 401
    assert guarded.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    response = guarded.get("/metrics", headers={"Authorization": "Bearer s3cret-metrics"})
    assert response.status_code == 200 and b"events_http_requests_total" in response.data
    assert guarded.get("/health").status_code == 200  # health and ready stay open


def test_pool_connections_in_use(app, anonymous):
    def in_use() -> float:
        return value(metrics(anonymous), "events_db_pool_connections_in_use", database="primary")

    idle = in_use()
    with app.app_context():
        with db_session.engine().connect(), db_session.engine().connect():
            assert in_use() == idle + 2
    assert in_use() == idle
