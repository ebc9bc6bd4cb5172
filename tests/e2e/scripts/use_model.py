"""A task that starts from another task's model (InputModel), as a fine-tuning script would.

    use_model.py MODEL_ID PROJECT OUT_JSON
"""
import hashlib
import json
import sys

from clearml import InputModel, Task

model_id, project, out_path = sys.argv[1:4]
task = Task.init(project_name=project, task_name="uses the model")
model = InputModel(model_id=model_id)
task.connect(model)
weights = hashlib.sha256(open(model.get_local_copy(), "rb").read()).hexdigest()
task.close()
json.dump({"task": task.id, "input_model_sha256": weights,
           "input_models": dict(Task.get_task(task_id=task.id).input_models_id)}, open(out_path, "w"))
