"""events.debug_images 2.1 (flat, scrolled) and 2.7 (per task/metric navigation with keyset state)."""
from __future__ import annotations

import pytest

from tests.helpers import scalar


def image(task, iteration, metric="Metric1", variant="V1", url=None, key=None, **extra):
    url = url or f"https://files/{metric}/{variant}/{iteration}.png"
    event = {"type": "training_debug_image", "task": task, "metric": metric, "variant": variant,
             "url": url, "key": key or f"{metric}/{variant}/img", **extra}
    if iteration is not None:
        event["iter"] = iteration
    return event


def page(api, metrics, version="2.7", **kw):
    return api.call("events.debug_images", version, metrics=metrics, **kw)


def shape(entry):
    """[(iter, [variants])] of one metric entry."""
    return [(it["iter"], [e["variant"] for e in it["events"]]) for it in entry["iterations"]]


# --- 2.1 ------------------------------------------------------------------------------------

def test_2_1_last_iterations_of_the_whole_task(api, task_id):
    api.add_batch([image(task_id, i, m, v) for i in range(6) for m in ("A", "B") for v in ("x", "y")]
                  + [image(task_id, 9, "C", "z"), image(task_id, None, "D", "w")])
    data = api.call("events.debug_images", "2.1", task=task_id, iters=2)
    assert data["task"] == task_id and data["total"] == data["returned"] == 5
    assert sorted((e["iter"], e["metric"]) for e in data["images"]) == \
        [(5, "A"), (5, "A"), (5, "B"), (5, "B"), (9, "C")]
    assert [e["iter"] for e in data["images"]] == [9, 5, 5, 5, 5]
    first = data["images"][0]
    assert (first["type"], first["task"], first["url"], first["key"]) == \
        ("training_debug_image", task_id, "https://files/C/z/9.png", "C/z/img")
    default = api.call("events.debug_images", "2.1", task=task_id)
    assert [e["iter"] for e in default["images"]] == [9]
    assert [e["iter"] for e in api.call("events.debug_images", "2.1", task=task_id, iters=0)["images"]] == [9]


def test_2_1_scroll(api, task_id):
    api.add_batch([image(task_id, i, f"m{k}", "v") for i in range(5) for k in range(400)])
    pages, scroll_id = [], None
    while len(pages) < 10:
        extra = {"scroll_id": scroll_id} if scroll_id else {}
        data = api.call("events.debug_images", "2.1", task=task_id, iters=2, **extra)
        pages.append(data)
        scroll_id = data["scroll_id"]
        api.add_batch([image(task_id, 100 + len(pages), "m0", "v")])  # newer images do not disturb the scroll
        if not data["images"]:
            break
    assert [p["returned"] for p in pages] == [500, 300, 0] and {p["total"] for p in pages} == {800}
    seen = [(e["metric"], e["iter"]) for p in pages for e in p["images"]]
    assert sorted(seen) == sorted((f"m{k}", i) for k in range(400) for i in (3, 4))


def test_2_1_no_images_and_bad_input(api, task_id):
    api.add_batch([scalar(task_id, 1)])
    data = api.call("events.debug_images", "2.1", task=task_id)
    assert (data["images"], data["returned"], data["total"]) == ([], 0, 0)
    assert api.error("events.debug_images", "2.1")[:2] == (400, 11)
    assert api.error("events.debug_images", "2.1", task="no-such-task")[:2] == (400, 101)
    assert api.error("events.debug_images", "2.1", task=task_id, iters=-1)[:2] == (400, 12)
    assert api.error("events.debug_images", "2.1", task=task_id, scroll_id="x.y")[:2] == (400, 1104)


# --- 2.7 ------------------------------------------------------------------------------------

def navigation_data(task_id):
    """ClearML's seed test data: V1 urls cycle through 7 names, V2 through 4; iterations 0..9."""
    return [image(task_id, n, "Metric1", "V1", url=f"Metric1_V1_{n % 7}", key=f"Metric1_V1_{n % 7}")
            for n in range(10)] + \
           [image(task_id, n, "Metric1", "V2", url=f"Metric1_V2_{n % 4}", key=f"Metric1_V2_{n % 4}")
            for n in range(10)]


def test_scenario_3_navigation(api, task_id):
    api.add_batch(navigation_data(task_id))
    metrics = [{"task": task_id, "metric": "Metric1"}]
    first_page = [(9, ["V1", "V2"]), (8, ["V1", "V2"]), (7, ["V1", "V2"]), (6, ["V1", "V2"]), (5, ["V1"])]
    second_page = [(4, ["V1"]), (3, ["V1"])]

    data = page(api, metrics, iters=5)
    [entry] = data["metrics"]
    assert (entry["task"], entry["metric"]) == (task_id, "Metric1")
    assert shape(entry) == first_page
    data = page(api, metrics, iters=5, scroll_id=data["scroll_id"])
    assert shape(data["metrics"][0]) == second_page
    data = page(api, metrics, iters=5, scroll_id=data["scroll_id"])
    assert shape(data["metrics"][0]) == []
    data = page(api, metrics, iters=5, scroll_id=data["scroll_id"], navigate_earlier=False)
    assert shape(data["metrics"][0]) == first_page
    data = page(api, metrics, iters=5, scroll_id=data["scroll_id"], navigate_earlier=False)
    assert shape(data["metrics"][0]) == []
    data = page(api, metrics, iters=5, scroll_id=data["scroll_id"])
    assert shape(data["metrics"][0]) == second_page
    data = page(api, metrics, iters=5, scroll_id=data["scroll_id"], refresh=True)
    assert shape(data["metrics"][0]) == first_page


def test_events_are_image_documents_grouped_by_variant(api, task_id):
    api.add_batch([image(task_id, 1, "M", v, url=f"u-{v}", key=f"k-{v}", worker="w")
                   for v in ("b", "a", "c")])
    [entry] = page(api, [{"task": task_id, "metric": "M"}])["metrics"]
    [iteration] = entry["iterations"]
    assert iteration["iter"] == 1
    assert [(e["variant"], e["url"], e["key"], e["task"], e["metric"], e["type"])
            for e in iteration["events"]] == \
        [(v, f"u-{v}", f"k-{v}", task_id, "M", "training_debug_image") for v in ("a", "b", "c")]


def test_re_reported_image_replaces_the_old_one(api, task_id):
    api.add_batch([image(task_id, 3, url="https://files/old.png", key="same")])
    api.add_batch([image(task_id, 3, url="https://files/new.png", key="same")])
    [entry] = page(api, [{"task": task_id, "metric": "Metric1"}])["metrics"]
    assert [[e["url"] for e in it["events"]] for it in entry["iterations"]] == [["https://files/new.png"]]


def test_sdk_style_loop_until_no_iterations_terminates(api, task_id):
    api.add_batch([image(task_id, i, "M", v, url=f"{v}-{i}") for i in range(23) for v in ("x", "y")])
    metrics = [{"task": task_id, "metric": "M"}]
    seen, scroll_id = [], None
    for _ in range(50):
        extra = {"scroll_id": scroll_id} if scroll_id else {}
        data = page(api, metrics, iters=4, **extra)
        scroll_id = data["scroll_id"]
        iterations = [it for m in data["metrics"] for it in m["iterations"]]
        if not iterations:
            break
        seen += [it["iter"] for it in iterations]
    else:
        pytest.fail("the pages never ended")
    assert seen == list(range(22, -1, -1))


def test_several_metrics_and_tasks_in_request_order(api, task_id):
    other = task_id[::-1]
    api.add_batch([image(task_id, i, "A", "v") for i in range(3)]
                  + [image(task_id, i, "B", "v") for i in range(5)]
                  + [image(other, 7, "A", "v")])
    metrics = [{"task": other, "metric": "A"}, {"task": task_id, "metric": "B"},
               {"task": task_id, "metric": "A"},
               {"task": task_id, "metric": "B"}, {"task": task_id, "metric": "nothing"}]
    data = page(api, metrics, iters=2)
    assert [(m["task"], m["metric"], [it["iter"] for it in m["iterations"]]) for m in data["metrics"]] == \
        [(other, "A", [7]), (task_id, "B", [4, 3]), (task_id, "A", [2, 1])]
    data = page(api, metrics, iters=2, scroll_id=data["scroll_id"])  # same set, the metric without images too
    assert [[it["iter"] for it in m["iterations"]] for m in data["metrics"]] == [[], [2, 1], [0]]


def test_no_images_then_refresh_finds_new_ones(api, task_id):
    api.add_batch([scalar(task_id, 1)])
    metrics = [{"task": task_id, "metric": "Metric1"}]
    data = page(api, metrics, iters=5)
    assert data["metrics"] == [] and data["scroll_id"]
    api.add_batch([image(task_id, 1), image(task_id, 2)])
    data = page(api, metrics, iters=5, scroll_id=data["scroll_id"])
    assert data["metrics"] == []  # the state was made before the images came
    data = page(api, metrics, iters=5, scroll_id=data["scroll_id"], refresh=True)
    assert shape(data["metrics"][0]) == [(2, ["V1"]), (1, ["V1"])]


def test_later_navigation_after_new_iterations(api, task_id):
    api.add_batch([image(task_id, i, url=f"u{i}") for i in range(10)])
    metrics = [{"task": task_id, "metric": "Metric1"}]
    data = page(api, metrics, iters=3)
    assert [it["iter"] for it in data["metrics"][0]["iterations"]] == [9, 8, 7]
    api.add_batch([image(task_id, i, url=f"u{i}") for i in range(10, 14)])
    data = page(api, metrics, iters=3, scroll_id=data["scroll_id"], navigate_earlier=False)
    assert [it["iter"] for it in data["metrics"][0]["iterations"]] == [12, 11, 10]


def test_images_without_url_are_ignored(api, task_id):
    api.add_batch([image(task_id, 1), {"type": "training_debug_image", "task": task_id, "iter": 2,
                                       "metric": "Metric1", "variant": "V1", "key": "k"}])
    [entry] = page(api, [{"task": task_id, "metric": "Metric1"}], iters=5)["metrics"]
    assert shape(entry) == [(1, ["V1"])]


def test_scroll_id_is_bound_to_the_metrics(api, task_id):
    api.add_batch([image(task_id, 1, "A"), image(task_id, 1, "B")])
    token = page(api, [{"task": task_id, "metric": "A"}])["scroll_id"]
    other_set = [{"task": task_id, "metric": "B"}]
    assert api.error("events.debug_images", metrics=other_set, scroll_id=token)[:2] == (400, 1104)
    assert api.error("events.debug_images", "2.1", task=task_id, scroll_id=token)[:2] == (400, 1104)
    # duplicates collapse: the same set
    again = page(api, [{"task": task_id, "metric": "A"}] * 2, scroll_id=token)
    assert [(m["metric"], m["iterations"]) for m in again["metrics"]] == [("A", [])]


@pytest.mark.parametrize("kw,expected", [
    ({}, (400, 11)),
    ({"metrics": []}, (400, 12)),
    ({"metrics": [{"task": "t"}]}, (400, 12)),
    ({"metrics": [{"metric": "m"}]}, (400, 12)),
    ({"metrics": "x"}, (400, 12)),
    ({"metrics": [{"task": "no-such-task", "metric": "m"}]}, (400, 101)),
    ({"iters": 0}, (400, 12)),
    ({"navigate_earlier": "sometimes"}, (400, 12)),
    ({"scroll_id": "forged"}, (400, 1104)),
])
def test_2_7_bad_input(api, task_id, kw, expected):
    api.add_batch([image(task_id, 1)])
    data = {"metrics": [{"task": task_id, "metric": "Metric1"}], **kw} if kw else {}
    assert api.error("events.debug_images", "2.7", **data)[:2] == expected


def test_unversioned_is_2_7(api, task_id):
    api.add_batch([image(task_id, 1)])
    response = api.raw("events.debug_images", metrics=[{"task": task_id, "metric": "Metric1"}])
    assert response.get_json()["meta"]["endpoint"]["actual_version"] == "2.7"
    response = api.raw("events.debug_images", "2.6", task=task_id)
    assert response.get_json()["meta"]["endpoint"]["actual_version"] == "2.1"


@pytest.mark.parametrize("iters", [2**63, 2**80, -2**70, 1e300])
def test_iters_beyond_64_bits_are_400_12_not_500(api, task_id, iters):
    """Regression: these reached PostgreSQL as a bigint parameter ("bigint out of range", a 500)."""
    api.add_batch([image(task_id, 1)])
    for version, where in (("2.1", {"task": task_id}), ("2.7", {"metrics": [{"task": task_id}]})):
        code, subcode, msg = api.error("events.debug_images", version, **where, iters=iters)
        assert (code, subcode) == (400, 12), msg
        assert "field 'iters'" in msg
    assert api.call("events.debug_images", "2.1", task=task_id, iters=2**63 - 1)["returned"] == 1
