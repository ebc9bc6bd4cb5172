"""Scalar analytics: histograms (and their pre-aggregates), latest values, listings, per-metric scroll.

Values are checked against known answers and against direct SQL over the raw points.
"""
from __future__ import annotations

import json
import random

import pytest

from events_service import sampling
from tests.helpers import log, scalar

SINGLE = -2147483648
T0 = 1_600_000_000_000


def iso(ms):
    from events_service.db.queries.events import iso_ms
    return iso_ms(ms)


def hist(api, task_id, version="2.1", **kw):
    return api.call("events.scalar_metrics_iter_histogram", version, task=task_id, **kw)


def direct(db, task_id, metric, variant, interval, axis="iter"):
    """Buckets computed straight from the raw points: [(x, mean, min, max, count)]."""
    where_iter = "e.iter IS NOT NULL AND e.iter <> -2147483648" if axis == "iter" else \
        "(e.iter IS NULL OR e.iter <> -2147483648)"
    return [tuple(r) for r in db.execute(f"""
        SELECT (floor(e.{axis}::numeric / %(i)s) * %(i)s)::bigint AS x, avg(e.value), min(e.value),
               max(e.value), count(*)
        FROM scalar_events e JOIN series s ON s.key = e.series_key JOIN tasks t ON t.key = s.task_key
        WHERE t.id = %(t)s AND s.metric = %(m)s AND s.variant = %(v)s AND e.value IS NOT NULL AND {where_iter}
        GROUP BY 1 ORDER BY 1""", {"i": interval, "t": task_id, "m": metric, "v": variant})]


def raw_stats(db, task_id, metric, variant, axis="iter"):
    where_iter = "e.iter IS NOT NULL AND e.iter <> -2147483648" if axis == "iter" else \
        "(e.iter IS NULL OR e.iter <> -2147483648)"
    return db.execute(f"""
        SELECT count(*), min(e.{axis}), max(e.{axis})
        FROM scalar_events e JOIN series s ON s.key = e.series_key JOIN tasks t ON t.key = s.task_key
        WHERE t.id = %s AND s.metric = %s AND s.variant = %s AND e.value IS NOT NULL AND {where_iter}""",
                      (task_id, metric, variant)).fetchone()


def assert_matches_direct(db, task_id, data, metric, variant, samples, axis="iter"):
    """The endpoint's curve equals the raw-point computation with the interval sampling.py documents."""
    count, lo, hi = raw_stats(db, task_id, metric, variant, axis)
    interval = sampling.choose_interval(count, lo, hi, samples)
    expected = direct(db, task_id, metric, variant, interval, axis)
    curve = data[metric][variant]
    assert curve["x"] == [r[0] for r in expected]
    assert curve["y"] == [r[1] for r in expected]
    if interval > 1:
        assert curve["y_min"] == [r[2] for r in expected]
        assert curve["y_max"] == [r[3] for r in expected]
    assert len(curve["x"]) <= max(samples, 0) or samples <= 0 or count <= samples
    return interval


def assert_buckets_exact(db, task_id):
    """Every pre-aggregate row of the task equals the aggregate of its raw points, and none is missing."""
    for width in sampling.WIDTHS:
        stored = db.execute("""
            SELECT b.series_key, b.bucket, b.value_count, b.value_sum, b.min_value, b.max_value, b.min_iter,
                   b.max_iter
            FROM scalar_buckets b JOIN series s ON s.key = b.series_key JOIN tasks t ON t.key = s.task_key
            WHERE t.id = %s AND b.width = %s ORDER BY 1, 2""", (task_id, width)).fetchall()
        expected = db.execute("""
            SELECT e.series_key, floor(e.iter::numeric / %(w)s)::bigint, count(*), sum(e.value), min(e.value),
                   max(e.value), min(e.iter), max(e.iter)
            FROM scalar_events e JOIN series s ON s.key = e.series_key JOIN tasks t ON t.key = s.task_key
            WHERE t.id = %(t)s AND e.iter IS NOT NULL AND e.iter <> -2147483648 AND e.value IS NOT NULL
            GROUP BY 1, 2 ORDER BY 1, 2""", {"w": width, "t": task_id}).fetchall()
        assert [r[:3] + r[4:] for r in stored] == [r[:3] + r[4:] for r in expected], width
        assert [r[3] for r in stored] == pytest.approx([r[3] for r in expected], rel=1e-12, abs=1e-12)


# --- scalar_metrics_iter_histogram ----------------------------------------------------------------

@pytest.mark.parametrize("version", ["2.1", "2.7", None])
def test_histogram_spec_scenario(api, task_id, version):
    api.add_batch([scalar(task_id, i, "Metric1", "Variant1", float(i)) for i in range(100)])
    data = hist(api, task_id, version)
    assert list(data) == ["Metric1"] and list(data["Metric1"]) == ["Variant1"]
    curve = data["Metric1"]["Variant1"]
    assert (curve["name"], curve["x"], curve["y"]) == \
        ("Variant1", list(range(100)), [float(i) for i in range(100)])
    assert "y_min" not in curve
    assert hist(api, task_id, version, samples=100)["Metric1"]["Variant1"]["x"] == list(range(100))
    curve = hist(api, task_id, version, samples=10)["Metric1"]["Variant1"]
    assert curve["x"] == list(range(0, 100, 10))
    assert curve["y"] == [4.5 + 10 * k for k in range(10)]
    assert curve["y_min"] == [10.0 * k for k in range(10)] and \
        curve["y_max"] == [10.0 * k + 9 for k in range(10)]


def test_histogram_metrics_and_variants_sorted_and_exact_doubles(api, task_id):
    value = 0.1 + 0.2  # 0.30000000000000004: no float32 on the way
    api.add_batch([scalar(task_id, 1, m, v, value) for m in ("b", "a", "c") for v in ("z", "", "y")])
    data = hist(api, task_id)
    assert list(data) == ["a", "b", "c"]
    assert list(data["a"]) == ["", "y", "z"]
    assert data["a"]["z"]["y"] == [value]


def test_histogram_negative_and_zero_values(api, task_id):
    values = [-3.0, 0.0, -0.5, 2.0, 0.0, -7.25, 1.5, 0.0, -1.0, 4.0]  # iterations 0..9
    api.add_batch([scalar(task_id, i, value=v) for i, v in enumerate(values)])
    curve = hist(api, task_id, samples=5)["loss"]["total"]
    assert curve["x"] == [0, 2, 4, 6, 8]
    assert curve["y"] == [-1.5, 0.75, -3.625, 0.75, 1.5]
    assert curve["y_min"] == [-3.0, -0.5, -7.25, 0.0, -1.0]
    assert curve["y_max"] == [0.0, 2.0, 0.0, 1.5, 4.0]


def test_histogram_edge_cases(api, task_id):
    api.add_batch([log(task_id, "no scalars here")])
    assert hist(api, task_id) == {}  # empty task
    api.add_batch([scalar(task_id, 7, value=-2.5)])
    assert hist(api, task_id, samples=1)["loss"]["total"] == {"name": "total", "x": [7], "y": [-2.5]}
    assert hist(api, task_id, samples=1000)["loss"]["total"]["x"] == [7]


def test_histogram_samples_zero_means_every_point(api, task_id):
    api.add_batch([scalar(task_id, i, value=float(i % 7)) for i in range(3000)])
    assert len(hist(api, task_id, samples=0)["loss"]["total"]["x"]) == 3000
    assert len(hist(api, task_id, samples=100)["loss"]["total"]["x"]) == 100


def test_single_value_iteration_is_not_in_histograms(api, task_id):
    api.add_batch([scalar(task_id, SINGLE, "Summary", "acc", 0.9),
                   scalar(task_id, SINGLE, "loss", "total", 5.0),
                   scalar(task_id, 3, "loss", "total", 1.0), scalar(task_id, None, "loss", "total", 9.0)])
    data = hist(api, task_id)
    assert data == {"loss": {"total": {"name": "total", "x": [3], "y": [1.0]}}}
    names = api.call("events.get_scalar_metrics_and_variants", task=task_id)["metrics"]
    assert names == {"Summary": ["acc"], "loss": ["total"]}


@pytest.mark.parametrize("key", ["iter", "timestamp", "iso_time"])
def test_histogram_keys(api, db, task_id, key):
    api.add_batch([scalar(task_id, i, "Metric1", "Variant1", float(i), timestamp=T0 + 1000 * i + (i % 3))
                   for i in range(100)])
    data = hist(api, task_id, key=key)
    curve = data["Metric1"]["Variant1"]
    assert len(curve["x"]) == len(curve["y"]) == 100 and curve["y"] == [float(i) for i in range(100)]
    if key == "iter":
        assert curve["x"] == list(range(100))
    elif key == "timestamp":
        assert curve["x"] == [T0 + 1000 * i + (i % 3) for i in range(100)]
    else:
        assert curve["x"][:2] == [iso(T0), iso(T0 + 1001)] and curve["x"][0] == "2020-09-13T12:26:40.000Z"
    data = hist(api, task_id, key=key, samples=10)
    if key == "iso_time":
        by_ts = hist(api, task_id, key="timestamp", samples=10)["Metric1"]["Variant1"]
        assert data["Metric1"]["Variant1"]["x"] == [iso(x) for x in by_ts["x"]]
        assert data["Metric1"]["Variant1"]["y"] == by_ts["y"]
    else:
        interval = assert_matches_direct(db, task_id, data, "Metric1", "Variant1", 10,
                                         "iter" if key == "iter" else "ts")
        assert interval > 1 and len(data["Metric1"]["Variant1"]["x"]) <= 10


def test_histogram_by_time_includes_events_without_iteration(api, db, task_id):
    api.add_batch([scalar(task_id, None, value=2.0, timestamp=T0),
                   scalar(task_id, 5, value=4.0, timestamp=T0 + 1)])
    curve = hist(api, task_id, key="timestamp")["loss"]["total"]
    assert (curve["x"], curve["y"]) == ([T0, T0 + 1], [2.0, 4.0])
    assert hist(api, task_id, key="iter")["loss"]["total"]["x"] == [5]


def dyadic(rng):
    """Values whose sums are exact in binary floating point: mean comparisons can be exact."""
    return rng.randint(-4000, 4000) / 64


@pytest.mark.parametrize("samples", [7, 50, 100, 333, 1000, 4999, 10000])
def test_downsampling_equals_direct_sql_on_long_series(api, db, task_id, samples):
    rng = random.Random(samples)
    events = [scalar(task_id, i, "m", "dense", dyadic(rng)) for i in range(5000)]
    events += [scalar(task_id, -1234 + 3 * i, "m", "sparse_negative", dyadic(rng)) for i in range(2000)]
    events += [scalar(task_id, 17 + 997 * i, "m", "very_sparse", dyadic(rng)) for i in range(300)]
    for start in range(0, len(events), 1500):
        api.add_batch(events[start:start + 1500])
    data = hist(api, task_id, samples=samples)
    for variant in ("dense", "sparse_negative", "very_sparse"):
        assert_matches_direct(db, task_id, data, "m", variant, samples)
    assert_buckets_exact(db, task_id)


def test_stored_buckets_come_in_iteration_order_whatever_the_write_order(api, db, task_id):
    """An interval equal to a stored width is answered from scalar_buckets alone; written newest
    iteration first (buckets physically in descending order), the curve is still ascending and exact."""
    rng = random.Random(11)
    events = [scalar(task_id, i, "m", v, dyadic(rng)) for i in range(3999, -1, -1) for v in ("a", "b")]
    for start in range(0, len(events), 700):
        api.add_batch(events[start:start + 700])
    count, lo, hi = raw_stats(db, task_id, "m", "a")
    interval = sampling.choose_interval(count, lo, hi, 40)
    assert interval == 100 and sampling.choose_width(count, lo, hi, interval) == 100  # the stored path
    data = hist(api, task_id, samples=40)
    for variant in ("a", "b"):
        assert data["m"][variant]["x"] == list(range(0, 4000, 100))
        assert_matches_direct(db, task_id, data, "m", variant, 40)


def test_intervals_that_are_multiples_of_a_stored_width_merge_whole_buckets(api, db, task_id):
    """Interval 200 over width-100 buckets, negative iterations included (floor division): each
    interval-bucket merges two stored buckets and equals the computation over the raw points."""
    rng = random.Random(12)
    events = [scalar(task_id, i, "m", v, dyadic(rng)) for i in range(-2000, 2000) for v in ("a", "b")]
    for start in range(0, len(events), 1000):
        api.add_batch(events[start:start + 1000])
    count, lo, hi = raw_stats(db, task_id, "m", "a")
    interval = sampling.choose_interval(count, lo, hi, 20)
    assert (interval, sampling.choose_width(count, lo, hi, interval)) == (200, 100)  # the merging path
    data = hist(api, task_id, samples=20)
    for variant in ("a", "b"):
        assert data["m"][variant]["x"] == list(range(-2000, 2000, 200))
        assert_matches_direct(db, task_id, data, "m", variant, 20)


def test_downsampling_with_non_dyadic_values_is_within_rounding(api, db, task_id):
    rng = random.Random(3)
    api.add_batch([scalar(task_id, i, value=rng.uniform(-1e3, 1e3)) for i in range(4000)])
    curve = hist(api, task_id, samples=123)["loss"]["total"]
    count, lo, hi = raw_stats(db, task_id, "loss", "total")
    expected = direct(db, task_id, "loss", "total", sampling.choose_interval(count, lo, hi, 123))
    assert curve["x"] == [r[0] for r in expected]
    assert curve["y"] == pytest.approx([r[1] for r in expected], rel=1e-12)
    assert (curve["y_min"], curve["y_max"]) == ([r[2] for r in expected], [r[3] for r in expected])


def test_pre_aggregates_stay_exact_under_resends(api, db, task_id):
    rng = random.Random(11)
    api.add_batch([scalar(task_id, i, value=dyadic(rng)) for i in range(3000)])
    # re-send scattered iterations with new values: new extremes, values that were a bucket's min or max,
    # and a whole block (a batch re-sent after a timeout)
    resend = [scalar(task_id, i, value=1000.0 if i % 2 else -1000.0) for i in (5, 16, 999, 1500, 2999)]
    resend += [scalar(task_id, i, value=dyadic(rng)) for i in range(2000, 2400)]
    api.add_batch(resend)
    api.add_batch(resend)  # and once more, unchanged
    assert_buckets_exact(db, task_id)
    # a replaced extreme must not linger: set the spike back to an ordinary value
    api.add_batch([scalar(task_id, 999, value=0.0)])
    assert_buckets_exact(db, task_id)
    for samples in (10, 30, 300):
        assert_matches_direct(db, task_id, hist(api, task_id, samples=samples), "loss", "total", samples)
    assert max(hist(api, task_id, samples=10)["loss"]["total"]["y_max"]) == 1000.0
    assert sum(1 for _ in db.execute("SELECT 1 FROM scalar_events e JOIN series s ON s.key = e.series_key "
                                     "JOIN tasks t ON t.key = s.task_key WHERE t.id = %s",
                                     (task_id,))) == 3000


def test_resend_without_value_empties_its_bucket(api, db, task_id):
    api.add_batch([scalar(task_id, 5, value=1.0), scalar(task_id, 5000, value=2.0)])
    event = scalar(task_id, 5)
    del event["value"]
    api.add_batch([event])
    assert_buckets_exact(db, task_id)
    assert hist(api, task_id)["loss"]["total"]["x"] == [5000]


def test_pre_aggregates_go_with_the_tasks_series(api, db, task_id):
    api.add_batch([scalar(task_id, i, value=float(i)) for i in range(2500)])
    keys = [r[0] for r in db.execute("SELECT s.key FROM series s JOIN tasks t ON t.key = s.task_key "
                                     "WHERE t.id = %s", (task_id,))]
    assert db.execute("SELECT count(*) FROM scalar_buckets WHERE series_key = ANY(%s)",
                      (keys,)).fetchone()[0] > 0
    # what delete_for_task does: the task's event rows, then its series
    with db.transaction():
        db.execute("DELETE FROM scalar_events WHERE task_key = (SELECT key FROM tasks WHERE id = %s)",
                   (task_id,))
        db.execute("DELETE FROM series WHERE task_key = (SELECT key FROM tasks WHERE id = %s)", (task_id,))
    assert db.execute("SELECT count(*) FROM scalar_buckets WHERE series_key = ANY(%s)",
                      (keys,)).fetchone()[0] == 0
    assert hist(api, task_id) == {}
    api.add_batch([scalar(task_id, i, value=-float(i)) for i in range(0, 50, 5)])
    assert_buckets_exact(db, task_id)
    assert hist(api, task_id, samples=5)["loss"]["total"]["y"] == [-2.5, -12.5, -22.5, -32.5, -42.5]


def test_at_most_samples_points_for_a_misaligned_series(api, task_id):
    api.add_batch([scalar(task_id, i, value=1.0) for i in range(5, 105)])
    assert len(hist(api, task_id, samples=10)["loss"]["total"]["x"]) <= 10


@pytest.mark.parametrize("body, code, field", [
    ({}, (400, 11), "task"),
    ({"task": 5}, (400, 12), "task"),
    ({"samples": "many"}, (400, 12), "samples"),
    ({"samples": 1.5}, (400, 12), "samples"),
    ({"samples": -1}, (400, 12), "samples"),
    ({"key": "epoch"}, (400, 12), "key"),
])
def test_histogram_bad_input(api, task_id, body, code, field):
    api.add_batch([scalar(task_id, 1)])
    body = {"task": task_id, **body} if "task" not in body and body != {} else body
    got = api.error("events.scalar_metrics_iter_histogram", "2.1", **body)
    assert got[:2] == code and field in got[2]


def test_histogram_unknown_task(api, task_id):
    assert api.error("events.scalar_metrics_iter_histogram", task=task_id)[:2] == (400, 101)


# --- multi_task_scalar_metrics_iter_histogram ------------------------------------------------------

def test_multi_task_spec_scenario(api, db):
    t1, t2 = f"mt1-{random.random()}", f"mt2-{random.random()}"
    events = [scalar(t, i, f"Metric{m}", f"Variant{v}", float(i))
              for t in (t1, t2) for i in range(10) for m in range(10) for v in range(10)]
    api.add_batch(events)
    with db.transaction():
        db.execute("UPDATE tasks SET name = 'exp ' || id WHERE id = ANY(%s)", ([t1, t2],))
    data = api.call("events.multi_task_scalar_metrics_iter_histogram", tasks=[t2, t1])["metrics"]
    assert list(data) == [f"Metric{m}" for m in range(10)]
    for metric in data.values():
        assert list(metric) == [f"Variant{v}" for v in range(10)]
        for variant in metric.values():
            assert list(variant) == [t2, t1]  # request order
            for tid, curve in variant.items():
                assert curve == {"name": f"exp {tid}", "x": list(range(10)),
                                 "y": [float(i) for i in range(10)]}


def test_multi_task_downsamples_per_task_and_omits_tasks_without_the_series(api, db, task_id):
    other = task_id + "-b"
    api.add_batch([scalar(task_id, i, value=float(i)) for i in range(100)]
                  + [scalar(other, i, value=-float(i)) for i in range(0, 1000, 2)]
                  + [scalar(other, 1, "only_b")])
    data = api.call("events.multi_task_scalar_metrics_iter_histogram", tasks=[task_id, other, task_id],
                    samples=10, key="iter")["metrics"]
    assert list(data["only_b"]["total"]) == [other]
    assert data["loss"]["total"][task_id]["x"] == list(range(0, 100, 10))
    assert data["loss"]["total"][other]["x"] == list(range(0, 1000, 100))
    assert data["loss"]["total"][other]["y"] == [-(100 * k + 49.0) for k in range(10)]
    assert_matches_direct(db, other, {"loss": {"total": data["loss"]["total"][other]}}, "loss", "total", 10)


def test_multi_task_no_scalars(api, task_id):
    api.add_batch([log(task_id, "x")])
    assert api.call("events.multi_task_scalar_metrics_iter_histogram", tasks=[task_id]) == {"metrics": {}}


def test_multi_task_limit(api, app, task_id, monkeypatch):
    monkeypatch.setitem(app.config, "MAX_TASKS_PER_MULTI_TASK_CALL", 3)
    ids = [f"{task_id}-{n}" for n in range(4)]
    api.add_batch([scalar(t, 1) for t in ids])
    assert api.call("events.multi_task_scalar_metrics_iter_histogram", tasks=ids[:3])["metrics"]
    code, subcode, msg = api.error("events.multi_task_scalar_metrics_iter_histogram", tasks=ids)
    assert (code, subcode) == (400, 12) and "tasks" in msg and "up to 3" in msg


def test_multi_task_default_limit_is_100(app):
    assert app.config["MAX_TASKS_PER_MULTI_TASK_CALL"] == 100


@pytest.mark.parametrize("body, code", [
    ({}, (400, 11)), ({"tasks": []}, (400, 12)), ({"tasks": "a,b"}, (400, 12)), ({"tasks": [1]}, (400, 12)),
    ({"tasks": ["x"], "samples": -5}, (400, 12)), ({"tasks": ["x"], "key": "nope"}, (400, 12)),
])
def test_multi_task_bad_input(api, body, code):
    assert api.error("events.multi_task_scalar_metrics_iter_histogram", **body)[:2] == code


def test_multi_task_unknown_task(api, task_id):
    api.add_batch([scalar(task_id, 1)])
    code, subcode, msg = api.error("events.multi_task_scalar_metrics_iter_histogram",
                                   tasks=[task_id, "nope-x"])
    assert (code, subcode) == (400, 101) and "nope-x" in msg


# --- get_task_latest_scalar_values ----------------------------------------------------------------

def latest(api, task_id, version="2.1"):
    return api.call("events.get_task_latest_scalar_values", version, task=task_id)


@pytest.mark.parametrize("version", ["2.1", "2.7"])
def test_latest_values_known_answers(api, task_id, version):
    # 150 iterations sent out of order, values -75..74: last = 74, last 100 = mean(-25..74) = 24.5
    iterations = list(range(150))
    random.Random(5).shuffle(iterations)
    api.add_batch([scalar(task_id, i, "loss", "total", float(i - 75)) for i in iterations])
    api.add_batch([scalar(task_id, i, "acc", "top1", 0.0) for i in range(3)]
                  + [scalar(task_id, 2, "acc", "a_first", -0.5), log(task_id, "x")])
    data = latest(api, task_id, version)
    assert data["metrics"] == [
        {"name": "acc", "variants": [{"name": "a_first", "last_value": -0.5, "last_100_value": -0.5},
                                     {"name": "top1", "last_value": 0.0, "last_100_value": 0.0}]},
        {"name": "loss", "variants": [{"name": "total", "last_value": 74.0, "last_100_value": 24.5}]}]
    assert data["last_iter"] == 149 and data["name"] == task_id and data["status"] == "created"
    assert isinstance(data["last_timestamp"], float) and data["last_timestamp"] > 1.6e12


def test_latest_values_follow_resends(api, task_id):
    api.add_batch([scalar(task_id, i, value=1.0) for i in range(10)])
    api.add_batch([scalar(task_id, 9, value=-3.0, timestamp=1)])  # re-sent with an older timestamp
    variant = latest(api, task_id)["metrics"][0]["variants"][0]
    assert variant == {"name": "total", "last_value": -3.0, "last_100_value": 0.6}


def test_latest_values_single_value_and_no_iteration(api, task_id):
    api.add_batch([scalar(task_id, SINGLE, "Summary", "acc", 0.25), scalar(task_id, None, "free", "v", 3.0),
                   scalar(task_id, 1, "mixed", "v", 2.0), scalar(task_id, None, "mixed", "v", 6.0)])
    data = latest(api, task_id)
    values = {m["name"]: m["variants"][0] for m in data["metrics"]}
    assert values["Summary"] == {"name": "acc", "last_value": 0.25, "last_100_value": 0.25}
    assert values["free"] == {"name": "v", "last_value": 3.0, "last_100_value": 3.0}
    # no-iteration sorts last
    assert values["mixed"] == {"name": "v", "last_value": 2.0, "last_100_value": 4.0}


def test_latest_values_empty_task(api, task_id):
    api.add_batch([log(task_id, "x")])
    data = latest(api, task_id)
    assert (data["metrics"], data["last_timestamp"], data["last_iter"]) == ([], 0.0, 0)


@pytest.mark.parametrize("body, code", [({}, (400, 11)), ({"task": ["a"]}, (400, 12)),
                                        ({"task": "nope"}, (400, 101))])
def test_latest_values_bad_input(api, body, code):
    assert api.error("events.get_task_latest_scalar_values", **body)[:2] == code


# --- get_scalar_metrics_and_variants --------------------------------------------------------------

def test_scalar_metrics_and_variants(api, task_id):
    assert_empty = api.error("events.get_scalar_metrics_and_variants", task=task_id)
    assert assert_empty[:2] == (400, 101)
    api.add_batch([scalar(task_id, 1, m, v) for m, v in (("b", "2"), ("b", "1"), ("a", ""), ("", "x"))]
                  + [log(task_id, "l")])
    data = api.call("events.get_scalar_metrics_and_variants", "2.1", task=task_id)
    assert data == {"metrics": {"": ["x"], "a": [""], "b": ["1", "2"]}}
    assert list(data["metrics"]) == ["", "a", "b"]


def test_scalar_metrics_and_variants_empty_and_bad(api, task_id):
    api.add_batch([log(task_id, "l")])
    assert api.call("events.get_scalar_metrics_and_variants", task=task_id) == {"metrics": {}}
    assert api.error("events.get_scalar_metrics_and_variants")[:2] == (400, 11)
    assert api.error("events.get_scalar_metrics_and_variants", task=3)[:2] == (400, 12)


# --- get_scalar_metric_data -----------------------------------------------------------------------

def metric_pages(api, task_id, metric, **kw):
    pages, scroll_id = [], None
    while True:
        extra = {"scroll_id": scroll_id} if scroll_id else {}
        data = api.call("events.get_scalar_metric_data", "2.1", task=task_id, metric=metric, **kw, **extra)
        pages.append(data)
        scroll_id = data["scroll_id"]
        if not data["events"]:
            return pages


def test_metric_data_scrolls_by_iteration_descending(api, task_id):
    api.add_batch([scalar(task_id, i, "loss", v, float(i) * (-1 if v == "b" else 1)) for i in range(60)
                   for v in ("a", "b")]
                  + [scalar(task_id, None, "loss", "a", 7.0), scalar(task_id, 1, "acc", "x")])
    pages = metric_pages(api, task_id, "loss", batch_size=7)
    events = [e for p in pages for e in p["events"]]
    assert all(p["total"] == 121 for p in pages)
    assert [p["returned"] for p in pages][-1] == 0 and sum(p["returned"] for p in pages) == 121
    assert [(e.get("iter"), e["variant"]) for e in events] == \
        [(i, v) for i in range(59, -1, -1) for v in ("b", "a")] + [(None, "a")]
    first = events[0]
    assert (first["metric"], first["value"], first["type"], first["task"]) == \
        ("loss", -59.0, "training_stats_scalar", task_id)


def test_metric_data_default_page_and_one_series(api, task_id):
    api.add_batch([scalar(task_id, i, value=float(i)) for i in range(600)])
    data = api.call("events.get_scalar_metric_data", task=task_id, metric="loss")
    assert (data["returned"], data["total"]) == (500, 600)
    assert [e["iter"] for e in data["events"]] == list(range(599, 99, -1))
    rest = api.call("events.get_scalar_metric_data", task=task_id, metric="loss", scroll_id=data["scroll_id"])
    assert [e["iter"] for e in rest["events"]] == list(range(99, -1, -1))


def test_metric_data_unknown_metric(api, task_id):
    api.add_batch([scalar(task_id, 1)])
    data = api.call("events.get_scalar_metric_data", task=task_id, metric="nope")
    assert (data["events"], data["returned"], data["total"]) == ([], 0, 0) and data["scroll_id"]


@pytest.mark.parametrize("body, code", [
    ({"metric": "loss"}, (400, 11)), ({"task": "T"}, (400, 11)), ({"task": "T", "metric": 4}, (400, 12)),
    ({"task": "T", "metric": "loss", "scroll_id": 5}, (400, 12)),
    ({"task": "T", "metric": "loss", "scroll_id": "garbage"}, (400, 1104)),
    ({"task": "T", "metric": "loss", "batch_size": 0}, (400, 12)),
    ({"task": "T", "metric": "loss", "batch_size": "x"}, (400, 12)),
])
def test_metric_data_bad_input(api, task_id, body, code):
    api.add_batch([scalar(task_id, 1)])
    body = {k: task_id if v == "T" else v for k, v in body.items()}
    assert api.error("events.get_scalar_metric_data", **body)[:2] == code


def test_metric_data_scroll_is_bound_to_its_task(api, task_id):
    other = task_id + "-o"
    api.add_batch([scalar(task_id, i) for i in range(5)] + [scalar(other, 1)])
    first = api.call("events.get_scalar_metric_data", task=task_id, metric="loss", batch_size=2)
    assert api.error("events.get_scalar_metric_data", task=other, metric="loss",
                     scroll_id=first["scroll_id"])[:2] == (400, 1104)


def test_metric_data_scroll_keeps_the_series_and_total_of_its_first_page(api, task_id):
    """A variant reported after the first page is in neither the scroll's events nor its total: every
    event that is counted comes exactly once; a new scroll sees it."""
    api.add_batch([scalar(task_id, i, variant="a", value=float(i)) for i in range(5)])
    first = api.call("events.get_scalar_metric_data", task=task_id, metric="loss", batch_size=2)
    api.add_batch([scalar(task_id, i, variant="b", value=float(i)) for i in range(5)])
    pages, scroll_id = [first], first["scroll_id"]
    while pages[-1]["returned"]:
        pages.append(api.call("events.get_scalar_metric_data", task=task_id, metric="loss",
                              scroll_id=scroll_id))
        scroll_id = pages[-1]["scroll_id"]
    events = [e for p in pages for e in p["events"]]
    assert [(e["iter"], e["variant"]) for e in events] == [(i, "a") for i in range(4, -1, -1)]
    assert {p["total"] for p in pages} == {5}
    fresh = api.call("events.get_scalar_metric_data", task=task_id, metric="loss", batch_size=20)
    assert (fresh["returned"], fresh["total"]) == (10, 10)


def test_metric_data_scroll_of_long_variant_names_keeps_them_out_of_the_token(api, task_id):
    """Variant names too long to carry in every request: the token holds the series keys only, and
    later pages still name every event's variant."""
    from events_service.services.scalars import FROZEN_VARIANTS_MAX_CHARS

    variants = [c * (FROZEN_VARIANTS_MAX_CHARS // 2) for c in "abc"]
    api.add_batch([scalar(task_id, i, variant=v, value=float(i)) for i in range(4) for v in variants])
    pages = metric_pages(api, task_id, "loss", batch_size=5)
    assert max(len(p["scroll_id"]) for p in pages) < 1000
    events = [e for p in pages for e in p["events"]]
    assert [(e["iter"], e["variant"]) for e in events] == \
        [(i, v) for i in range(3, -1, -1) for v in variants[::-1]]
    assert {p["total"] for p in pages} == {12}


def test_metric_data_unknown_task(api, task_id):
    assert api.error("events.get_scalar_metric_data", task=task_id, metric="m")[:2] == (400, 101)


def test_metric_data_unknown_task_is_told_before_a_bad_scroll(api, task_id):
    error = api.error("events.get_scalar_metric_data", task=task_id, metric="m", scroll_id="garbage")
    assert error[:2] == (400, 101)


def test_metric_data_total_counts_every_variant_of_the_metric_only(api, task_id):
    api.add_batch([scalar(task_id, i, variant=v) for i in range(3) for v in ("a", "b")]
                  + [scalar(task_id, i, metric="other") for i in range(4)])
    data = api.call("events.get_scalar_metric_data", task=task_id, metric="loss", batch_size=2)
    assert (data["returned"], data["total"]) == (2, 6)


EXACT_VALUES = [2.0, -0.0, 0.0, 0.1, 1 / 3, -123.456, 999999999999999.0, 1e15, 1e16, -2.0 ** 60, 1e-7, 5e-324,
                1.7976931348623157e308, -1.7976931348623157e308, 2.0 ** 53 + 2, 0.30000000000000004]


def typed(doc):
    """A document as (key, repr of value) pairs: 2 and 2.0, 0.0 and -0.0 differ, and so does key order."""
    return [(k, repr(v)) for k, v in doc.items()]


def test_metric_data_json_values_read_back_exactly(api, task_id):
    """Every value comes back as the same float (a float, not an int; -0.0 keeps its sign), whatever
    form PostgreSQL writes it in."""
    api.add_batch([scalar(task_id, i, "m", "v", value) for i, value in enumerate(EXACT_VALUES)])
    events = api.call("events.get_scalar_metric_data", task=task_id, metric="m")["events"]
    got = {e["iter"]: e["value"] for e in events}
    assert [repr(got[i]) for i in range(len(EXACT_VALUES))] == [repr(v) for v in EXACT_VALUES]


def test_metric_data_documents_equal_get_task_events_documents_typed(api, task_id):
    """Template-written documents are to_document's, key for key and type for type: names and workers
    that need escaping, two workers and two ingestion times in one page, several variants."""
    names = ['100% "done"', "back\\slash {x}", "é✓ \x01 tab\t"]
    first = [scalar(task_id, i, names[0], names[i % 3], EXACT_VALUES[i % len(EXACT_VALUES)])
             for i in range(30)]
    api.add_batch(first, headers={"X-ClearML-Worker": 'host "a" 50%'})
    api.add_batch([scalar(task_id, i, names[0], "late", float(i), worker="w\u2603") for i in range(5)] +
                  [scalar(task_id, None, names[0], "late", 9.5)])
    by_metric = [e for p in metric_pages(api, task_id, names[0], batch_size=7) for e in p["events"]]
    by_time = api.call("events.get_task_events", task=task_id, batch_size=100)["events"]
    assert len(by_metric) == 36
    assert sorted(map(typed, by_metric)) == sorted(map(typed, by_time))
    assert {e["worker"] for e in by_metric} == {'host "a" 50%', "w\u2603", "<unknown>"}
    assert {e["metric"] for e in by_metric} == {names[0]}
    assert {e["variant"] for e in by_metric} == {*names, "late"}


def test_page_value_text_is_the_shortest_exact_float_text():
    """scalar_json.page over random doubles of every magnitude: each document's value is text that
    JSON reads as a float, the very same double, in at most 17 significant digits, and the document
    is to_document's, byte for byte (the values are written in chunks: more than one chunk here),
    whether the rows are in memory or come from a cursor."""
    import struct

    from events_service import jsonutil, scalar_json
    from events_service.db.queries.events import to_document

    def digits(number_text):
        return number_text.split("e")[0].lstrip("-").replace(".", "").strip("0")

    rng = random.Random(7)
    values = [struct.unpack("<d", struct.pack("<Q", rng.getrandbits(64)))[0] for _ in range(3000)]
    values = [v for v in values if v == v and abs(v) != float("inf")]
    values += EXACT_VALUES + [float(i) for i in range(-50, 50)]
    rows = [(T0 + i, i, "w", T0, 7, None, value) for i, value in enumerate(values)]
    rows.insert(1500, (T0, 10_000, "w", T0, 7, None, None))  # no value: built by to_document
    names = {7: ("m", "v")}
    page = scalar_json.page(rows, "t", names)  # in memory: written as it is sent
    text = b"".join(page.events.chunks()).decode()
    from_cursor = scalar_json.page(iter(rows), "t", names)  # from a cursor: written as rows arrive
    assert from_cursor.events.text == text
    assert (from_cursor.returned, from_cursor.last) == (page.returned, page.last)
    documents = text[1:-1].split("},{")
    assert page.returned == len(rows) == len(documents)
    for row, text in zip(rows, documents):
        expected = jsonutil.dumps(to_document("training_stats_scalar", scalar_json._Row(*row), "t", names))
        assert "{" + text.strip("{}") + "}" == expected.decode(), row
        if row[6] is None:
            continue
        value_text = text.split('"value":')[1].split(",")[0]
        parsed = json.loads(value_text)
        assert type(parsed) is float and repr(parsed) == repr(row[6]), (row, value_text)
        assert len(digits(value_text)) <= 17, (row, value_text)  # a double never needs more


# --- get_task_metrics -----------------------------------------------------------------------------

def test_task_metrics_spec_scenario(api, task_id):
    t1, t2 = task_id, task_id + "-2"
    image = {"type": "training_debug_image", "iter": 1, "variant": "Test variant", "url": "u"}
    api.add_batch([{**image, "task": t1, "metric": "Metric1"}, {**image, "task": t1, "metric": "Metric2"},
                   log(t1, "m", metric="Metric2"), {**image, "task": t2, "metric": "Metric3"}])

    def names(event_type=None, tasks=(t1, t2)):
        kw = {"event_type": event_type} if event_type else {}
        return api.call("events.get_task_metrics", "2.7", tasks=list(tasks), **kw)["metrics"]

    assert names("training_debug_image") == [{"task": t1, "metrics": ["Metric1", "Metric2"]},
                                             {"task": t2, "metrics": ["Metric3"]}]
    assert names("log") == [{"task": t1, "metrics": ["Metric2"]}, {"task": t2, "metrics": []}]
    assert names("training_stats_scalar") == [{"task": t1, "metrics": []}, {"task": t2, "metrics": []}]
    assert names(None, (t2, t1, t2)) == [{"task": t2, "metrics": ["Metric3"]},
                                         {"task": t1, "metrics": ["Metric1", "Metric2"]},
                                         {"task": t2, "metrics": ["Metric3"]}]


def test_task_metrics_versions(api, task_id):
    api.add_batch([scalar(task_id, 1, "m")])
    data = api.call("events.get_task_metrics", "2.9", tasks=[task_id], event_type="training_stats_scalar")
    assert data == {"metrics": [{"task": task_id, "metrics": ["m"]}]}
    assert api.error("events.get_task_metrics", "2.6", tasks=[task_id])[:2] == (404, 0)


@pytest.mark.parametrize("body, code", [
    ({}, (400, 11)), ({"tasks": []}, (400, 12)), ({"tasks": "T"}, (400, 12)),
    ({"tasks": ["T"], "event_type": "bogus"}, (400, 12)), ({"tasks": ["T", "missing-x"]}, (400, 101)),
])
def test_task_metrics_bad_input(api, task_id, body, code):
    api.add_batch([scalar(task_id, 1)])
    body = {k: ([task_id if t == "T" else t for t in v] if isinstance(v, list) else v)
            for k, v in body.items()}
    assert api.error("events.get_task_metrics", **body)[:2] == code


def test_metric_data_documents_equal_get_task_events_documents(api, task_id):
    no_value = scalar(task_id, 4, variant="b")
    del no_value["value"]
    api.add_batch([scalar(task_id, 1, value=-0.0, custom_field={"a": [1, 2]}),
                   scalar(task_id, None, value=2.5), no_value,
                   scalar(task_id, 3, variant="b", value=0.1, worker="w1")])
    by_metric = api.call("events.get_scalar_metric_data", task=task_id, metric="loss")["events"]
    by_time = api.call("events.get_task_events", task=task_id)["events"]
    key = lambda e: (e.get("iter", -1), e["variant"])  # noqa: E731
    assert sorted(by_metric, key=key) == sorted(by_time, key=key)
    assert [list(e) for e in sorted(by_metric, key=key)] == [list(e) for e in sorted(by_time, key=key)]
    assert any(e.get("custom_field") == {"a": [1, 2]} for e in by_metric)
