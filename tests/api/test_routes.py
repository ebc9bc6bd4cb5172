"""Routing, versions, envelope and body parsing, through Flask's test client."""
from __future__ import annotations

import orjson
import pytest

from tests.helpers import scalar


def test_unversioned_path_is_served_by_the_highest_version(api, task_id):
    body = api.raw("events.add_batch", method="get").get_json()  # empty batch, but routed
    assert body["meta"]["endpoint"] == {"name": "events.add_batch", "requested_version": "2.1",
                                        "actual_version": "2.1"}


@pytest.mark.parametrize("requested", ["2.1", "2.7", "2.9", "2.10", "999.0"])
def test_versions_above_the_schema_resolve_to_the_highest_not_above(api, task_id, requested):
    response = api.batch([scalar(task_id, 1)], version=requested)
    meta = response.get_json()["meta"]
    assert response.status_code == 200
    assert meta["endpoint"] == {"name": "events.add_batch", "requested_version": requested,
                                "actual_version": "2.1"}


def test_version_below_the_lowest_is_404(api):
    code, subcode, msg = api.error("events.add", "1.5", task="x", type="log")
    assert (code, subcode) == (404, 0)
    assert msg == "Unable to find endpoint for name events.add and version 1.5"


def test_requested_versions_below_2_1_are_reported_as_numbers(api):
    body = api.raw("events.add", "1.5").get_json()
    assert body["meta"]["endpoint"]["requested_version"] == 1.5


def test_unknown_endpoint_is_404(api):
    code, subcode, msg = api.error("events.no_such_thing", "2.1")
    assert (code, subcode) == (404, 0)
    assert "events.no_such_thing" in msg


@pytest.mark.parametrize("path", ["/nonsense", "/v2.1/", "/v2/events.add", "/events.",
                                  "/v2.1/events.add/extra"])
def test_invalid_path_is_400_0(client, path):
    response = client.post(path, json={})
    body = response.get_json()
    assert response.status_code == 400
    assert (body["meta"]["result_code"], body["meta"]["result_subcode"]) == (400, 0)
    assert body["meta"]["result_msg"].startswith("Invalid request path")


def test_unparsable_version_is_400_2(client):
    body = client.post("/v21/events.add", json={}).get_json()
    assert (body["meta"]["result_code"], body["meta"]["result_subcode"]) == (400, 2)
    assert "version=21" in body["meta"]["result_msg"]


def test_trailing_slash_and_no_leading_version_are_accepted(api, task_id):
    api.add_batch([scalar(task_id, 1)])
    response = api.client.post("/v2.1/events.get_task_events/", json={"task": task_id})
    assert api.check_ok(response)["total"] == 1


def test_options_answers_200_with_an_empty_body(client):
    response = client.options("/v2.9/events.add_batch")
    assert response.status_code == 200
    assert response.data == b""


@pytest.mark.parametrize("method", ["GET", "POST", "PUT"])
def test_every_method_reads_the_body(api, task_id, method):
    api.add_batch([scalar(task_id, 1)])
    response = api.client.open("/v2.1/events.get_task_events", method=method, json={"task": task_id})
    assert api.check_ok(response)["returned"] == 1


def test_query_string_fields_when_there_is_no_body(api, task_id):
    api.add_batch([scalar(task_id, 1), scalar(task_id, 2)])
    response = api.client.get(f"/events.get_task_events?task={task_id}&batch_size=1")
    data = api.check_ok(response)
    assert (data["returned"], data["total"]) == (1, 2)


def test_envelope_has_clearml_meta_and_trx_from_header(api, task_id):
    response = api.raw("events.get_task_events", headers={"X-ClearML-Trx": "my-trx"}, task=task_id)
    meta = response.get_json()["meta"]
    assert meta["trx"] == "my-trx"
    assert len(meta["id"]) == 32
    assert set(meta) >= {"id", "trx", "endpoint", "result_code", "result_subcode", "result_msg",
                         "error_stack"}


def test_error_envelope_has_empty_data(api):
    body = api.raw("events.get_task_events", task="no-such-task").get_json()
    assert body["data"] == {}
    assert (body["meta"]["result_code"], body["meta"]["result_subcode"]) == (400, 101)


def test_malformed_json_body_is_400_0(client):
    response = client.post("/events.get_task_events", data=b"{not json", content_type="application/json")
    meta = response.get_json()["meta"]
    assert response.status_code == 400
    assert (meta["result_code"], meta["result_subcode"]) == (400, 0)


def test_json_array_body_is_400_not_500(client):
    response = client.post("/events.get_task_events", data=b"[1, 2]", content_type="application/json")
    meta = response.get_json()["meta"]
    assert (response.status_code, meta["result_subcode"]) == (400, 0)
    assert "JSON object" in meta["result_msg"]


def test_json_lines_with_a_malformed_line_names_the_item(api, task_id):
    payload = orjson.dumps(scalar(task_id, 1)) + b"\n{broken\n" + orjson.dumps(scalar(task_id, 2))
    response = api.client.post("/events.add_batch", data=payload, content_type="application/json-lines")
    code, subcode, msg = api.check_error(response)
    assert (code, subcode) == (400, 0)
    assert msg.endswith("in batch item #1")
    assert api.error("events.get_task_events", task=task_id)[:2] == (400, 101)  # nothing stored, no task


def test_json_lines_with_an_empty_line_inside_is_400(api, task_id):
    payload = orjson.dumps(scalar(task_id, 1)) + b"\n\n" + orjson.dumps(scalar(task_id, 2))
    response = api.client.post("/events.add_batch", data=payload, content_type="application/json-lines")
    code, subcode, msg = api.check_error(response)
    assert (code, subcode) == (400, 0)
    assert "batch item #1" in msg


def test_json_lines_that_are_not_objects_are_400(api):
    response = api.client.post("/events.add_batch", data=b"[1]\n", content_type="application/json-lines")
    code, subcode, msg = api.check_error(response)
    assert (code, subcode, msg) == (400, 0, "json lines must contain objects, found: list")


def test_body_over_the_limit_is_413(app, api, task_id):
    limit = app.config["MAX_BODY_BYTES"]
    payload = b'{"type":"log","task":"x","msg":"' + b"a" * limit + b'"}'
    response = api.client.post("/events.add_batch", data=payload, content_type="application/json-lines")
    code, _, msg = api.check_error(response)
    assert code == 413
    assert "too large" in msg


def test_unsupported_method_is_an_envelope_error(client):
    response = client.delete("/events.add")
    assert response.status_code == 405
    assert response.get_json()["meta"]["result_code"] == 405


def test_a_database_limit_is_400_not_503(app):
    """program_limit_exceeded (SQLSTATE 54xxx, e.g. an index entry too big) is the input's fault:
    400/12, not the 503 of an outage, which the SDK would retry forever."""
    import psycopg
    from sqlalchemy.exc import OperationalError

    from events_service.api import routes

    too_big = OperationalError("INSERT ...", {},
                               psycopg.errors.ProgramLimitExceeded("index row size exceeds maximum"))
    down = OperationalError("SELECT 1", {}, psycopg.OperationalError("connection refused"))
    with app.test_request_context("/tasks.create"):
        limited, unavailable = routes.database_unavailable(too_big), routes.database_unavailable(down)
    assert limited.status_code == 400 and limited.get_json()["meta"]["result_subcode"] == 12
    assert unavailable.status_code == 503 and unavailable.headers["Retry-After"] == "5"


def test_an_unexpected_error_shows_its_details_in_the_log_only(app, api, monkeypatch, caplog):
    from events_service.api.registry import HANDLERS
    from events_service.api.versions import Version

    def broken(call, req):
        raise RuntimeError("SELECT secret_hash FROM credentials -- detail for the log only")

    broken.validates_itself = broken.reads_only = False
    monkeypatch.setitem(HANDLERS, ("tasks.ping", Version(2, 1)), broken)
    response = api.raw("tasks.ping", task="x")
    body = response.get_json()
    assert (response.status_code, body["meta"]["result_msg"]) == (500, "Internal server error (RuntimeError)")
    assert "secret_hash" not in response.get_data(as_text=True)
    assert "detail for the log only" in caplog.text
    monkeypatch.setitem(app.config, "RETURN_STACK", True)  # debugging: the caller sees it all
    body = api.raw("tasks.ping", task="x").get_json()
    assert ("detail for the log only" in body["meta"]["result_msg"]
            and "RuntimeError" in body["meta"]["error_stack"])


@pytest.fixture
def statements(app):
    """(first words of the SQL, whether the connection was in autocommit) of every statement the app runs."""
    from sqlalchemy import event

    from events_service.db import session as db_session

    seen: list[tuple[str, bool]] = []

    def record(conn, _cursor, statement, *_args):
        seen.append((statement.split(None, 1)[0].upper(), conn.connection.dbapi_connection.autocommit))

    with app.app_context():
        engine = db_session.engine()
    event.listen(engine, "before_cursor_execute", record)
    yield seen
    event.remove(engine, "before_cursor_execute", record)


def test_reading_endpoints_run_without_a_transaction_and_writes_keep_theirs(api, task_id, statements):
    for _ in range(8):  # more calls than the pool has connections: each one serves reads and writes
        api.add_batch([scalar(task_id, 1)])
        writes = len(statements)
        api.call("events.get_task_latest_scalar_values", task=task_id)
        api.call("events.get_scalar_metric_data", task=task_id, metric="loss")
        reads = statements[writes:]
        assert reads and all(autocommit for _, autocommit in reads), reads
        assert statements[:writes] and not any(autocommit for _, autocommit in statements[:writes])
        del statements[:]
