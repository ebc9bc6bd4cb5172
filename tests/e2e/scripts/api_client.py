"""Every events endpoint through the clearml SDK's low-level APIClient (the 2.9 request classes).

Creates a project and a task with APIClient, adds events of every type through events.add and
events.add_batch, calls each query endpoint, deletes the events last, and writes each endpoint's
outcome (raw response data, or the error) to a JSON file.
"""
import json
import sys
import time
import traceback

from clearml.backend_api.services.v2_9 import events as ev
from clearml.backend_api.session.client import APIClient

out_path = sys.argv[1]
client = APIClient(api_version="2.9")
results = {}


def call(name, func):
    try:
        response = func()
        results[name] = {"ok": True, "data": response._result.response_data}
    except Exception as exc:  # the outcome is the test's to judge
        results[name] = {"ok": False, "error": f"{type(exc).__name__}: {exc}",
                         "trace": traceback.format_exc()}


project = client.projects.create(name=f"apiclient {time.time()}", description="APIClient test")
task = client.tasks.create(name="apiclient task", type="training", project=project.id).id
results["task"] = task
now = int(time.time() * 1000)

call("events.add", lambda: client.events.add(event=ev.MetricsScalarEvent(
    task=task, iter=0, metric="loss", variant="train", value=0.5, timestamp=now)))
batch = [ev.MetricsScalarEvent(task=task, iter=i, metric="loss", variant="train", value=1.0 / (i + 1),
                               timestamp=now + i) for i in range(1, 20)]
batch += [ev.MetricsVectorEvent(task=task, iter=1, metric="vectors", variant="v", values=[1.0, 2.0, 3.0],
                                timestamp=now)]
batch += [ev.MetricsImageEvent(task=task, iter=i, metric="images", variant="img", key=f"images/img_{i}.png",
                               url=f"file:///tmp/images/img_{i}.png", timestamp=now + i) for i in range(3)]
batch += [ev.MetricsPlotEvent(task=task, iter=1, metric="plots", variant="p",
                              plot_str=json.dumps({"data": [{"type": "scatter", "x": [1, 2], "y": [3, 4]}]}),
                              timestamp=now)]
batch += [ev.TaskLogEvent(task=task, level="info", worker="apiclient", msg=f"line {i}", timestamp=now + i)
          for i in range(5)]
call("events.add_batch", lambda: client.events.add_batch(requests=[ev.AddRequest(event=e) for e in batch]))

call("events.get_task_events", lambda: client.events.get_task_events(task=task, batch_size=100))
call("events.get_task_log", lambda: client.events.get_task_log(task=task, batch_size=3))
call("events.download_task_log", lambda: client.events.download_task_log(task=task))
call("events.get_task_plots", lambda: client.events.get_task_plots(task=task, iters=1))
call("events.get_multi_task_plots", lambda: client.events.get_multi_task_plots(tasks=[task], iters=1))
call("events.debug_images", lambda: client.events.debug_images(
    metrics=[ev.TaskMetric(task=task, metric="images")], iters=5))
call("events.get_task_metrics", lambda: client.events.get_task_metrics(tasks=[task]))
call("events.get_vector_metrics_and_variants", lambda: client.events.get_vector_metrics_and_variants(
    task=task))
call("events.vector_metrics_iter_histogram", lambda: client.events.vector_metrics_iter_histogram(
    task=task, metric="vectors", variant="v"))
call("events.scalar_metrics_iter_histogram", lambda: client.events.scalar_metrics_iter_histogram(task=task))
call("events.multi_task_scalar_metrics_iter_histogram",
     lambda: client.events.multi_task_scalar_metrics_iter_histogram(tasks=[task]))
call("events.get_task_latest_scalar_values", lambda: client.events.get_task_latest_scalar_values(task=task))
call("events.get_scalar_metrics_and_variants", lambda: client.events.get_scalar_metrics_and_variants(
    task=task))
call("events.get_scalar_metric_data", lambda: client.events.get_scalar_metric_data(task=task, metric="loss"))
call("events.delete_for_task", lambda: client.events.delete_for_task(task=task))
call("events.get_task_events (after delete)", lambda: client.events.get_task_events(task=task))

with open(out_path, "w") as out:
    json.dump(results, out, default=str)
