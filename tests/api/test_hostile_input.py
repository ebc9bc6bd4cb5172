"""Hostile input, second round: each class answered once, in the validation layer, for every field
of every endpoint version the schema defines (the sweeps derive the fields from the schema, as
tests/api/test_bounds.py does), plus the events' own per-event rules.

- integral floats where the schema says integer are the integer they equal (samples=10.0 was a
  TypeError, a 500), fractional ones are 400/12;
- numbers no value holds (1e400, integers of thousands of digits) are 400/12 naming the field, or
  one per-event error in a batch; integers beyond 64 bits in fields a client added keep their
  exact value; an iteration outside 64 bits is refused, never rounded into range;
- query-string values are typed by the schema like a JSON body (batch_size=² was a 500,
  batch_size=١٢ read as 12, task=123 refused as a number);
- null for an optional field is the field absent; for a required one, 400 naming it;
- a chunked body is not read past the size limit.
"""
from __future__ import annotations

import http.client
import json
import threading
import time
import uuid
from typing import Any
from urllib.parse import urlsplit

import pytest

from events_service.api import body
from events_service.api.body import deref, properties_of
from events_service.api.schema import INT64_MAX, INT64_MIN
from tests.api.test_bounds import API, FIELDS, requests_by_endpoint
from tests.fuzzing import with_literal
from tests.helpers import basic_auth, log, scalar


def answer(response) -> tuple[Any, ...]:
    """What a response says, without what differs from call to call (ids, scroll tokens' expiry)."""
    body = response.get_json()
    meta = body["meta"]
    data = body["data"]
    if isinstance(data, dict):
        data = {k: v for k, v in data.items() if k not in ("scroll_id", "id")}
    return response.status_code, meta["result_subcode"], meta["result_msg"], json.dumps(data, sort_keys=True)


# --- integral floats --------------------------------------------------------------------------

@pytest.mark.parametrize("name,version,base,path", FIELDS)
def test_integral_float_is_the_integer_it_equals(client, name, version, base, path):
    value = max(2, _resolve_minimum(name, version, path))
    as_int = client.post(f"/v{version}/{name}", data=with_literal(base, path, str(value)),
                         content_type="application/json")
    as_float = client.post(f"/v{version}/{name}", data=with_literal(base, path, f"{value}.0"),
                           content_type="application/json")
    assert as_float.status_code < 500 and answer(as_float) == answer(as_int)
    fractional = client.post(f"/v{version}/{name}", data=with_literal(base, path, f"{value}.5"),
                             content_type="application/json")
    meta = fractional.get_json()["meta"]
    assert (fractional.status_code, meta["result_subcode"]) == (400, 12), meta["result_msg"]
    assert f"field '{'.'.join(map(str, path))}'" in meta["result_msg"]


def _resolve_minimum(name: str, version: str, path: tuple[Any, ...]) -> int:
    definitions = API.definitions[name.split(".")[0]]
    node: dict[str, Any] = deref(API.endpoints[name][_version(name, version)].request, definitions)
    for step in path:
        child = node["items"] if isinstance(step, int) else properties_of(node, definitions)[step]
        node = deref(child, definitions)
    return int(node.get("minimum", 0))


def _version(name: str, version: str):
    return next(v for v in API.endpoints[name] if str(v) == version)


def test_histogram_samples_as_integral_float_on_a_long_series(api, task_id):
    """The issue's example: samples 10.0 on 3,000 points was a TypeError (a 500)."""
    api.add_batch([scalar(task_id, i, value=float(i)) for i in range(3000)])
    as_int = api.call("events.scalar_metrics_iter_histogram", task=task_id, samples=10)
    assert api.call("events.scalar_metrics_iter_histogram", task=task_id, samples=10.0) == as_int
    assert len(as_int["loss"]["total"]["x"]) <= 10


# --- numbers no value holds -------------------------------------------------------------------

@pytest.mark.parametrize("literal", ["1e400", "-1e400", "9" * 5000, "1" + "0" * 400])
def test_number_beyond_any_value_in_a_body_is_400_12_naming_the_field(client, literal):
    response = client.post("/v2.9/events.get_task_log", data='{"task": "t", "from_timestamp": %s}' % literal,
                           content_type="application/json")
    meta = response.get_json()["meta"]
    assert (response.status_code, meta["result_subcode"]) == (400, 12), meta["result_msg"]
    assert "field 'from_timestamp'" in meta["result_msg"] and "out of range" in meta["result_msg"]
    assert len(meta["result_msg"]) < 300  # the message does not repeat thousands of digits


def test_numbers_beyond_range_are_refused_per_event_and_exact_integers_kept(api, client, task_id):
    good = json.dumps(log(task_id, "kept", timestamp=1000))
    lines = [
        good,
        '{"type": "training_stats_scalar", "task": "%s", "iter": 1, "value": 1%s}' % (task_id, "0" * 400),
        '{"type": "training_stats_scalar", "task": "%s", "iter": -9223372036854775809, "value": 1}' % task_id,
        '{"type": "training_stats_scalar", "task": "%s", "iter": 18446744073709551616, "value": 1}' % task_id,
        '{"type": "log", "task": "%s", "msg": "a", "huge": 1e400}' % task_id,
        '{"type": "log", "task": "%s", "msg": "b", "long": %s}' % (task_id, "7" * 5000),
        '{"type": "log", "task": "%s", "msg": "c", "timestamp": 2000, '
        '"big": %d, "neg": %d, "deep": [{"x": %d}]}'
        % (task_id, 2**70, -(2**80), 2**64),
        '{"type": "training_stats_scalar", "task": "%s", "iter": %d, "value": 2}' % (task_id, INT64_MIN),
        '{"type": "training_stats_scalar", "task": "%s", "iter": %d, "value": 3}' % (task_id, INT64_MAX),
    ]
    response = client.post("/events.add_batch", data="\n".join(lines), content_type="application/json-lines")
    data = api.check_ok(response)
    assert data["added"] == 4 and data["errors"] == 5
    reasons = " | ".join(data["errors_info"])
    for field in ("'value'", "'iter'", "'huge'", "'long'"):
        assert f"field {field}" in reasons, reasons
    assert sum(n for reason, n in data["errors_info"].items() if "field 'iter'" in reason) == 2
    events = api.call("events.get_task_events", task=task_id, batch_size=100)["events"]
    logs = {e["msg"]: e for e in events if e["type"] == "log"}
    assert set(logs) == {"kept", "c"}
    assert (logs["c"]["big"], logs["c"]["neg"], logs["c"]["deep"]) == (2**70, -(2**80), [{"x": 2**64}])
    assert sorted(e["iter"] for e in events if e["type"] == "training_stats_scalar") == [INT64_MIN, INT64_MAX]
    code, subcode, msg = api.check_error(client.post(
        "/events.add",
        data='{"type": "training_stats_scalar", "task": "%s", "value": 1%s}' % (task_id, "0" * 400),
        content_type="application/json"))
    assert (code, subcode) == (400, 12) and "field 'value'" in msg


def test_extra_integers_beyond_64_bits_download_exactly(client, api, task_id):
    line = '{"type": "log", "task": "%s", "msg": "m", "timestamp": 1000, "big": %d}' % (task_id, 2**70)
    api.check_ok(client.post("/events.add_batch", data=line, content_type="application/json-lines"))
    text = client.post("/events.download_task_log", json={"task": task_id}).get_data(as_text=True)
    assert json.loads(text)["big"] == 2**70 and str(2**70) in text


# --- query strings ----------------------------------------------------------------------------

def _scalar_base(base: dict[str, Any]) -> bool:
    return all(isinstance(v, (str, int, bool)) for v in base.values())


QUERY_FIELDS = [p for p in FIELDS if len(p.values[3]) == 1 and _scalar_base(p.values[2])]


def test_the_query_sweep_covers_batch_size():
    assert ("events.get_task_events", "2.1", ("batch_size",)) in {
        (p.values[0], p.values[1], p.values[3]) for p in QUERY_FIELDS}


@pytest.mark.parametrize("name,version,base,path", QUERY_FIELDS)
def test_query_string_integers_are_typed_like_a_json_body(client, name, version, base, path):
    query = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in base.items()}
    for bad in ("²", "١٢", "１２", " 2", "2 ", "+2", "0x10", "2.5", "1e400", "9" * 30, ""):
        response = client.get(f"/v{version}/{name}", query_string={**query, path[0]: bad})
        meta = response.get_json()["meta"]
        assert (response.status_code, meta["result_subcode"]) == (400, 12), (bad, meta["result_msg"])
        assert f"field '{path[0]}'" in meta["result_msg"]
    as_json = client.post(f"/v{version}/{name}", json={**base, path[0]: 2})
    for good in ("2", "2.0"):
        assert answer(client.get(f"/v{version}/{name}", query_string={**query, path[0]: good})) == \
            answer(as_json)


def test_query_string_text_field_of_digits_stays_text(api, client):
    task = "1234567"  # a task id of digits: was read as a number, then refused as not a string
    api.add_batch([scalar(task, 1)])
    response = client.get("/events.get_task_events", query_string={"task": task, "batch_size": "5"})
    assert api.check_ok(response)["returned"] == 1
    response = client.get("/events.get_task_latest_scalar_values", query_string={"task": task})
    assert api.check_ok(response)["metrics"][0]["variants"][0]["last_value"] == 1.0


# --- null means absent ------------------------------------------------------------------------

def nullable_cases():
    for name, version, request, base, definitions in requests_by_endpoint():
        for field in properties_of(request, definitions):
            yield pytest.param(name, str(version), base, field, field in request.get("required", []),
                               id=f"{name}-{version}-{field}")


NULLABLE = list(nullable_cases())


def test_the_null_sweep_covers_what_clearml_sends():
    optional = {(p.values[0], p.values[1], p.values[3]) for p in NULLABLE if not p.values[4]}
    assert ("events.get_task_log", "2.9", "from_timestamp") in optional
    assert ("models.edit", "2.1", "comment") in optional  # a field of an allOf member


@pytest.mark.parametrize("name,version,base,field,required", NULLABLE)
def test_null_is_absent_for_optional_fields_and_400_for_required(client, name, version, base, field,
                                                                 required):
    def fresh(body: dict[str, Any]) -> dict[str, Any]:  # creations need a name not taken yet
        return {**body, "name": uuid.uuid4().hex} if "name" in body and field != "name" else body

    response = client.post(f"/v{version}/{name}", json=fresh({**base, field: None}))
    if required:
        meta = response.get_json()["meta"]
        assert response.status_code == 400 and f"'{field}'" in meta["result_msg"], meta["result_msg"]
    else:
        without = {k: v for k, v in base.items() if k != field}
        assert answer(response) == answer(client.post(f"/v{version}/{name}", json=fresh(without)))


def test_get_task_log_as_clearml_api_client_sends_it(api, task_id):
    api.add_batch([log(task_id, f"line {i}", timestamp=1000 + i) for i in range(3)])
    data = api.call("events.get_task_log", "2.9", task=task_id, batch_size=None, from_timestamp=None,
                    navigate_earlier=None, order=None)
    assert [e["msg"] for e in data["events"]] == ["line 2", "line 1", "line 0"]


def test_null_known_event_fields_are_absent_extra_nulls_kept(api, task_id):
    data = api.add_batch([{"type": "log", "task": task_id, "msg": "m", "level": None, "iter": None,
                           "metric": None, "timestamp": None, "mine": None}])
    assert data["added"] == 1
    (event,) = api.call("events.get_task_events", task=task_id)["events"]
    assert "iter" not in event and "level" not in event and event["metric"] == "" and event["mine"] is None
    assert api.call("events.add", type="training_stats_scalar", task=task_id, iter=None, value=None,
                    metric="m", variant="v")["added"] == 1
    assert api.error("events.add", type="log", task=None, msg="x")[0] == 400


# --- chunked bodies ---------------------------------------------------------------------------

def test_chunked_body_is_not_read_past_the_limit(server, credentials):
    """A chunked body has no Content-Length: the whole of it used to be read before its size was
    checked. The client sends up to 1 GiB; the server answers 413 once it has read past the
    32 MiB limit, having taken little more than that."""
    host = urlsplit(server)
    conn = http.client.HTTPConnection(host.hostname, host.port, timeout=60)
    conn.putrequest("POST", "/events.add_batch")
    conn.putheader("Authorization", basic_auth(*credentials))
    conn.putheader("Content-Type", "application/json-lines")
    conn.putheader("Transfer-Encoding", "chunked")
    conn.endheaders()
    sent = [0]
    chunk = b"x" * (1 << 20)

    def send() -> None:
        try:
            for _ in range(1024):
                conn.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sent[0] += len(chunk)
            conn.send(b"0\r\n\r\n")
        except OSError:  # the server answered and closed the connection
            pass

    writer = threading.Thread(target=send, daemon=True)
    started = time.monotonic()
    writer.start()
    response = conn.getresponse()
    body = json.loads(response.read())
    conn.close()
    writer.join(timeout=30)
    assert response.status == 413 and body["meta"]["result_code"] == 413
    assert sent[0] < 256 * (1 << 20), sent[0]  # not the whole gibibyte
    assert time.monotonic() - started < 60


def test_fields_no_schema_branch_types_are_checked_per_event(api, task_id):
    """`iter` of a log event (the log schema has none) was int()-ed: a list was a whole-batch 500;
    a `worker` that is not text was stored as its str()."""
    data = api.add_batch([log(task_id, "kept"), log(task_id, "a", iter=[1]), log(task_id, "b", iter="3"),
                          log(task_id, "c", iter=True), scalar(task_id, 1, worker=[1]),
                          scalar(task_id, 2, worker=5)])
    assert (data["added"], data["errors"]) == (1, 5)
    assert data["errors_info"] == {"Invalid value for field 'iter': expected an integer": 3,
                                   "Invalid value for field 'worker': expected a string": 2}
    assert api.add_batch([log(task_id, "d", iter=4.0)])["added"] == 1  # an integral float is its integer
    data = api.add_batch([log(task_id, "e"), {"type": ["log"], "task": task_id},
                          {"type": {}, "task": task_id}])
    assert (data["added"], data["errors"]) == (1, 2)  # an unhashable type was a TypeError: a 500
    events = api.call("events.get_task_log", task=task_id)["events"]
    assert {e["msg"]: e.get("iter") for e in events} == {"kept": None, "d": 4, "e": None}


def test_body_reads_go_on_after_a_short_read():
    """A WSGI stream may return fewer bytes than asked (werkzeug's LimitedStream reads once per
    call): the body is read until the limit or its end, not cut at the first short read."""
    class Trickle:
        def __init__(self, data: bytes):
            self.data = data

        def read(self, size: int) -> bytes:
            out, self.data = self.data[:min(size, 3)], self.data[min(size, 3):]
            return out

    assert body.read_at_most(Trickle(b"x" * 10), 100) == b"x" * 10
    assert body.read_at_most(Trickle(b"y" * 10), 5) == b"y" * 5
