"""A script that raises after Task.init (SDK defaults): the task must end 'failed'."""
from clearml import Task

task = Task.init(project_name="failing-harness", task_name="fails")
print("task", task.id)
raise RuntimeError("the training diverged")
