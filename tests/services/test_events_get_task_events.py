"""events.get_task_events: keyset scroll tokens, ordering, filters, totals, bad tokens."""
from __future__ import annotations


import pytest

from tests.helpers import ConcurrentWriter, log, scalar


def scroll_all(api, task_id, **kw):
    pages, scroll_id = [], None
    while True:
        data = api.call("events.get_task_events", task=task_id, scroll_id=scroll_id, **kw) if scroll_id else \
            api.call("events.get_task_events", task=task_id, **kw)
        pages.append(data)
        scroll_id = data["scroll_id"]
        if not data["events"]:
            return pages


def test_pages_cover_every_event_once_in_order(api, task_id):
    # equal timestamps force the tie-breaker
    api.add_batch([scalar(task_id, i, timestamp=1000 + i // 7) for i in range(100)])
    pages = scroll_all(api, task_id, batch_size=9)
    events = [e for p in pages for e in p["events"]]
    assert sorted(e["iter"] for e in events) == list(range(100))
    assert [e["timestamp"] for e in events] == sorted(e["timestamp"] for e in events)
    assert all(p["total"] == 100 for p in pages)
    assert [p["returned"] for p in pages][-2:] == [1, 0]


def test_desc_order(api, task_id):
    api.add_batch([scalar(task_id, i, timestamp=1000 + i) for i in range(20)])
    pages = scroll_all(api, task_id, batch_size=6, order="desc")
    assert [e["iter"] for p in pages for e in p["events"]] == list(range(19, -1, -1))


def test_event_type_filter_and_unknown_type(api, task_id):
    api.add_batch([scalar(task_id, 1), log(task_id, "x")])
    data = api.call("events.get_task_events", task=task_id, event_type="log")
    assert [e["type"] for e in data["events"]] == ["log"] and data["total"] == 1
    data = api.call("events.get_task_events", task=task_id, event_type="no_such_type")
    assert (data["events"], data["total"]) == ([], 0)


def test_default_batch_size_is_500_and_cap_is_10000(api, task_id):
    api.add_batch([scalar(task_id, i) for i in range(501)])
    assert api.call("events.get_task_events", task=task_id)["returned"] == 500
    assert api.call("events.get_task_events", task=task_id, batch_size=50000)["returned"] == 501


def test_batch_size_below_one_is_400(api, task_id):
    api.add_batch([scalar(task_id, 1)])
    code, subcode, msg = api.error("events.get_task_events", task=task_id, batch_size=0)
    assert (code, subcode) == (400, 12) and "batch_size" in msg


def test_the_scroll_keeps_its_query_and_page_size(api, task_id):
    api.add_batch([scalar(task_id, i, timestamp=i) for i in range(10)] + [log(task_id, "l", timestamp=100)])
    first = api.call("events.get_task_events", task=task_id, event_type="training_stats_scalar", batch_size=4)
    second = api.call("events.get_task_events", task=task_id, scroll_id=first["scroll_id"], batch_size=100,
                      order="desc", event_type="log")
    assert [e["iter"] for e in second["events"]] == [4, 5, 6, 7]


def test_no_event_is_skipped_or_repeated_while_events_arrive(api, task_id):
    api.add_batch([scalar(task_id, i, timestamp=1000 + i) for i in range(300)])
    seen, scroll_id, extra = [], None, 0
    while True:
        kw = {"scroll_id": scroll_id} if scroll_id else {}
        data = api.call("events.get_task_events", task=task_id, batch_size=25, **kw)
        if not data["events"]:
            break
        seen += [e["iter"] for e in data["events"]]
        scroll_id = data["scroll_id"]
        if extra < 20:  # new events behind the cursor and ahead of it, for the first pages
            api.add_batch([scalar(task_id, 10_000 + extra, timestamp=500 + extra),
                           scalar(task_id, 20_000 + extra, timestamp=5000 + extra)])
            extra += 1
    original = [i for i in seen if i < 300]
    assert original == list(range(300))  # every original event once, in order
    assert len(seen) == len(set(seen))
    assert {i for i in seen if i >= 20_000} == set(range(20_000, 20_020))  # arrivals ahead of the cursor


def test_concurrent_writer_during_scroll(app, api, task_id):
    """Pages read while another client adds events (authenticated, each write checked), behind
    and ahead of the cursor: see ConcurrentWriter.check_scroll."""
    before = [scalar(task_id, i, timestamp=1000 + i) for i in range(200)]
    api.add_batch(before)
    writer = ConcurrentWriter(app, [scalar(task_id, 1000 + n, timestamp=900 + (n * 7) % 400)
                                    for n in range(200)])

    def next_page(scroll_id):
        kw = {"scroll_id": scroll_id} if scroll_id else {}
        return api.call("events.get_task_events", task=task_id, batch_size=10, **kw)

    pages = writer.scroll_while_writing(next_page)
    writer.check_scroll(pages, before, identity=lambda e: e["iter"])
    total = api.call("events.get_task_events", task=task_id, batch_size=1)["total"]
    assert total == 400  # every acknowledged write is stored


@pytest.mark.parametrize("mangle", [
    lambda t: t[:-2] + ("AA" if t[-2:] != "AA" else "BB"),   # signature changed
    lambda t: "x" + t,                                         # body changed
    lambda t: "not-a-token",
    lambda t: "",                                              # empty: starts a new scroll, not an error
])
def test_tampered_tokens_are_400_1104(api, task_id, mangle):
    api.add_batch([scalar(task_id, i) for i in range(3)])
    token = api.call("events.get_task_events", task=task_id, batch_size=1)["scroll_id"]
    bad = mangle(token)
    if bad == "":
        assert api.call("events.get_task_events", task=task_id, scroll_id=bad)["returned"] == 3
        return
    code, subcode, msg = api.error("events.get_task_events", task=task_id, scroll_id=bad)
    assert (code, subcode) == (400, 1104) and msg.startswith("Invalid scroll id")


def test_token_cannot_move_to_another_task(api, task_id):
    other = task_id[::-1]
    api.add_batch([scalar(task_id, 1), scalar(other, 1)])
    token = api.call("events.get_task_events", task=task_id, batch_size=1)["scroll_id"]
    assert api.error("events.get_task_events", task=other, scroll_id=token)[:2] == (400, 1104)


def test_unknown_task_is_400_101(api):
    code, subcode, msg = api.error("events.get_task_events", task="missing-task")
    assert (code, subcode) == (400, 101) and "missing-task" in msg


def test_missing_task_is_400_11(api):
    code, subcode, msg = api.error("events.get_task_events")
    assert (code, subcode) == (400, 11) and "task" in msg


def test_bad_order_is_400_12(api, task_id):
    code, subcode, msg = api.error("events.get_task_events", task=task_id, order="sideways")
    assert (code, subcode) == (400, 12) and "order" in msg


def test_total_matches_the_stored_rows_after_resends_and_replacements(api, task_id, db):
    batch = [scalar(task_id, i % 40, metric=f"m{i % 3}", value=i) for i in range(120)] + \
        [log(task_id, f"l{i}", timestamp=i) for i in range(30)]
    api.add_batch(batch)
    api.add_batch(batch[:70])
    api.add_batch([scalar(task_id, 5, metric="m0", value=-1.0)])
    rows = db.execute("SELECT (SELECT count(*) FROM scalar_events e WHERE e.task_key = t.key) + "
                      "(SELECT count(*) FROM log_events e WHERE e.task_key = t.key) "
                      "FROM tasks t WHERE t.id = %s",
                      (task_id,)).fetchone()[0]
    assert api.call("events.get_task_events", task=task_id)["total"] == rows == 120 + 30
