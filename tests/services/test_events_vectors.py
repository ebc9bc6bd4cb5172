"""Vector analytics: get_vector_metrics_and_variants (an array, as the schema types it) and its histogram."""
from __future__ import annotations

import pytest

from tests.helpers import log, scalar


def vector(task, iteration, metric="gradients", variant="layer1", values=(0.1, 0.2), **extra):
    event = {"type": "training_stats_vector", "task": task, "metric": metric, "variant": variant,
             "values": list(values), **extra}
    if iteration is not None:
        event["iter"] = iteration
    return event


@pytest.mark.parametrize("version", ["2.1", "2.7"])
def test_vector_metrics_and_variants_is_a_sorted_array(api, task_id, version):
    api.add_batch([vector(task_id, 1, m, v) for m, v in (("g", "l2"), ("g", "l1"), ("a", ""), ("", "x"))]
                  + [scalar(task_id, 1, "scalar_only"), log(task_id, "l")])
    data = api.call("events.get_vector_metrics_and_variants", version, task=task_id)
    assert data == {"metrics": [{"metric": "", "variants": ["x"]}, {"metric": "a", "variants": [""]},
                                {"metric": "g", "variants": ["l1", "l2"]}]}


def test_vector_metrics_and_variants_empty_and_bad(api, task_id):
    assert api.error("events.get_vector_metrics_and_variants", task=task_id)[:2] == (400, 101)
    api.add_batch([scalar(task_id, 1)])
    assert api.call("events.get_vector_metrics_and_variants", task=task_id) == {"metrics": []}
    assert api.error("events.get_vector_metrics_and_variants")[:2] == (400, 11)
    assert api.error("events.get_vector_metrics_and_variants", task=[task_id])[:2] == (400, 12)


@pytest.mark.parametrize("version", ["2.1", "2.7"])
def test_vector_histogram(api, task_id, version):
    api.add_batch([vector(task_id, i, values=[i * 0.5, -i, 0.0]) for i in (3, 1, 2)]
                  + [vector(task_id, 9, variant="other"), vector(task_id, None, values=[5.0])])
    api.add_batch([vector(task_id, 2, values=[0.1 + 0.2])])  # re-sent: replaces iteration 2
    data = api.call("events.vector_metrics_iter_histogram", version, task=task_id, metric="gradients",
                    variant="layer1")
    assert data == {"metric": "gradients", "variant": "layer1", "iterations": [1, 2, 3],
                    "vectors": [[0.5, -1.0, 0.0], [0.30000000000000004], [1.5, -3.0, 0.0]]}


def test_vector_histogram_unknown_series(api, task_id):
    api.add_batch([vector(task_id, 1)])
    data = api.call("events.vector_metrics_iter_histogram", task=task_id, metric="gradients", variant="nope")
    assert data == {"metric": "gradients", "variant": "nope", "vectors": [], "iterations": []}


def test_vector_histogram_caps_at_10000_events(api, task_id):
    api.add_batch([vector(task_id, i, values=[float(i)]) for i in range(10050)])
    data = api.call("events.vector_metrics_iter_histogram", task=task_id, metric="gradients",
                    variant="layer1")
    assert data["iterations"] == list(range(10000)) and data["vectors"][-1] == [9999.0]


@pytest.mark.parametrize("body, code", [
    ({"metric": "m", "variant": "v"}, (400, 11)), ({"task": "T", "variant": "v"}, (400, 11)),
    ({"task": "T", "metric": "m"}, (400, 11)), ({"task": "T", "metric": 1, "variant": "v"}, (400, 12)),
    ({"task": "unknown-task-x", "metric": "m", "variant": "v"}, (400, 101)),
])
def test_vector_histogram_bad_input(api, task_id, body, code):
    api.add_batch([vector(task_id, 1)])
    body = {k: task_id if v == "T" else v for k, v in body.items()}
    assert api.error("events.vector_metrics_iter_histogram", **body)[:2] == code
