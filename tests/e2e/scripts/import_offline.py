"""Replay a zipped offline session to the server: Task.import_offline_session(zip); prints the task id.

    import_offline.py ZIP OUT_JSON
"""
import json
import sys

from clearml import Task

task_id = Task.import_offline_session(sys.argv[1])
with open(sys.argv[2], "w") as out:
    json.dump({"task": task_id}, out)
