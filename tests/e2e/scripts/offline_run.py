"""A training run in clearml's offline mode (no server), zipped on close; writes a manifest.

    offline_run.py MANIFEST_JSON
"""
import json
import sys

from clearml import Task

Task.set_offline(True)
task = Task.init(project_name="events-offline", task_name="offline run", reuse_last_task_id=False,
                 auto_resource_monitoring=False, auto_connect_arg_parser=False,
                 auto_connect_frameworks={"detect_repository": False, "matplotlib": False,
                                          "tensorflow": False, "tensorboard": False, "pytorch": False,
                                          "xgboost": False, "scikit": False, "fastai": False,
                                          "lightgbm": False, "hydra": False,
                                          "tfdefines": False, "joblib": False, "megengine": False,
                                          "catboost": False, "gradio": False})
logger = task.get_logger()
sent = {"scalars": [], "lines": []}
for i in range(50):
    logger.report_scalar("offline", "value", value=i * 0.25, iteration=i)
    sent["scalars"].append(["offline", "value", i, i * 0.25])
logger.report_scatter2d("offline plot", "points", iteration=3, scatter=[[1, 2], [3, 4]])
for i in range(3):
    print(f"offline line {i}")
    sent["lines"].append(f"offline line {i}")
folder = task.get_offline_mode_folder()
task.close()
sent["zip"] = f"{folder}.zip"
with open(sys.argv[1], "w") as out:
    json.dump(sent, out)
