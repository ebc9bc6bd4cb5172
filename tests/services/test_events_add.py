"""events.add and events.add_batch: normalisation, per-event errors, tasks, de-duplication, statistics."""
from __future__ import annotations

import orjson
import pytest

from tests.helpers import log, scalar


def events_of(api, task_id, **kw):
    return api.call("events.get_task_events", task=task_id, batch_size=10000, **kw)["events"]


def test_batch_stores_every_event_type_and_returns_them(api, task_id):
    batch = [
        scalar(task_id, 3, value=0.25, timestamp=1000),
        {"type": "training_stats_vector", "task": task_id, "iter": 3, "metric": "grad", "variant": "l1",
         "values": [0.5, -1.0, 2.0], "timestamp": 1001},
        {"type": "training_debug_image", "task": task_id, "iter": 3, "metric": "img", "variant": "v",
         "key": "img/v/1.png", "url": "file:///tmp/img/v/1.png", "timestamp": 1002},
        {"type": "plot", "task": task_id, "iter": 3, "metric": "roc", "variant": "",
         "plot_str": '{"data": []}', "timestamp": 1003},
        log(task_id, "hello", timestamp=1004, level="warning"),
    ]
    assert api.add_batch(batch) == {"added": 5, "errors": 0, "errors_info": {}}
    events = events_of(api, task_id)
    assert [e["type"] for e in events] == ["training_stats_scalar", "training_stats_vector",
                                           "training_debug_image", "plot", "log"]
    scalar_event, vector, image, plot, log_event = events
    assert scalar_event["value"] == 0.25 and scalar_event["iter"] == 3 and scalar_event["timestamp"] == 1000
    assert vector["value"] == [0.5, -1.0, 2.0] and "values" not in vector
    assert (image["key"], image["url"]) == ("img/v/1.png", "file:///tmp/img/v/1.png")
    assert plot["plot_str"] == '{"data": []}'
    assert (log_event["msg"], log_event["level"], log_event["metric"], log_event["variant"]) == \
        ("hello", "warning", "", "")
    assert all(e["task"] == task_id and e["@timestamp"].endswith("Z") for e in events)


def test_single_add_stores_one_event(api, task_id):
    assert api.call("events.add", "2.1", **scalar(task_id, 1, value=2.5))["added"] == 1
    assert events_of(api, task_id)[0]["value"] == 2.5


def test_values_are_exact_doubles(api, task_id):
    api.add_batch([scalar(task_id, 1, value=0.1), scalar(task_id, 2, value=1e-300),
                   scalar(task_id, 3, value=-123456789.123456789)])
    assert [e["value"] for e in events_of(api, task_id)] == [0.1, 1e-300, -123456789.123456789]


def test_server_sets_timestamp_worker_metric_and_variant(api, task_id):
    event = {"type": "training_stats_scalar", "task": task_id, "iter": 1, "value": 1}
    api.add_batch([event], headers={"X-ClearML-Worker": "gpu-7"})
    stored = events_of(api, task_id)[0]
    assert isinstance(stored["timestamp"], int) and stored["timestamp"] > 1_700_000_000_000
    assert (stored["worker"], stored["metric"], stored["variant"]) == ("gpu-7", "", "")


def test_trains_worker_header_and_default_worker(api, task_id):
    api.add_batch([scalar(task_id, 1)], headers={"X-Trains-Worker": "old-host"})
    api.add_batch([scalar(task_id, 2)])
    assert [e["worker"] for e in events_of(api, task_id)] == ["old-host", "<unknown>"]


def test_extra_fields_are_kept_but_the_sdk_method_artefact_is_not(api, task_id):
    api.add_batch([scalar(task_id, 1, method="get", my_field={"a": 1})])
    stored = events_of(api, task_id)[0]
    assert stored["my_field"] == {"a": 1}
    assert "method" not in stored


def test_legacy_ts_field_becomes_timestamp(api, task_id):
    api.add_batch([scalar(task_id, 1, ts=12345)])
    assert events_of(api, task_id)[0]["timestamp"] == 12345


def test_event_type_with_spaces_is_normalised(api, task_id):
    api.add_batch([{"type": "training stats scalar", "task": task_id, "iter": 1, "value": 1}])
    assert events_of(api, task_id)[0]["type"] == "training_stats_scalar"


def test_invalid_events_are_skipped_and_counted(api, task_id):
    batch = [
        scalar(task_id, 1),
        {"type": "unknown_type", "task": task_id},
        {"type": "training_debug_image", "task": None},
        {"task": task_id, "msg": "no type"},
        scalar(task_id, "abc"),
        scalar(task_id, 2, value=float("nan")),
    ]
    data = api.add_batch(batch)
    assert data["added"] == 1
    assert data["errors"] == 5
    info = data["errors_info"]
    assert info["Invalid event type unknown_type"] == 1
    assert info["Event must have a 'task' field"] == 1
    assert info["Event must have a 'type' field"] == 1
    assert any("'iter'" in reason for reason in info)
    assert any("NaN" in reason and "value" in reason for reason in info)
    assert len(events_of(api, task_id)) == 1


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity"])
def test_non_finite_values_are_rejected_per_event(api, task_id, literal):
    line = b'{"type":"training_stats_scalar","task":"%s","iter":1,"value":%s}' % (task_id.encode(), literal)
    payload = orjson.dumps(scalar(task_id, 0)) + b"\n" + line
    response = api.client.post("/events.add_batch", data=payload, content_type="application/json-lines")
    data = api.check_ok(response)
    assert (data["added"], data["errors"]) == (1, 1)


def test_batch_with_no_valid_event_is_400_131_and_stores_nothing(api, task_id):
    code, subcode, msg = api.check_error(api.batch([{"type": "bogus", "task": task_id},
                                                    scalar(task_id, "x")]))
    assert (code, subcode) == (400, 131)
    assert msg.startswith("Events not added") and "Invalid event type bogus=1" in msg
    assert api.error("events.get_task_events", task=task_id)[:2] == (400, 101)


def test_empty_batch_is_400_17(api):
    response = api.client.post("/events.add_batch", data=b"", content_type="application/json-lines")
    assert api.check_error(response) == (400, 17, "Batch request contains no items")


def test_batch_sent_as_one_json_object_is_a_batch_of_one(api, task_id):
    response = api.client.post("/events.add_batch", json=scalar(task_id, 1))
    assert api.check_ok(response)["added"] == 1


def test_single_add_errors_name_the_problem(api, task_id):
    assert api.error("events.add", type="log", msg="x")[:2] == (400, 11)
    code, subcode, msg = api.error("events.add", **scalar(task_id, "abc"))
    assert (code, subcode) == (400, 12) and "'iter'" in msg
    code, subcode, msg = api.error("events.add", type="nope", task=task_id)
    assert (code, subcode) == (400, 12) and "nope" in msg
    code, subcode, msg = api.error("events.add", **log(task_id, "x", level="loud"))
    assert (code, subcode) == (400, 12) and "level" in msg


def test_iteration_outside_int64_is_rejected(api, task_id):
    data = api.add_batch([scalar(task_id, 1), scalar(task_id, 2**63)])
    assert data["errors_info"] == {
        "Invalid value for field 'iter': out of range (a 64-bit integer is expected: "
        "-9223372036854775808 to 9223372036854775807)": 1}


def test_first_event_registers_the_task(api, task_id, db):
    api.add_batch([scalar(task_id, 5)])
    row = db.execute("SELECT name, status, last_iteration FROM tasks WHERE id = %s", (task_id,)).fetchone()
    assert row == (task_id, "created", 5)


@pytest.mark.parametrize("status", ["publishing", "published"])
def test_locked_task_refuses_events(api, task_id, db, status):
    api.add_batch([scalar(task_id, 1)])
    db.execute("UPDATE tasks SET status = %s WHERE id = %s", (status, task_id))
    code, subcode, msg = api.check_error(api.batch([scalar(task_id, 2)]))
    assert (code, subcode) == (400, 101) and task_id in msg
    assert api.error("events.add", **scalar(task_id, 3))[:2] == (400, 101)
    assert len(events_of(api, task_id)) == 1
    assert api.add_batch([scalar(task_id, 4, allow_locked=True)])["added"] == 1


def test_locked_task_events_are_counted_beside_stored_ones(api, task_id, db):
    other = task_id[::-1]
    api.add_batch([scalar(task_id, 1)])
    db.execute("UPDATE tasks SET status = 'published' WHERE id = %s", (task_id,))
    data = api.add_batch([scalar(task_id, 2), scalar(other, 1)])
    assert data["added"] == 1
    assert data["errors_info"] == {f"Invalid task id {task_id}": 1}


def test_another_companys_task_is_invalid(api, task_id, db):
    db.execute("INSERT INTO companies (id) VALUES ('other-company') ON CONFLICT DO NOTHING")
    db.execute("INSERT INTO tasks (company_key, id) SELECT key, %s FROM companies WHERE id = 'other-company'",
               (task_id,))
    assert api.check_error(api.batch([scalar(task_id, 1)]))[:2] == (400, 101)
    assert api.error("events.get_task_events", task=task_id)[:2] == (400, 101)


def test_resent_batch_is_not_doubled(api, task_id):
    batch = [scalar(task_id, i, metric=m, value=i * 1.5, timestamp=1000 + i) for i in range(50) for m in "ab"]
    batch += [log(task_id, f"line {i}", timestamp=2000 + i) for i in range(20)]
    api.add_batch(batch)
    api.add_batch(batch)
    api.add_batch(batch[::-1])
    assert api.call("events.get_task_events", task=task_id)["total"] == 120


def test_rereported_iteration_keeps_only_the_latest(api, task_id):
    api.add_batch([scalar(task_id, i, value=i) for i in range(10)])
    api.add_batch([scalar(task_id, 3, value=33.0, timestamp=99),
                   scalar(task_id, 3, value=34.0, timestamp=98)])
    values = {e["iter"]: e["value"] for e in events_of(api, task_id)}
    assert len(values) == 10 and values[3] == 34.0  # the last one sent wins, within and across batches
    assert len(events_of(api, task_id)) == 10


def test_events_without_iteration_are_deduplicated_per_series(api, task_id):
    api.add_batch([scalar(task_id, None, value=1.0), scalar(task_id, None, metric="other", value=2.0)])
    api.add_batch([scalar(task_id, None, value=3.0)])
    stored = events_of(api, task_id)
    assert sorted((e["metric"], e["value"]) for e in stored) == [("loss", 3.0), ("other", 2.0)]
    assert all("iter" not in e for e in stored)


def test_debug_images_with_different_keys_are_distinct(api, task_id):
    image = {"type": "training_debug_image", "task": task_id, "iter": 1, "metric": "m", "variant": "v"}
    api.add_batch([dict(image, key="a", url="u1"), dict(image, key="b", url="u2")])
    api.add_batch([dict(image, key="a", url="u3")])
    assert sorted((e["key"], e["url"]) for e in events_of(api, task_id)) == [("a", "u3"), ("b", "u2")]


def test_logs_that_differ_are_all_kept(api, task_id):
    api.add_batch([log(task_id, "same", timestamp=5), log(task_id, "same", timestamp=5, level="error"),
                   log(task_id, "other", timestamp=5), log(task_id, "same", timestamp=6)])
    api.add_batch([log(task_id, "same", timestamp=5)])
    assert len(events_of(api, task_id)) == 4


def test_task_statistics(api, task_id, db):
    api.add_batch([scalar(task_id, i, value=v) for i, v in [(0, 5.0), (1, -2.0), (2, 7.5), (3, 1.0)]])
    api.add_batch([scalar(task_id, 1000, metric=":monitor:machine", variant="cpu", value=1.0)])
    api.add_batch([scalar(task_id, 2, value=0.0)])  # an older iteration does not become the last value
    row = db.execute(
        "SELECT s.last_iter, s.last_value, s.min_value, s.max_value, s.event_count, t.last_iteration "
        "FROM series s JOIN tasks t ON t.key = s.task_key WHERE t.id = %s AND s.metric = 'loss'",
        (task_id,)).fetchone()
    assert row == (3, 1.0, -2.0, 7.5, 4, 3)


def test_negative_iterations_never_lower_last_iteration(api, task_id, db):
    api.add_batch([scalar(task_id, -5), scalar(task_id, -2147483648, metric="Summary", variant="acc")])
    assert db.execute("SELECT last_iteration FROM tasks WHERE id = %s", (task_id,)).fetchone() == (0,)


def test_limits_are_per_event_errors_naming_the_field(app, api, task_id, monkeypatch):
    monkeypatch.setitem(app.config, "MAX_NAME_LENGTH", 10)
    monkeypatch.setitem(app.config, "MAX_MSG_LENGTH", 5)
    monkeypatch.setitem(app.config, "MAX_PLOT_LENGTH", 3)
    data = api.add_batch([
        scalar(task_id, 1, metric="m" * 11), scalar(task_id, 1, variant="v" * 11), log(task_id, "123456"),
        {"type": "plot", "task": task_id, "iter": 1, "plot_str": "1234"}, scalar(task_id, 1, metric="m" * 10),
    ])
    assert data["added"] == 1
    reasons = data["errors_info"]
    assert set(reasons) == {
        "Invalid value for field 'metric': longer than 10 characters",
        "Invalid value for field 'variant': longer than 10 characters",
        "Invalid value for field 'msg': longer than 5 characters",
        "Invalid value for field 'plot_str': longer than 3 characters",
    }


def test_too_many_events_in_one_batch_is_400_12(app, api, task_id, monkeypatch):
    monkeypatch.setitem(app.config, "MAX_EVENTS_PER_BATCH", 3)
    code, subcode, msg = api.check_error(api.batch([scalar(task_id, i) for i in range(4)]))
    assert (code, subcode) == (400, 12) and "at most 3" in msg
    assert api.add_batch([scalar(task_id, i) for i in range(3)])["added"] == 3


def test_nul_characters_are_refused_naming_the_field(api, task_id):
    data = api.add_batch([scalar(task_id, 1), scalar(task_id, 2, metric="a\x00b"), log(task_id, "x\x00"),
                          scalar(task_id, 3, extra_field={"deep": ["ok", "n\x00"]})])
    assert data["added"] == 1
    reasons = " ".join(data["errors_info"])
    assert "'metric'" in reasons and "'msg'" in reasons and "'extra_field.deep.1'" in reasons
    code, subcode, msg = api.error("events.get_task_events", task="t\x00")
    assert (code, subcode) == (400, 12) and "'task'" in msg


def test_sql_and_html_look_alikes_are_stored_and_returned_literally(api, task_id):
    nasty = ["'; DROP TABLE scalar_events; --", "<script>alert(1)</script>", "\\x00' OR '1'='1",
             "$$; SELECT 1; $$", "tab\there", "line\nbreak", "back\\slash", "\\N"]
    api.add_batch([scalar(task_id, i, metric=text, variant=text, worker=text) for i, text in enumerate(nasty)]
                  + [log(task_id, text, timestamp=i) for i, text in enumerate(nasty)])
    stored = events_of(api, task_id)
    assert sorted(e["msg"] for e in stored if e["type"] == "log") == sorted(nasty)
    scalars = sorted((e["metric"], e["variant"], e["worker"]) for e in stored if e["type"] != "log")
    assert scalars == sorted((t, t, t) for t in nasty)


def test_integers_beyond_64_bits_in_extra_fields_are_stored_as_doubles(api, task_id):
    # orjson parses such integers as doubles: kept as numbers, never a 500 (documented in the README)
    api.add_batch([scalar(task_id, 1, big=2**70, nested={"n": -(2**80)})])
    stored = events_of(api, task_id)[0]
    assert stored["big"] == pytest.approx(2**70, rel=1e-15)
    assert stored["nested"]["n"] == pytest.approx(-(2**80), rel=1e-15)


def test_index_keys_beyond_their_byte_limit_are_400_12_not_503(api, task_id):
    """Regression: a task id, or metric + variant, too big for its unique index entry (2,704 bytes)
    was "index row size exceeds maximum": a 503 the SDK retries forever. Characters are not bytes:
    1,000 CJK characters are 3,000 bytes."""
    wide = "\u4e2d" * 1000
    code, subcode, msg = api.error("events.add", **log(wide, "x"))
    assert (code, subcode) == (400, 12) and "field 'task'" in msg and "2400 bytes" in msg
    code, subcode, msg = api.error("events.add", **scalar(task_id, 1, metric=wide))
    assert (code, subcode) == (400, 12) and "'metric'/'variant'" in msg
    code, subcode, msg = api.error("events.add",
                                   **scalar(task_id, 1, metric="\u4e2d" * 500, variant="\u4e2d" * 500))
    assert (code, subcode) == (400, 12) and "'metric'/'variant'" in msg
    data = api.add_batch([scalar(task_id, 1, metric="m" * 2000, variant="v" * 400),
                          scalar(task_id, 1, metric=wide)])
    assert (data["added"], data["errors"]) == (1, 1)
    assert api.call("events.add", **log("t" * 2400, "x"))["added"] == 1  # at the limit


def test_lone_surrogates_are_400_not_500(api, client, task_id):
    """Regression: "\\ud800" (read by the stdlib fallback parser) reached psycopg: UnicodeEncodeError,
    a 500."""
    for body in ('{"type": "log", "task": "%s", "msg": "\\ud800x"}' % task_id,
                 '{"type": "log", "task": "%s", "msg": "x", "\\udfff": 1}' % task_id):
        response = client.post("/events.add", data=body, content_type="application/json")
        code, subcode, msg = api.check_error(response)
        assert (code, subcode) == (400, 0) and "lone surrogate" in msg
    response = client.post("/events.add_batch",
                           data='{"type": "log", "task": "%s", "msg": "\\ud800"}' % task_id,
                           content_type="application/json-lines")
    code, subcode, msg = api.check_error(response)
    assert (code, subcode) == (400, 0) and "lone surrogate" in msg and "batch item #0" in msg
    paired = '{"type": "log", "task": "%s", "msg": "\\ud83d\\ude00"}' % task_id  # a valid pair: stored
    assert api.check_ok(client.post("/events.add", data=paired,
                                    content_type="application/json"))["added"] == 1
    assert api.call("events.get_task_events", task=task_id)["events"][0]["msg"] == "\U0001F600"
