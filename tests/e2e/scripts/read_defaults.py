"""A second script, as a team mate would write it: it opens the task defaults_run.py made and reads
back what it reported through the SDK's own getters (use_model.py uses its model).

    read_defaults.py MANIFEST_JSON FAILED_PROJECT OUT_JSON

Files are compared by their SHA-256 (the test knows the originals).
"""
import hashlib
import json
import sys

import numpy as np
from clearml import Model, StorageManager, Task

manifest = json.load(open(sys.argv[1]))
failed_project, out_path = sys.argv[2], sys.argv[3]


def digest(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


task = Task.get_task(task_id=manifest["task"])
out = {
    "status": task.get_status(),
    "parameters": task.get_parameters(),
    "config": task.get_configuration_object("model config"),
    "config_dict": task.get_configuration_object_as_dict("model config"),
    "tags": task.get_tags(),
    "single_values": task.get_reported_single_values(),
    "stats": task.artifacts["stats"].get(),
    "array": np.asarray(task.artifacts["array"].get()).tolist(),
    "notes_sha256": digest(task.artifacts["notes"].get_local_copy()),
    "scalars": task.get_reported_scalars(),
    "output_models": [m.id for m in task.models["output"]],
}
samples = {}
for title, series in (("samples", "ramp"), ("media", "clip")):
    for event in task.get_debug_samples(title, series, n_last_iterations=1):
        samples[f"{title}/{series}"] = {"url": event["url"],
                                        "sha256": digest(StorageManager.get_local_copy(event["url"]))}
out["samples"] = samples
out["model_sha256"] = digest(Model(model_id=manifest["model"]).get_local_copy())
only_failed = {"status": ["failed"]}
out["failed"] = [t.id for t in Task.get_tasks(project_name=failed_project, task_filter=only_failed)]
own_failed = Task.get_tasks(project_name=manifest["project"], task_filter=only_failed)
out["failed_in_own_project"] = [t.id for t in own_failed]

json.dump(out, open(out_path, "w"), default=str)
