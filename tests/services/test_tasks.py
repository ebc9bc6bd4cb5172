"""The tasks service: create, read, edit, statuses, publishing locks events; malformed requests are 4xx."""
from __future__ import annotations

import pytest

from tests.helpers import scalar


def new_task(api, **fields) -> str:
    return api.call("tasks.create", "2.9", **{"name": "t", "type": "training", **fields})["id"]


def test_create_then_get_by_id(api):
    project = api.call("projects.create", "2.9", name=f"p-{id(api)}-create", description="")["id"]
    task_id = new_task(api, name="my task", project=project, comment="hello", tags=["a"],
                       system_tags=["development"], input={"view": {}}, script={"entry_point": "train.py"})
    task = api.call("tasks.get_by_id", "2.9", task=task_id)["task"]
    assert {k: task[k] for k in ("id", "name", "type", "status", "project", "comment", "tags",
                                 "system_tags")} == {
        "id": task_id, "name": "my task", "type": "training", "status": "created", "project": project,
        "comment": "hello", "tags": ["a"], "system_tags": ["development"]}
    assert task["script"] == {"entry_point": "train.py"}
    assert task["input"] == {"view": {}}
    assert task["last_iteration"] == 0 and task["last_metrics"] == {}


def test_a_task_made_by_its_first_event_is_the_same_row(api, task_id):
    api.add_batch([scalar(task_id, 7, value=2.5)])
    task = api.call("tasks.get_by_id", "2.9", task=task_id)["task"]
    assert task["id"] == task_id and task["status"] == "created" and task["last_iteration"] == 7
    (variants,) = task["last_metrics"].values()
    assert list(variants.values()) == [{"metric": "loss", "variant": "total", "value": 2.5, "min_value": 2.5,
                                        "max_value": 2.5}]
    assert [t["id"] for t in api.call("tasks.get_all", "2.9", id=[task_id])["tasks"]] == [task_id]


def test_events_go_to_a_task_created_through_tasks_create(api):
    task_id = new_task(api)
    assert api.add_batch([scalar(task_id, 1)])["added"] == 1
    assert api.call("tasks.get_by_id", task=task_id)["task"]["last_iteration"] == 1


def test_get_all_only_fields_and_status(api):
    a, b = new_task(api, name="gа-1"), new_task(api, name="ga-2")
    api.call("tasks.started", "2.9", task=b)
    got = api.call("tasks.get_all", "2.9", id=[a, b], only_fields=["status", "status_message", "id"])["tasks"]
    assert sorted(got, key=lambda t: t["id"]) == sorted([{"id": a, "status": "created"},
                                                         {"id": b, "status": "in_progress"}],
                                                        key=lambda t: t["id"])
    running = api.call("tasks.get_all", "2.9", id=[a, b], status=["in_progress"])["tasks"]
    assert [t["id"] for t in running] == [b]
    nested = api.call("tasks.get_all", id=[a], only_fields=["script.entry_point", "name"])["tasks"]
    assert nested == [{"id": a, "name": "gа-1"}]


def test_get_all_filters_by_name_project_tags_and_pages(api):
    project = api.call("projects.create", name=f"filters-{id(api)}")["id"]
    ids = [new_task(api, name=f"run {i}", project=project, tags=["even" if i % 2 == 0 else "odd"])
           for i in range(5)]
    listed = api.call("tasks.get_all", project=[project], order_by=["-name"], only_fields=["name"])["tasks"]
    assert [t["name"] for t in listed] == [f"run {i}" for i in reversed(range(5))]
    assert [t["id"] for t in api.call("tasks.get_all", project=[project], name="^run [13]$")["tasks"]] == \
        [ids[1], ids[3]]
    assert [t["id"] for t in api.call("tasks.get_all", project=[project], tags=["-odd"])["tasks"]] == \
        ids[0::2]
    page = api.call("tasks.get_all", project=[project], order_by=["name"], page=1, page_size=2)["tasks"]
    assert [t["id"] for t in page] == ids[2:4]


def test_status_lifecycle_and_timestamps(api):
    task_id = new_task(api)
    started = api.call("tasks.started", "2.9", task=task_id, status_reason="go")
    assert started["started"] == 1 and started["fields"]["status"] == "in_progress"
    api.call("tasks.ping", "2.9", task=task_id)
    api.call("tasks.stopped", "2.9", task=task_id)
    done = api.call("tasks.completed", "2.9", task=task_id, status_message="bye")
    assert done["fields"]["status"] == "completed"
    task = api.call("tasks.get_by_id", task=task_id)["task"]
    assert task["status"] == "completed" and task["status_message"] == "bye"
    assert task["created"] <= task["started"] <= task["completed"]


def test_invalid_transitions_are_400_110_unless_forced(api):
    task_id = new_task(api)
    api.call("tasks.started", task=task_id)
    code, sub, msg = api.error("tasks.publish", "2.9", task=task_id)
    assert (code, sub) == (400, 110) and "in_progress" in msg
    api.call("tasks.publish", task=task_id, force=True)
    for action in ("tasks.started", "tasks.stopped", "tasks.completed"):
        assert api.error(action, task=task_id, force=True)[:2] == (400, 110)


def test_publishing_locks_the_task_for_events(api):
    task_id = new_task(api)
    api.add_batch([scalar(task_id, 1)])
    api.call("tasks.started", task=task_id)
    api.call("tasks.completed", task=task_id)
    published = api.call("tasks.publish", "2.9", task=task_id)
    assert published["fields"]["status"] == "published"
    assert api.error("events.add", "2.1", **scalar(task_id, 2))[:2] == (400, 101)
    assert api.batch([scalar(task_id, 3)]).status_code == 400
    assert api.add_batch([scalar(task_id, 4, allow_locked=True)])["added"] == 1
    assert api.error("tasks.edit", task=task_id, name="x", force=True)[:2] == (400, 110)


def test_edit_changes_fields_and_sections(api):
    task_id = new_task(api)
    project = api.call("projects.create", name=f"edit-{id(api)}")["id"]
    result = api.call("tasks.edit", "2.9", task=task_id, name="renamed", project=project, comment="c",
                      execution={"parameters": {"lr": "0.1"}}, output_dest="file:///tmp/out",
                      hyperparams={"Args": {"lr": {"section": "Args", "name": "lr", "value": "0.1"}}})
    assert result["updated"] == 1 and result["fields"]["name"] == "renamed"
    task = api.call("tasks.get_by_id", task=task_id)["task"]
    assert (task["name"], task["project"], task["comment"]) == ("renamed", project, "c")
    assert task["execution"] == {"parameters": {"lr": "0.1"}}
    assert task["output"] == {"destination": "file:///tmp/out"}
    assert task["hyperparams"]["Args"]["lr"]["value"] == "0.1"
    api.call("tasks.started", task=task_id)
    assert api.error("tasks.edit", task=task_id, name="again")[:2] == (400, 110)
    api.call("tasks.edit", task=task_id, name="again", force=True)
    assert api.call("tasks.get_by_id", task=task_id)["task"]["name"] == "again"


@pytest.mark.parametrize("action,body,expected", [
    ("tasks.create", {"type": "training"}, (400, 11, "name")),
    ("tasks.create", {"name": "x"}, (400, 11, "type")),
    ("tasks.create", {"name": "x", "type": "nonsense"}, (400, 12, "type")),
    ("tasks.create", {"name": 5, "type": "training"}, (400, 12, "name")),
    ("tasks.create", {"name": "x", "type": "training", "tags": "notalist"}, (400, 12, "tags")),
    ("tasks.create", {"name": "x", "type": "training", "project": "no-such-project"},
     (400, 401, "no-such-project")),
    ("tasks.get_by_id", {}, (400, 11, "task")),
    ("tasks.get_all", {"status": ["running"]}, (400, 12, "status")),
    ("tasks.get_all", {"order_by": ["secret_column"]}, (400, 12, "order_by")),
    ("tasks.get_all", {"name": "(unclosed"}, (400, 21, "")),
    ("tasks.get_all", {"page": -1, "page_size": 5}, (400, 12, "page")),
    ("tasks.edit", {"task": "x", "execution": {"queue": 5}}, (400, 12, "execution.queue")),
    ("tasks.started", {"force": "yes", "task": "x"}, (400, 12, "force")),
    ("tasks.ping", {}, (400, 11, "task")),
])
def test_malformed_requests_are_4xx_naming_the_field(api, action, body, expected):
    code, sub, msg = api.error(action, "2.9", **body)
    assert (code, sub) == expected[:2], msg
    assert expected[2] in msg


@pytest.mark.parametrize("action", ["tasks.get_by_id", "tasks.edit", "tasks.started", "tasks.stopped",
                                    "tasks.completed", "tasks.publish", "tasks.ping"])
def test_unknown_task_is_invalid_task_id(api, action):
    assert api.error(action, "2.9", task="no-such-task")[:2] == (400, 101)
