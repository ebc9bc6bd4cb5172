"""events.get_task_log 1.5/1.7 (order, from, keyset scroll, totals) and events.download_task_log 2.1."""
from __future__ import annotations

import json
import time
import uuid

import pytest

from tests.helpers import ConcurrentWriter, log, scalar

T0 = 1_583_056_800_000  # 2020-03-01 10:00:00.000 UTC


def logs(task_id, n, start=T0, step=1000):
    return [log(task_id, f"line {i}", timestamp=start + i * step, worker=f"w{i % 3}") for i in range(n)]


def msgs(events):
    return [e["msg"] for e in events]


def scroll(api, task_id, version="1.7", **kw):
    pages, scroll_id = [], None
    while True:
        extra = {"scroll_id": scroll_id} if scroll_id else {}
        data = api.call("events.get_task_log", version, task=task_id, **kw, **extra)
        pages.append(data)
        scroll_id = data["scroll_id"]
        if not data["events"] or len(pages) > 1000:
            return pages


# --- get_task_log 1.7 -----------------------------------------------------------------------

def test_defaults_head_desc_first_page_is_oldest_batch_newest_first(api, task_id):
    api.add_batch(logs(task_id, 10))
    data = api.call("events.get_task_log", "1.7", task=task_id, batch_size=4)
    assert msgs(data["events"]) == ["line 3", "line 2", "line 1", "line 0"]
    assert (data["returned"], data["total"]) == (4, 10)


@pytest.mark.parametrize("start,order,expected", [
    ("head", "asc", [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]),
    ("head", "desc", [[3, 2, 1, 0], [7, 6, 5, 4], [9, 8]]),
    ("tail", "desc", [[9, 8, 7, 6], [5, 4, 3, 2], [1, 0]]),
    ("tail", "asc", [[6, 7, 8, 9], [2, 3, 4, 5], [0, 1]]),  # the newest batch first, each ascending
])
def test_from_and_order(api, task_id, start, order, expected):
    api.add_batch(logs(task_id, 10))
    pages = scroll(api, task_id, batch_size=4, order=order, **{"from": start})
    assert [msgs(p["events"]) for p in pages] == [[f"line {i}" for i in page] for page in expected] + [[]]
    assert {p["total"] for p in pages} == {10}
    assert pages[-1]["returned"] == 0


def test_events_are_log_documents(api, task_id):
    api.add_batch([log(task_id, "hello", timestamp=T0 + 123, worker="w1", level="warning", custom=1)])
    [event] = api.call("events.get_task_log", "1.7", task=task_id)["events"]
    assert event["type"] == "log" and event["task"] == task_id
    assert (event["timestamp"], event["msg"], event["level"], event["worker"], event["custom"]) == \
        (T0 + 123, "hello", "warning", "w1", 1)
    assert (event["metric"], event["variant"]) == ("", "")
    assert event["@timestamp"].endswith("Z")


def test_only_log_events_and_only_this_task(api, task_id):
    other = task_id[::-1]
    api.add_batch(logs(task_id, 3) + [scalar(task_id, 1)] + logs(other, 2))
    data = api.call("events.get_task_log", "1.7", task=task_id)
    assert data["total"] == 3 and {e["type"] for e in data["events"]} == {"log"}
    assert {e["task"] for e in data["events"]} == {task_id}


def test_equal_timestamps_use_the_tie_breaker(api, task_id):
    api.add_batch([log(task_id, f"line {i}", timestamp=T0) for i in range(25)])
    pages = scroll(api, task_id, batch_size=4, order="asc")
    assert msgs(e for p in pages for e in p["events"]) == [f"line {i}" for i in range(25)]


def test_total_counts_stored_logs_after_duplicates(api, task_id, db):
    batch = logs(task_id, 20)
    api.add_batch(batch)
    api.add_batch(batch[:10] + logs(task_id, 5, start=T0 + 10**6))  # 10 exact re-sends
    data = api.call("events.get_task_log", "1.7", task=task_id, batch_size=1)
    stored = db.execute("SELECT count(*) FROM log_events l JOIN tasks t ON t.key = l.task_key "
                        "WHERE t.id = %s", (task_id,)).fetchone()[0]
    assert data["total"] == stored == 25


def test_scroll_freezes_query_and_page_size(api, task_id):
    api.add_batch(logs(task_id, 10))
    first = api.call("events.get_task_log", "1.7", task=task_id, batch_size=3, order="asc")
    second = api.call("events.get_task_log", "1.7", task=task_id, scroll_id=first["scroll_id"],
                      batch_size=100, order="desc", **{"from": "tail"})
    assert msgs(second["events"]) == ["line 3", "line 4", "line 5"]


def test_head_scroll_collects_every_log_once_while_lines_arrive(api, task_id):
    api.add_batch(logs(task_id, 100))
    seen, scroll_id, added = [], None, 0
    while True:
        extra = {"scroll_id": scroll_id} if scroll_id else {}
        data = api.call("events.get_task_log", "1.7", task=task_id, batch_size=7, order="asc", **extra)
        if not data["events"]:
            assert data["total"] == 100  # the total of the first page, kept to the end
            break
        seen += msgs(data["events"])
        scroll_id = data["scroll_id"]
        if added < 10:  # new lines at the end of the log, ahead of the cursor
            api.add_batch([log(task_id, f"new {added}", timestamp=T0 + 10**6 + added)])
            added += 1
    assert seen == [f"line {i}" for i in range(100)] + [f"new {i}" for i in range(10)]


def test_tail_scroll_is_not_disturbed_by_new_lines(api, task_id):
    api.add_batch(logs(task_id, 50))
    seen, scroll_id = [], None
    for n in range(100):
        extra = {"scroll_id": scroll_id} if scroll_id else {}
        data = api.call("events.get_task_log", "1.7", task=task_id, batch_size=6, **{"from": "tail"}, **extra)
        if not data["events"]:
            break
        seen += msgs(data["events"])
        scroll_id = data["scroll_id"]
        api.add_batch([log(task_id, f"new {n}", timestamp=T0 + 10**6 + n)])
    assert seen == [f"line {i}" for i in range(49, -1, -1)]


def test_concurrent_writer_during_scroll(app, api, task_id):
    """A head scroll (oldest first) while another client adds lines behind and ahead of the
    cursor (authenticated, each write checked): see ConcurrentWriter.check_scroll."""
    before = logs(task_id, 200)
    api.add_batch(before)
    writer = ConcurrentWriter(app, [log(task_id, f"new {n}", timestamp=T0 + ((n * 7) % 400) * 500)
                                    for n in range(300)])

    def next_page(scroll_id):
        kw = {"scroll_id": scroll_id} if scroll_id else {}
        return api.call("events.get_task_log", "1.7", task=task_id, batch_size=9, order="asc", **kw)

    pages = writer.scroll_while_writing(next_page)
    writer.check_scroll(pages, before, identity=lambda e: e["msg"])


def test_empty_log(api, task_id):
    api.add_batch([scalar(task_id, 1)])
    data = api.call("events.get_task_log", "1.7", task=task_id)
    assert (data["events"], data["returned"], data["total"]) == ([], 0, 0)
    again = api.call("events.get_task_log", "1.7", task=task_id, scroll_id=data["scroll_id"])
    assert (again["events"], again["total"]) == ([], 0)


def test_unversioned_and_2x_requests_use_1_7(api, task_id):
    api.add_batch(logs(task_id, 3))
    response = api.raw("events.get_task_log", "2.7", task=task_id, batch_size=1)
    assert response.get_json()["meta"]["endpoint"]["actual_version"] == 1.7
    assert msgs(api.check_ok(response)["events"]) == ["line 0"]


# --- get_task_log 1.5 -----------------------------------------------------------------------

@pytest.mark.parametrize("order,expected", [(None, list(range(9, -1, -1))), ("desc", list(range(9, -1, -1))),
                                            ("asc", list(range(10)))])
def test_1_5_is_one_continuous_sequence_in_order(api, task_id, order, expected):
    api.add_batch(logs(task_id, 10))
    kw = {"order": order} if order else {}
    pages = scroll(api, task_id, "1.5", batch_size=3, **kw)
    assert msgs(e for p in pages for e in p["events"]) == [f"line {i}" for i in expected]
    assert pages[0]["scroll_id"] and pages[-1]["returned"] == 0 and pages[-1]["total"] == 10


def test_1_5_served_by_1_5(api, task_id):
    api.add_batch(logs(task_id, 1))
    response = api.raw("events.get_task_log", "1.6", task=task_id)
    assert response.get_json()["meta"]["endpoint"]["actual_version"] == 1.5


# --- bad input ------------------------------------------------------------------------------

@pytest.mark.parametrize("version", ["1.5", "1.7"])
def test_bad_input(api, task_id, version):
    api.add_batch(logs(task_id, 3))
    assert api.error("events.get_task_log", version)[:2] == (400, 11)
    assert api.error("events.get_task_log", version, task="no-such-task")[:2] == (400, 101)
    code, subcode, msg = api.error("events.get_task_log", version, task=task_id, order="sideways")
    assert (code, subcode) == (400, 12) and "order" in msg
    code, subcode, msg = api.error("events.get_task_log", version, task=task_id, batch_size=0)
    assert (code, subcode) == (400, 12) and "batch_size" in msg
    assert api.error("events.get_task_log", version, task=task_id, batch_size="x")[:2] == (400, 12)
    assert api.error("events.get_task_log", version, task=task_id, scroll_id="forged")[:2] == (400, 1104)


def test_bad_from_is_400_12(api, task_id):
    code, subcode, msg = api.error("events.get_task_log", "1.7", task=task_id, **{"from": "middle"})
    assert (code, subcode) == (400, 12) and "from" in msg


def test_token_is_bound_to_task_and_endpoint(api, task_id):
    other = task_id[::-1]
    api.add_batch(logs(task_id, 3) + logs(other, 3))
    token = api.call("events.get_task_log", "1.7", task=task_id, batch_size=1)["scroll_id"]
    assert api.error("events.get_task_log", "1.7", task=other, scroll_id=token)[:2] == (400, 1104)
    assert api.error("events.get_task_events", task=task_id, scroll_id=token)[:2] == (400, 1104)


# --- download_task_log ----------------------------------------------------------------------

def download(client, task_id, **kw):
    return client.post("/events.download_task_log", json={"task": task_id, **kw})


def test_download_text_default_format(client, api, task_id):
    api.add_batch([log(task_id, "first", timestamp=T0 + 123, worker="w1", level="info"),
                   log(task_id, "second", timestamp=T0 + 61_000, worker="w2", level="error")])
    response = download(client, task_id, line_type="text")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert response.headers["Content-Disposition"] == f"attachment; filename=task_{task_id}.log"
    assert response.get_data(as_text=True) == (
        "2020-03-01 10:00:00,123 w1 info first\n"
        "2020-03-01 10:01:01,000 w2 error second\n")


def test_download_text_custom_format_and_missing_fields(client, api, task_id):
    api.add_batch([{"type": "log", "task": task_id, "timestamp": T0 + 5, "msg": "no level"},
                   log(task_id, "ok", timestamp=T0 + 6, level="debug", worker="w")])
    response = download(client, task_id, line_type="text", line_format="[{level}] {timestamp} {msg}")
    assert response.get_data(as_text=True) == f"[] {T0 + 5} no level\n[debug] {T0 + 6} ok\n"
    response = download(client, task_id, line_type="text", line_format="{level:>6}|{msg!r}|100%|{{x}}\n")
    assert response.get_data(as_text=True) == "      |'no level'|100%|{x}\n debug|'ok'|100%|{x}\n"
    response = download(client, task_id, line_type="text", line_format="100% {msg} {{x}}")
    assert response.get_data(as_text=True) == "100% no level {x}\n100% ok {x}\n"


def test_download_json_is_the_default(client, api, task_id):
    api.add_batch([log(task_id, "héllo", timestamp=T0 + 7, worker="w1", custom={"a": 1}),
                   log(task_id, "two", timestamp=T0 + 8, worker="w2"),
                   log(task_id, "snow \u2603 \"quoted\"\nnext line", timestamp=T0 + 9, worker="w\u00e9"),
                   {"type": "log", "task": task_id, "timestamp": T0 + 10, "iter": 4, "metric": "m",
                    "variant": "v", "level": "info", "msg": "with iteration"}])
    body = download(client, task_id).get_data()
    lines = body.decode().splitlines()
    assert len(lines) == 4 and body.isascii()  # non-ASCII escaped, as ClearML writes it
    first = json.loads(lines[0])
    assert first["msg"] == "héllo" and first["asctime"] == "2020-03-01 10:00:00,007"
    assert first["custom"] == {"a": 1} and first["timestamp"] == T0 + 7 and first["worker"] == "w1"
    assert "type" not in first and "task" not in first
    assert ", " not in lines[1] and '": ' not in lines[1]  # compact
    events = api.call("events.get_task_log", "1.7", task=task_id, order="asc")["events"]
    assert len(events) == 4
    for line, event in zip(lines, events):
        doc = json.loads(line)
        assert doc.pop("asctime")
        assert doc == {k: v for k, v in event.items() if k not in ("type", "task")}


def test_download_is_in_time_order_and_only_this_task(client, api, task_id):
    api.add_batch(logs(task_id, 30, step=-10) + logs(task_id[::-1], 3) + [scalar(task_id, 1)])
    text = download(client, task_id, line_type="text", line_format="{msg}").get_data(as_text=True)
    assert text.splitlines() == [f"line {i}" for i in range(29, -1, -1)]


def test_download_many_lines_across_chunks(client, api, task_id):
    api.add_batch(logs(task_id, 12_000, step=1))
    text = download(client, task_id, line_type="text", line_format="{msg}").get_data(as_text=True)
    assert text.splitlines() == [f"line {i}" for i in range(12_000)]


def test_download_empty_log(client, api, task_id):
    api.add_batch([scalar(task_id, 1)])
    response = download(client, task_id)
    assert response.status_code == 200 and response.get_data() == b""


def test_download_streams(client, api, task_id):
    api.add_batch(logs(task_id, 3))
    response = client.post("/events.download_task_log", json={"task": task_id}, buffered=False)
    assert response.is_streamed
    assert len(b"".join(response.response).splitlines()) == 3


def test_download_text_literals_and_messages_written_verbatim(client, api, task_id):
    """PostgreSQL writes text lines: literal parts of the format are escaped SQL literals (quotes,
    backslashes, percent signs, SQL, non-ASCII), and messages keep newlines, tabs, backslashes."""
    api.add_batch([log(task_id, "multi\nline\twith \\ back\\slash", timestamp=T0 - 1, worker="w'1"),
                   {"type": "log", "task": task_id, "timestamp": T0, "msg": "caf\u00e9 \u2603",
                    "worker": "w2"}])
    line_format = "'); DROP TABLE log_events; -- \\n %s %(x)s 100% {{{level}}} \u00e9\t{worker}|{msg}\n\n"
    text = download(client, task_id, line_type="text", line_format=line_format).get_data(as_text=True)
    assert text == ("'); DROP TABLE log_events; -- \\n %s %(x)s 100% {info} \u00e9\t"
                    "w'1|multi\nline\twith \\ back\\slash\n\n"
                    "'); DROP TABLE log_events; -- \\n %s %(x)s 100% {} \u00e9\tw2|caf\u00e9 \u2603\n\n")
    # the event before 1970 and its own time, as Python's logging would write them
    text = download(client, task_id, line_type="text",
                    line_format="{asctime}|{timestamp}").get_data(as_text=True)
    assert text == f"2020-03-01 09:59:59,999|{T0 - 1}\n2020-03-01 10:00:00,000|{T0}\n"
    api.add_batch([log(task_id, "old", timestamp=-1, worker="w")])
    text = download(client, task_id, line_type="text", line_format="{asctime}").get_data(as_text=True)
    assert text.splitlines()[0] == "1969-12-31 23:59:59,999"


def test_download_json_extra_fields_metrics_and_control_characters(client, api, task_id):
    api.add_batch([log(task_id, "tab\there \"q\" \\ \x01 \x7f", timestamp=T0 + 1, worker="w",
                       extra_key=[1, {"b": None}], msg_2="m2", level="warning"),
                   {"type": "log", "task": task_id, "timestamp": T0 + 2, "iter": 3, "metric": "m\u00e9t",
                    "variant": "v\"1", "msg": "x"},
                   {"type": "log", "task": task_id, "timestamp": T0 + 3}])
    body = download(client, task_id).get_data()
    assert body.isascii()
    lines = body.decode().splitlines()
    events = api.call("events.get_task_log", "1.7", task=task_id, order="asc")["events"]
    assert len(lines) == len(events) == 3
    for line, event in zip(lines, events):
        doc = json.loads(line)
        assert doc.pop("asctime").startswith("2020-03-01 10:00:00,00")
        assert doc == {k: v for k, v in event.items() if k not in ("type", "task")}
    assert lines[0].startswith('{"timestamp":%d,"metric":"","variant":"","level":"warning",' % (T0 + 1))
    assert lines[0].endswith(
        '"asctime":"2020-03-01 10:00:00,001","msg_2":"m2","extra_key":[1,{"b":null}]}')  # jsonb order
    assert '"iter":3,"metric":"m\\u00e9t","variant":"v\\"1","level":"info","msg":"x","worker":' in lines[1] \
        or '"iter":3,"metric":"m\\u00e9t","variant":"v\\"1","msg":"x","worker":' in lines[1]
    assert '"level"' not in lines[2] and '"msg"' not in lines[2]


DOWNLOAD_BACKENDS = """
    SELECT count(*) FROM pg_stat_activity
    WHERE datname = current_database() AND pid <> pg_backend_pid()
      AND query ILIKE '%%FROM log_events%%' AND state <> 'idle'"""


def test_download_client_gone_mid_stream_frees_the_connection(app, client, api, task_id, db):
    """Each download streams on a connection of its own: a client that goes away after the first
    chunk must leave no backend still running or holding the download's query open (a leak would
    show there long before the pool, 5 + 5 overflow, runs dry). More abandoned downloads than
    the pool holds, of all three streaming paths."""
    api.add_batch(logs(task_id, 12_000, step=1))
    requests = [{"line_type": "json"}, {"line_type": "text", "line_format": "{msg}"},
                {"line_type": "text", "line_format": "{msg:>5}"}] * 5
    for extra in requests:
        response = client.post("/events.download_task_log", json={"task": task_id, **extra}, buffered=False)
        assert next(iter(response.response))  # the first chunk, then the client goes away
        assert db.execute(DOWNLOAD_BACKENDS).fetchone()[0] == 1  # the query is streaming meanwhile
        response.close()
        deadline = time.monotonic() + 5
        while db.execute(DOWNLOAD_BACKENDS).fetchone()[0] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert db.execute(DOWNLOAD_BACKENDS).fetchone()[0] == 0, extra
    text = download(client, task_id, line_type="text", line_format="{msg}").get_data(as_text=True)
    assert text.splitlines() == [f"line {i}" for i in range(12_000)]


@pytest.mark.parametrize("line_format,subcode,fragment", [
    ("", 11, "line_format"),
    ("{asctime} {nope} {other}", 16, "placeholders=(nope, other)"),
    ("{} {msg}", 16, "invalid line format"),
    ("{0}", 16, "invalid line format"),
    ("{msg:d}", 16, "invalid line format"),
    ("{msg[3]}", 16, "invalid line format"),
    ("{msg.upper}", 16, "invalid line format"),
    ("{msg", 16, "invalid line format"),
    # was a gigabyte a line: worker killed mid-stream
    ("{msg:>999999999}", 16, "width or precision above 1000"),
    ("{asctime!r:^1001} {msg}", 16, "width or precision above 1000"),
    ("{timestamp:.5000f}", 16, "width or precision above 1000"),
    ("{msg:>\u0669\u0669\u0669\u0669}", 16, "width or precision above 1000"),  # Arabic-Indic 9999
    # widths taken from a field: {timestamp} padded each line to ~1.7e12 characters
    ("{msg:>{timestamp}}", 16, "placeholder inside a format spec"),
    ("{asctime} {msg:{level}}", 16, "placeholder inside a format spec"),
    ("{timestamp:.{timestamp}f}", 16, "placeholder inside a format spec"),
    ("{msg:>{worker}.{timestamp}}", 16, "placeholder inside a format spec"),
    ("{msg:>1000}" * 11, 16, "add up to more than 10000"),
    ("x" * 10_001 + "{msg}", 16, "add up to more than 10000"),
])
def test_download_bad_line_format(api, task_id, line_format, subcode, fragment):
    api.add_batch(logs(task_id, 1))
    code, sub, msg = api.error("events.download_task_log", task=task_id, line_type="text",
                               line_format=line_format)
    assert (code, sub) == (400, subcode) and fragment in msg


def test_download_bad_input(api, task_id):
    assert api.error("events.download_task_log")[:2] == (400, 11)
    assert api.error("events.download_task_log", task="no-such-task")[:2] == (400, 101)
    api.add_batch(logs(task_id, 1))
    code, subcode, msg = api.error("events.download_task_log", task=task_id, line_type="xml")
    assert (code, subcode) == (400, 12) and "line_type" in msg


def test_download_through_gunicorn(server, http, task_id):
    events = "\n".join(json.dumps(e) for e in logs(task_id, 2000, step=1))
    assert http.post(f"{server}/events.add_batch", data=events,
                     headers={"Content-Type": "application/json-lines"}).status_code == 200
    with http.post(f"{server}/events.download_task_log",
                   json={"task": task_id, "line_type": "text", "line_format": "{msg}"}, stream=True) as r:
        assert r.status_code == 200 and r.headers.get("Transfer-Encoding") == "chunked"
        assert r.text.splitlines() == [f"line {i}" for i in range(2000)]


# get_task_log 2.9 (ClearML's version for the current SDK; spec Appendix A and §5.3) -----------

def _msgs(data):
    return [e["msg"] for e in data["events"]]


def test_get_task_log_2_9_navigates_by_time(api, task_id):
    t0 = 1_700_000_000_000
    api.add_batch([log(task_id, f"m{i}", timestamp=t0 + i * 1000) for i in range(10)])
    newest = api.call("events.get_task_log", "2.9", task=task_id, batch_size=5)
    assert _msgs(newest) == ["m9", "m8", "m7", "m6", "m5"]
    assert (newest["returned"], newest["total"]) == (5, 10)
    older = api.call("events.get_task_log", "2.9", task=task_id, batch_size=5,
                     from_timestamp=newest["events"][-1]["timestamp"])
    assert _msgs(older) == ["m4", "m3", "m2", "m1", "m0"]
    newer = api.call("events.get_task_log", "2.9", task=task_id, batch_size=5, navigate_earlier=False,
                     from_timestamp=older["events"][0]["timestamp"])
    assert _msgs(newer) == ["m5", "m6", "m7", "m8", "m9"]
    asc = api.call("events.get_task_log", "2.9", task=task_id, batch_size=5, order="asc")
    assert _msgs(asc) == ["m5", "m6", "m7", "m8", "m9"]
    oldest = api.call("events.get_task_log", "2.9", task=task_id, batch_size=3, navigate_earlier=False)
    assert _msgs(oldest) == ["m0", "m1", "m2"]
    assert api.call("events.get_task_log", "2.9", task=task_id, from_timestamp=t0)["events"] == []


def test_get_task_log_2_9_returns_every_line_at_the_last_time(api, task_id):
    api.add_batch([log(task_id, f"a{i}", timestamp=100) for i in range(4)]
                  + [log(task_id, "b", timestamp=200)])
    page = api.call("events.get_task_log", "2.9", task=task_id, batch_size=2)
    assert _msgs(page)[0] == "b" and sorted(_msgs(page)[1:]) == ["a0", "a1", "a2", "a3"]
    assert api.call("events.get_task_log", "2.9", task=task_id, batch_size=2,
                    from_timestamp=100)["events"] == []


def test_sdk_console_output_request_gets_the_newest_lines_ascending(api, task_id):
    api.add_batch([log(task_id, f"line {i}", timestamp=1000 + i) for i in range(30)])
    data = api.call("events.get_task_log", "2.9", task=task_id, order="asc", navigate_earlier=True,
                    batch_size=7)
    assert _msgs(data) == [f"line {i}" for i in range(23, 30)]


def test_get_task_log_2_9_bad_input(api, task_id):
    api.add_batch([log(task_id, "x")])
    assert api.error("events.get_task_log", "2.9", task=task_id, navigate_earlier="maybe")[:2] == (400, 12)
    assert api.error("events.get_task_log", "2.9", task=task_id, from_timestamp="yesterday")[:2] == (400, 12)
    assert api.error("events.get_task_log", "2.9", task="unknown-task")[:2] == (400, 101)


@pytest.mark.parametrize("value", [2**63, 2**80, -2**70, 1e300, -1e300])
def test_get_task_log_2_9_from_timestamp_beyond_64_bits_is_400_12(api, task_id, value):
    """Regression: from_timestamp (a number) was bound as bigint: "bigint out of range", a 500."""
    api.add_batch([log(task_id, "x", timestamp=1000)])
    code, subcode, msg = api.error("events.get_task_log", "2.9", task=task_id, from_timestamp=value)
    assert (code, subcode) == (400, 12) and "field 'from_timestamp'" in msg and "out of range" in msg
    assert api.call("events.get_task_log", "2.9", task=task_id, from_timestamp=2**63 - 1)["returned"] == 1


@pytest.mark.parametrize("body,field", [('{"task": "%s", "from_timestamp": NaN}', "from_timestamp"),
                                        ('{"task": "%s", "from_timestamp": -Infinity}', "from_timestamp")])
def test_get_task_log_2_9_non_finite_from_timestamp_is_400_12(api, client, task_id, body, field):
    """Regression: NaN (read by the stdlib fallback parser) crashed int() in the handler, a 500."""
    response = client.post("/v2.9/events.get_task_log", data=body % task_id, content_type="application/json")
    code, subcode, msg = api.check_error(response)
    assert (code, subcode) == (400, 12) and f"field '{field}'" in msg


@pytest.mark.parametrize("version", ["1.5", "1.7", "2.9"])
def test_batch_size_beyond_64_bits_is_400_12(api, task_id, version):
    api.add_batch([log(task_id, "x")])
    for size in (2**63, 2**80, 1e300):
        code, subcode, msg = api.error("events.get_task_log", version, task=task_id, batch_size=size)
        assert (code, subcode) == (400, 12) and "field 'batch_size'" in msg


def test_download_width_up_to_the_limit_works(client, api, task_id):
    api.add_batch([log(task_id, "hello", timestamp=1000)])
    response = client.post("/events.download_task_log",
                           json={"task": task_id, "line_type": "text", "line_format": "{msg:>1000}"})
    assert response.status_code == 200 and response.data == b" " * 995 + b"hello\n"


@pytest.mark.parametrize("task_id", ["crlf\r\nX-Injected: 1", "uni\u4e2d\u6587", 'quote"; filename=evil.sh',
                                     "a b"])
def test_download_file_name_from_any_task_id(client, api, task_id):
    """Regression: the task id went raw into Content-Disposition: CR/LF was a 500 (and would be a
    header injection), non-Latin-1 text a bare HTML 500 from gunicorn."""
    from urllib.parse import quote

    api.add_batch([log(task_id, "line", timestamp=1000)])
    response = client.post("/events.download_task_log", json={"task": task_id})
    assert response.status_code == 200 and b'"msg":"line"' in response.data
    disposition = response.headers["Content-Disposition"]
    assert "\r" not in disposition and "\n" not in disposition and disposition.isascii()
    assert "X-Injected" not in response.headers
    assert disposition.endswith(f"filename*=UTF-8''{quote(f'task_{task_id}.log', safe='')}")
    assert disposition.count('"') == 2  # the ASCII stand-in is one quoted token


def test_download_over_gunicorn_with_a_non_latin_task_id(server, http):
    task_id = f"\u4e2d\u6587 {uuid.uuid4().hex}"
    assert http.post(f"{server}/events.add", json=log(task_id, "line", timestamp=1000)).status_code == 200
    response = http.post(f"{server}/events.download_task_log", json={"task": task_id})
    assert response.status_code == 200 and b'"msg":"line"' in response.content
    assert "filename*=UTF-8''" in response.headers["Content-Disposition"]
