"""events.get_task_plots 2.1 and events.get_multi_task_plots 2.1: last N iterations, scroll, shapes."""
from __future__ import annotations

import json

import pytest

from tests.helpers import log, scalar


def plot(task, iteration, metric="roc", variant="v", plot_str=None, **extra):
    event = {"type": "plot", "task": task, "metric": metric, "variant": variant,
             "plot_str": f"{task[:4]}_{iteration}_{metric}_{variant}" if plot_str is None else plot_str,
             **extra}
    if iteration is not None:
        event["iter"] = iteration
    return event


def scroll(api, name, **kw):
    pages, scroll_id = [], None
    while len(pages) < 500:
        extra = {"scroll_id": scroll_id} if scroll_id else {}
        data = api.call(name, **kw, **extra)
        pages.append(data)
        scroll_id = data["scroll_id"]
        if not data["returned"]:
            break
    return pages


# --- get_task_plots -------------------------------------------------------------------------

def test_scenario_8_two_plots(api, task_id):
    """ClearML's seed test: plot "roc" at iter 0 and "confusion" at iter 100 -> both returned."""
    sent = [plot(task_id, 0, "roc", "", plot_str=json.dumps({"data": [{"x": [1, 2]}]})),
            plot(task_id, 100, "confusion", "", plot_str=json.dumps({"data": [{"z": [[1]]}]}))]
    api.add_batch(sent)
    data = api.call("events.get_task_plots", task=task_id)
    assert (data["returned"], data["total"]) == (2, 2)
    assert [p["iter"] for p in data["plots"]] == [100, 0]
    assert {p["plot_str"] for p in data["plots"]} == {e["plot_str"] for e in sent}
    first = data["plots"][0]
    assert (first["type"], first["task"], first["metric"], first["variant"]) == \
        ("plot", task_id, "confusion", "")


def test_iters_are_the_last_n_per_metric_variant(api, task_id):
    api.add_batch([plot(task_id, i, "a", "x") for i in range(10)]
                  + [plot(task_id, i, "a", "y") for i in (1, 2)]
                  + [plot(task_id, i, "b", "x") for i in (5, 50, 7)] + [plot(task_id, None, "c", "x")])
    data = api.call("events.get_task_plots", task=task_id, iters=2)
    got = sorted((p["metric"], p["variant"], p["iter"]) for p in data["plots"])
    assert got == [("a", "x", 8), ("a", "x", 9), ("a", "y", 1), ("a", "y", 2), ("b", "x", 7), ("b", "x", 50)]
    assert [p["iter"] for p in data["plots"]] == sorted((p["iter"] for p in data["plots"]), reverse=True)
    default = api.call("events.get_task_plots", task=task_id)
    assert sorted((p["metric"], p["variant"], p["iter"]) for p in default["plots"]) == \
        [("a", "x", 9), ("a", "y", 2), ("b", "x", 50)]


def test_large_and_unicode_plot_str_byte_exact(api, task_id):
    big = json.dumps({"data": [{"y": list(range(300_000)), "name": "ünï\u2603 \"q\" \\ \n"}]})
    assert len(big) > 2_000_000
    api.add_batch([plot(task_id, 3, plot_str=big), plot(task_id, 4, "odd", plot_str="not json {")])
    plots = {p["metric"]: p["plot_str"] for p in api.call("events.get_task_plots", task=task_id)["plots"]}
    assert plots == {"roc": big, "odd": "not json {"}


def test_re_reported_plot_replaces_the_old_one(api, task_id):
    api.add_batch([plot(task_id, 1, plot_str="old")])
    api.add_batch([plot(task_id, 1, plot_str="new")])
    data = api.call("events.get_task_plots", task=task_id)
    assert [p["plot_str"] for p in data["plots"]] == ["new"]


def test_scroll_covers_the_selection_once_while_plots_arrive(api, task_id):
    api.add_batch([plot(task_id, i, f"m{k}", "v") for i in range(10) for k in range(120)])
    seen, scroll_id, n = [], None, 0
    while True:
        extra = {"scroll_id": scroll_id} if scroll_id else {}
        data = api.call("events.get_task_plots", task=task_id, iters=3, **extra)
        if not data["plots"]:
            assert data["total"] == 360
            break
        assert len(data["plots"]) <= 500
        seen += [(p["metric"], p["iter"]) for p in data["plots"]]
        scroll_id = data["scroll_id"]
        # newer iterations arrive: they must not push chosen plots out of the running scroll
        api.add_batch([plot(task_id, 100 + n, f"m{k}", "v") for k in range(120)])
        n += 1
    assert sorted(seen) == sorted((f"m{k}", i) for k in range(120) for i in (7, 8, 9))


def test_no_plots(api, task_id):
    api.add_batch([scalar(task_id, 1), log(task_id, "x")])
    data = api.call("events.get_task_plots", task=task_id)
    assert (data["plots"], data["returned"], data["total"]) == ([], 0, 0)
    assert api.call("events.get_task_plots", task=task_id, scroll_id=data["scroll_id"])["plots"] == []


def test_task_plots_bad_input(api, task_id):
    api.add_batch([plot(task_id, 1)])
    assert api.error("events.get_task_plots")[:2] == (400, 11)
    assert api.error("events.get_task_plots", task="no-such-task")[:2] == (400, 101)
    for bad in (0, -2, "x", 1.5):
        code, subcode, msg = api.error("events.get_task_plots", task=task_id, iters=bad)
        assert (code, subcode) == (400, 12) and "iters" in msg
    assert api.call("events.get_task_plots", task=task_id, iters=None)["returned"] == 1  # null = absent
    assert api.error("events.get_task_plots", task=task_id, scroll_id="bad")[:2] == (400, 1104)
    token = api.call("events.get_task_plots", task=task_id)["scroll_id"]
    api.add_batch([plot(task_id[::-1], 1)])
    assert api.error("events.get_task_plots", task=task_id[::-1], scroll_id=token)[:2] == (400, 1104)


# --- get_multi_task_plots -------------------------------------------------------------------

def test_multi_task_shape_and_per_task_iterations(api, task_id, db):
    t1, t2 = task_id, task_id[::-1]
    api.add_batch([plot(t1, 1, "A", "AX"), plot(t1, 2, "B", "BX"), plot(t1, 3, "B", "BX"),
                   plot(t1, 3, "C", "CX"),
                   plot(t2, 1, "C", "CX"), plot(t2, 2, "A", "AY")])
    db.execute("UPDATE tasks SET name = 'exp A' WHERE id = %s", (t1,))
    data = api.call("events.get_multi_task_plots", tasks=[t1, t2])
    plots = data["plots"]
    # seed rule: each task's last iteration over all its plots (t1: 3, t2: 2)
    assert set(plots) == {"A", "B", "C"} and data["returned"] == 3 and data["total"] == 3
    assert set(plots["A"]) == {"AY"} and set(plots["A"]["AY"]) == {t2}
    leaf = plots["A"]["AY"][t2]["2"]
    assert leaf["name"] == t2 and [p["plot_str"] for p in leaf["plots"]] == [f"{t2[:4]}_2_A_AY"]
    assert plots["B"]["BX"][t1]["3"]["name"] == "exp A"
    assert set(plots["C"]["CX"]) == {t1}
    assert plots["C"]["CX"][t1]["3"]["plots"][0]["task"] == t1
    two = api.call("events.get_multi_task_plots", tasks=[t1, t2], iters=2)  # t1: 3, 2; t2: 2, 1
    assert two["total"] == 5 and set(two["plots"]["C"]["CX"]) == {t1, t2} and set(two["plots"]["A"]) == {"AY"}
    assert set(two["plots"]["B"]["BX"][t1]) == {"2", "3"}
    three = api.call("events.get_multi_task_plots", tasks=[t1, t2], iters=3)
    assert three["total"] == 6 and set(three["plots"]["A"]["AX"][t1]) == {"1"}


def test_multi_task_scroll(api, task_id):
    t1, t2 = task_id, task_id[::-1]
    api.add_batch([plot(t, i, f"m{k}", "v") for t in (t1, t2) for i in range(4) for k in range(300)])
    pages = scroll(api, "events.get_multi_task_plots", tasks=[t1, t2, t1], iters=2)
    leaves = [(m, t, it) for p in pages for m, vs in p["plots"].items()
              for t, its in vs["v"].items() for it in its]
    assert sorted(leaves) == sorted((f"m{k}", t, str(i))
                                    for k in range(300) for t in (t1, t2) for i in (2, 3))
    assert {p["total"] for p in pages} == {1200} and len(pages) == 4
    token = pages[0]["scroll_id"]
    assert api.error("events.get_multi_task_plots", tasks=[t1], scroll_id=token)[:2] == (400, 1104)


def test_multi_task_no_plots(api, task_id):
    api.add_batch([scalar(task_id, 1)])
    data = api.call("events.get_multi_task_plots", tasks=[task_id])
    assert (data["plots"], data["returned"], data["total"]) == ({}, 0, 0)


@pytest.mark.parametrize("kw,expected", [
    ({"tasks": []}, (400, 12)),
    ({"tasks": "abc"}, (400, 12)),
    ({"tasks": ["no-such-task"]}, (400, 101)),
    ({"iters": 0}, (400, 12)),
    ({"scroll_id": "forged"}, (400, 1104)),
])
def test_multi_task_bad_input(api, task_id, kw, expected):
    api.add_batch([plot(task_id, 1)])
    code, subcode, msg = api.error("events.get_multi_task_plots", **{"tasks": [task_id], **kw})
    assert (code, subcode) == expected


def test_multi_task_missing_tasks_is_400_11(api):
    code, subcode, msg = api.error("events.get_multi_task_plots")
    assert (code, subcode) == (400, 11) and "tasks" in msg


@pytest.mark.parametrize("iters", [2**63, 2**80, -2**70, 1e300])
def test_iters_beyond_64_bits_are_400_12_not_500(api, task_id, iters):
    """Regression: these reached PostgreSQL as a bigint parameter ("bigint out of range", a 500)."""
    api.add_batch([plot(task_id, 1)])
    for name, where in (("events.get_task_plots", {"task": task_id}),
                        ("events.get_multi_task_plots", {"tasks": [task_id]})):
        code, subcode, msg = api.error(name, **where, iters=iters)
        assert (code, subcode) == (400, 12), msg
        assert "field 'iters'" in msg
    assert api.call("events.get_task_plots", task=task_id, iters=2**63 - 1)["returned"] == 1
