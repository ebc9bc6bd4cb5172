"""Read a task back through one of the clearml SDK's own getters and dump what it returns as JSON.

    read_back.py TASK_ID GETTER OUT_JSON    (GETTER: scalars, console, plots, debug_samples, last_scalars)
"""
import json
import sys

from clearml import Task

task_id, getter, out_path = sys.argv[1], sys.argv[2], sys.argv[3]
task = Task.get_task(task_id=task_id)
getters = {
    "scalars": lambda: task.get_reported_scalars(),
    "console": lambda: task.get_reported_console_output(
        number_of_reports=int(sys.argv[4]) if len(sys.argv) > 4 else 1000),
    "plots": lambda: task.get_reported_plots(),
    "debug_samples": lambda: task.get_debug_samples("samples", "random noise", n_last_iterations=10),
    "last_scalars": lambda: task.get_last_scalar_metrics(),
}
with open(out_path, "w") as out:
    json.dump(getters[getter](), out, default=str)
