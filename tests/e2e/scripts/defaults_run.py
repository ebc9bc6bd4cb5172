"""A script as teams write it: argparse, Task.init with nothing but a project and a name (SDK
defaults: resource monitoring, framework hooks, files to the default files server), connected
dicts and configuration, tags, a single value, a debug image and media, artifacts and a model.

    defaults_run.py --manifest OUT.json [--lr X] [--epochs N]

Nothing here knows about events-service; `--manifest` writes down what was sent, for the test.
"""
import argparse
import json
import os
import sys
import time

import numpy as np
from clearml import OutputModel, Task
from PIL import Image

parser = argparse.ArgumentParser()
parser.add_argument("--lr", type=float, default=0.01)
parser.add_argument("--epochs", type=int, default=3)
parser.add_argument("--manifest", required=True)
parser.add_argument("--project", default="defaults-harness")
args = parser.parse_args()

task = Task.init(project_name=args.project, task_name="defaults run")
params = task.connect({"batch_size": 32, "optimizer": "adam"})
config = task.connect_configuration({"layers": [64, 32], "dropout": 0.1}, name="model config")
task.set_parameter("Extra/seed", 1234)
task.add_tags(["baseline", "v1"])

logger = task.get_logger()
for i in range(args.epochs):
    logger.report_scalar("loss", "train", value=1.0 / (i + 1), iteration=i)
logger.report_single_value("accuracy", 0.875)
image = os.path.join(os.path.dirname(args.manifest), "ramp.png")
Image.fromarray((np.arange(32 * 32 * 3) % 251).astype(np.uint8).reshape(32, 32, 3)).save(image)
logger.report_image("samples", "ramp", iteration=0, local_path=image)
media = os.path.join(os.path.dirname(args.manifest), "clip.txt")
with open(media, "w") as f:
    f.write("some media bytes\n" * 50)
logger.report_media("media", "clip", iteration=0, local_path=media)

array = np.linspace(0, 1, 12).reshape(3, 4)
task.upload_artifact("stats", {"a": 1, "b": [1, 2]})
task.upload_artifact("array", array)
blob = os.path.join(os.path.dirname(args.manifest), "notes.bin")
with open(blob, "wb") as f:
    f.write(bytes(range(256)) * 40)
task.upload_artifact("notes", blob)

weights = os.path.join(os.path.dirname(args.manifest), "weights.bin")
with open(weights, "wb") as f:
    f.write(os.urandom(4096))
model = OutputModel(task=task, name="defaults model", framework="custom")
model.update_weights(weights_filename=weights)

# The SDK's resource monitor sends its first :monitor:machine report 30 s after Task.init.
time.sleep(float(os.environ.get("DEFAULTS_RUN_SLEEP", "33")))
json.dump({"task": task.id, "project": args.project, "params": params, "config": config,
           "array": array.tolist(), "model": model.id, "weights": weights, "blob": blob,
           "image": image, "media": media}, open(args.manifest, "w"))
task.close()
print("defaults run done", file=sys.stderr)
