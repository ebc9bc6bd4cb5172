"""A plain clearml training script (nothing in it knows about events-service).

It reports scalars over 300 iterations in four series, console output on stdout and stderr,
report_text at every level, debug images, plots (scatter, confusion matrix, histogram, table),
a single value, and closes the task. The server, credentials and quiet settings come from the
environment and clearml.conf, as for any clearml user. `--manifest` writes down what was
reported so that a test can compare it with what the server returns.
"""
import argparse
import json
import logging
import math
import sys

import numpy as np
from clearml import Logger, Task

ITERATIONS = 300

parser = argparse.ArgumentParser()
parser.add_argument("--project", default="events-harness")
parser.add_argument("--name", default="sdk end to end")
parser.add_argument("--upload", required=True, help="default upload destination, e.g. file:///tmp/x")
parser.add_argument("--manifest", required=True)
args = parser.parse_args()

task = Task.init(
    project_name=args.project, task_name=args.name, reuse_last_task_id=False, auto_resource_monitoring=False,
    auto_connect_arg_parser=False,
    auto_connect_frameworks={"detect_repository": False, "matplotlib": False, "tensorflow": False,
                             "tensorboard": False, "pytorch": False, "xgboost": False, "scikit": False,
                             "fastai": False, "lightgbm": False, "hydra": False, "tfdefines": False,
                             "joblib": False, "megengine": False, "catboost": False, "gradio": False})
logger = Logger.current_logger()
logger.set_default_upload_destination(args.upload)
sent = {"task": task.id, "project": args.project, "name": args.name, "scalars": [], "texts": [], "stdout": [],
        "stderr": [], "images": [], "plots": [], "single": {}}

print("training starts")
sent["stdout"].append("training starts")
for i in range(ITERATIONS):
    values = {("loss", "train"): 1.0 / (i + 1), ("loss", "validation"): 1.5 / (i + 1) + 0.01,
              ("accuracy", "top1"): 1 - math.exp(-i / 50), ("accuracy", "top5"): 1 - math.exp(-i / 20) / 3}
    for (metric, variant), value in values.items():
        logger.report_scalar(metric, variant, value=value, iteration=i)
        sent["scalars"].append([metric, variant, i, value])
    if i % 100 == 0:
        line = f"iteration {i}: loss {values[('loss', 'train')]:.6f}"
        print(line)
        sent["stdout"].append(line)

print("something went to stderr", file=sys.stderr)
sent["stderr"].append("something went to stderr")
for level in (logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR, logging.CRITICAL):
    text = f"report_text at {logging.getLevelName(level)}"
    logger.report_text(text, level=level, print_console=False)
    sent["texts"].append([logging.getLevelName(level).lower(), text])

rng = np.random.default_rng(7)
for i in (0, 100, 200):
    image = (rng.random((16, 24, 3)) * 255).astype(np.uint8)
    logger.report_image("samples", "random noise", iteration=i, image=image)
    sent["images"].append(["samples", "random noise", i])

scatter = [[x, x * x] for x in range(10)]
logger.report_scatter2d("curves", "square", iteration=1, scatter=scatter, mode="lines+markers")
sent["plots"].append(["curves", "square", 1, "scatter"])
logger.report_confusion_matrix("confusion", "validation", iteration=1, matrix=np.array([[5, 1], [2, 7]]))
sent["plots"].append(["confusion", "validation", 1, "heatmap"])
logger.report_histogram("distribution", "weights", iteration=1, values=[3, 1, 4, 1, 5, 9, 2, 6])
sent["plots"].append(["distribution", "weights", 1, "bar"])
logger.report_table("results", "summary", iteration=1, table_plot=[["epoch", "loss"], [1, 0.5], [2, 0.25]])
sent["plots"].append(["results", "summary", 1, "table"])
logger.report_single_value("best_accuracy", 0.9375)
sent["single"] = {"best_accuracy": 0.9375}

print("training done")
sent["stdout"].append("training done")
task.close()
with open(args.manifest, "w") as out:
    json.dump(sent, out)
