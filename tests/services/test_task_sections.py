"""Task sections the SDK edits in place (hyper parameters, configuration, artifacts, the task's models),
the status calls it makes (failed, stop, reset, delete, set_requirements), projects.update and
events.get_task_single_value_metrics; each validated, company-scoped, 4xx on bad input."""
from __future__ import annotations

import uuid

from tests.helpers import scalar

SINGLE_VALUE_ITER = -2147483648


def new_task(api, **fields) -> str:
    return api.call("tasks.create", "2.20", **{"name": "t", "type": "training", **fields})["id"]


def running_task(api) -> str:
    """What Task.init makes: a development task, then started (the SDK sends force to change it)."""
    task_id = new_task(api, system_tags=["development"])
    api.call("tasks.started", "2.20", task=task_id)
    return task_id


def param(section, name, value, **extra):
    return {"section": section, "name": name, "value": value, **extra}


def test_a_new_task_shows_the_sections_clearml_documents_always_have(api):
    task = api.call("tasks.get_by_id", "2.20", task=new_task(api))["task"]
    assert task["execution"] == {} and task["output"] == {} and task["hyperparams"] == {}
    assert task["configuration"] == {} and task["models"] == {"input": [], "output": []}


def test_create_and_edit_keep_runtime_container_and_models(api):
    task_id = new_task(api, container={"image": "python:3.11"}, runtime={"gpu_count": 0})
    api.call("tasks.edit", "2.20", task=task_id, runtime={"progress": "50"}, force=True)
    task = api.call("tasks.get_all", "2.20", id=[task_id], only_fields=["runtime", "container"])["tasks"][0]
    assert task == {"id": task_id, "runtime": {"progress": "50"}, "container": {"image": "python:3.11"}}


def test_hyper_params_merge_replace_and_delete(api):
    task_id = running_task(api)
    api.call("tasks.edit_hyper_params", "2.20", task=task_id, force=True,
             hyperparams=[param("Args", "lr", "0.1", type="float"), param("General", "bs", "32")])
    api.call("tasks.edit_hyper_params", "2.20", task=task_id, force=True,
             hyperparams=[param("Args", "epochs", "3")])
    got = api.call("tasks.get_hyper_params", "2.20", tasks=[task_id])["params"][0]
    assert got["task"] == task_id
    assert sorted((p["section"], p["name"], p["value"]) for p in got["hyperparams"]) == [
        ("Args", "epochs", "3"), ("Args", "lr", "0.1"), ("General", "bs", "32")]
    api.call("tasks.edit_hyper_params", "2.20", task=task_id, force=True,
             hyperparams=[param("Args", "seed", "1")], replace_hyperparams="section")
    assert api.call("tasks.delete_hyper_params", "2.20", task=task_id, force=True,
                    hyperparams=[{"section": "General"}])["deleted"] == 1
    task = api.call("tasks.get_by_id", "2.20", task=task_id)["task"]
    assert task["hyperparams"] == {"Args": {"seed": {"section": "Args", "name": "seed", "value": "1"}}}


def test_configuration_edit_get_names_and_delete(api):
    task_id = running_task(api)
    api.call("tasks.edit_configuration", "2.20", task=task_id, force=True,
             configuration=[{"name": "model", "value": "a = 1", "type": "dictionary"}, {"name": "empty"}])
    got = api.call("tasks.get_configurations", "2.20", tasks=[task_id], names=["model"])["configurations"]
    assert got == [{"task": task_id,
                    "configuration": [{"name": "model", "value": "a = 1", "type": "dictionary"}]}]
    names = api.call("tasks.get_configuration_names", "2.20", tasks=[task_id])["configurations"]
    assert names == [{"task": task_id, "names": ["model"]}]
    deleted = api.call("tasks.delete_configuration", "2.20", task=task_id, force=True,
                       configuration=["model"])
    assert deleted["deleted"] == 1
    assert list(api.call("tasks.get_by_id", task=task_id)["task"]["configuration"]) == ["empty"]


def test_artifacts_add_replace_by_key_and_mode_and_delete(api):
    task_id = running_task(api)
    artifact = {"key": "stats", "type": "dict", "uri": "http://x/files/a.json", "content_size": 5}
    api.call("tasks.add_or_update_artifacts", "2.20", task=task_id, force=True, artifacts=[artifact])
    api.call("tasks.add_or_update_artifacts", "2.20", task=task_id, force=True,
             artifacts=[{**artifact, "content_size": 6}, {"key": "stats", "type": "dict", "mode": "input"}])
    artifacts = api.call("tasks.get_by_id", task=task_id)["task"]["execution"]["artifacts"]
    assert sorted((a["key"], a["mode"], a.get("content_size")) for a in artifacts) == [
        ("stats", "input", None), ("stats", "output", 6)]
    api.call("tasks.delete_artifacts", "2.20", task=task_id, force=True, artifacts=[{"key": "stats"}])
    artifacts = api.call("tasks.get_by_id", task=task_id)["task"]["execution"]["artifacts"]
    assert [(a["key"], a["mode"]) for a in artifacts] == [("stats", "input")]


def test_task_models_add_replace_by_name_and_delete(api):
    task_id = running_task(api)
    api.call("tasks.add_or_update_model", "2.20", task=task_id, name="w", model="m1", type="output",
             iteration=12)
    api.call("tasks.add_or_update_model", "2.20", task=task_id, name="w", model="m2", type="output")
    api.call("tasks.add_or_update_model", "2.20", task=task_id, name="base", model="m0", type="input")
    task = api.call("tasks.get_by_id", task=task_id)["task"]
    assert task["models"] == {"input": [{"name": "base", "model": "m0"}],
                              "output": [{"name": "w", "model": "m2"}]}
    assert task["last_iteration"] == 12
    api.call("tasks.delete_models", "2.20", task=task_id, models=[{"name": "base", "type": "input"}])
    assert api.call("tasks.get_by_id", task=task_id)["task"]["models"]["input"] == []


def test_sections_of_a_task_that_is_not_new_need_force(api):
    task_id = new_task(api)
    api.call("tasks.started", "2.20", task=task_id)
    assert api.error("tasks.edit_hyper_params", "2.20", task=task_id,
                     hyperparams=[param("A", "b", "c")])[:2] == (400, 110)
    api.call("tasks.edit_hyper_params", "2.20", task=task_id, hyperparams=[param("A", "b", "c")], force=True)
    api.call("tasks.edit_hyper_params", "2.20", task=task_id, hyperparams=[param("Properties", "p", "1")])
    api.call("tasks.completed", "2.20", task=task_id)
    assert api.error("tasks.edit_configuration", "2.20", task=task_id, configuration=[{"name": "x"}],
                     force=True)[:2] == (400, 110)
    api.call("tasks.add_or_update_model", "2.20", task=task_id, name="w", model="m", type="input")
    hyperparams = api.call("tasks.get_by_id", task=task_id)["task"]["hyperparams"]
    assert sorted(hyperparams) == ["A", "properties"]


def test_bad_section_requests_are_4xx_naming_the_field(api):
    task_id = running_task(api)
    code, subcode, msg = api.error("tasks.edit_hyper_params", "2.20", task=task_id,
                                   hyperparams=[{"section": "A", "value": "1"}])
    assert (code, subcode) == (400, 12) and "hyperparams.0" in msg
    code, subcode, msg = api.error("tasks.add_or_update_artifacts", "2.20", task=task_id,
                                   artifacts=[{"key": 1}])
    assert (code, subcode) == (400, 12) and "artifacts.0" in msg
    assert api.error("tasks.add_or_update_model", "2.20", task=task_id, name="w", model="m",
                     type="sideways")[:2] == (400, 12)
    assert api.error("tasks.get_hyper_params", "2.20")[:2] == (400, 11)


def test_failed_stop_reset_and_set_requirements(api):
    task_id = running_task(api)
    api.call("tasks.set_requirements", "2.20", task=task_id, requirements={"pip": "numpy==2.0\n"})
    script = api.call("tasks.get_by_id", task=task_id)["task"]["script"]
    assert script["requirements"] == {"pip": "numpy==2.0\n"}
    api.call("tasks.stop", "2.20", task=task_id)
    assert api.call("tasks.get_by_id", task=task_id)["task"]["status"] == "stopped"
    api.call("tasks.failed", "2.20", task=task_id, status_reason="raised")
    assert api.call("tasks.get_all", "2.20", status=["failed"], id=[task_id])["tasks"][0]["id"] == task_id
    api.add_batch([scalar(task_id, 3)])
    api.call("tasks.add_or_update_model", "2.20", task=task_id, name="w", model="m1", type="output")
    reset = api.call("tasks.reset", "2.20", task=task_id)
    assert reset["events"] == {"deleted": True, "deleted_count": 1}
    task = api.call("tasks.get_by_id", task=task_id)["task"]
    assert task["status"] == "created" and task["models"]["output"] == [] and "started" not in task
    assert task["last_iteration"] == 0 and task["last_metrics"] == {}
    assert api.call("events.get_task_events", task=task_id)["total"] == 0
    api.call("tasks.publish", "2.20", task=task_id, force=True)
    assert api.error("tasks.stop", "2.20", task=task_id)[:2] == (400, 110)
    assert api.error("tasks.reset", "2.20", task=task_id)[:2] == (400, 110)
    assert api.call("tasks.reset", "2.20", task=task_id, force=True)["updated"] == 1


def test_delete_removes_the_task_and_its_events(api):
    task_id = running_task(api)
    api.add_batch([scalar(task_id, 1), scalar(task_id, 2)])
    assert api.error("tasks.delete", "2.20", task=task_id)[:2] == (400, 110)  # not created
    result = api.call("tasks.delete", "2.20", task=task_id, force=True)
    assert result == {"deleted": True, "events": {"deleted": True, "deleted_count": 2}}
    assert api.error("tasks.get_by_id", task=task_id)[:2] == (400, 101)


def test_another_companys_task_sections_do_not_exist(api, other):
    task_id = running_task(api)
    calls = [("tasks.edit_hyper_params", {"task": task_id, "hyperparams": []}),
             ("tasks.get_hyper_params", {"tasks": [task_id]}),
             ("tasks.get_configurations", {"tasks": [task_id]}),
             ("tasks.add_or_update_artifacts", {"task": task_id, "artifacts": []}),
             ("tasks.add_or_update_model", {"task": task_id, "name": "w", "model": "m", "type": "output"}),
             ("tasks.set_requirements", {"task": task_id, "requirements": {}}),
             ("tasks.failed", {"task": task_id}), ("tasks.reset", {"task": task_id}),
             ("tasks.delete", {"task": task_id, "force": True}),
             ("events.get_task_single_value_metrics", {"tasks": [task_id]})]
    for name, body in calls:
        assert other.error(name, "2.20", **body)[:2] == (400, 101), name
    assert api.call("tasks.get_by_id", task=task_id)["task"]["status"] == "in_progress"


def test_single_values_are_the_newest_scalars_at_the_single_value_iteration(api):
    task_id = running_task(api)
    api.add_batch([scalar(task_id, SINGLE_VALUE_ITER, "Summary", "accuracy", 0.5),
                   scalar(task_id, 1, "loss", "train", 2.0)])
    newer = scalar(task_id, SINGLE_VALUE_ITER, "Summary", "accuracy", 0.875)
    api.add_batch([{**newer, "timestamp": 2 ** 41}])
    (got,) = api.call("events.get_task_single_value_metrics", "2.20", tasks=[task_id])["tasks"]
    assert got == {"task": task_id, "values": [{"metric": "Summary", "variant": "accuracy", "value": 0.875,
                                                "timestamp": 2 ** 41, "iter": SINGLE_VALUE_ITER}]}
    assert api.error("events.get_task_single_value_metrics", "2.20", tasks="x")[:2] == (400, 12)


def test_projects_update(api, other):
    project = api.call("projects.create", name=f"upd-{uuid.uuid4().hex[:6]}")["id"]
    api.call("projects.update", "2.20", project=project, system_tags=["pipeline"], description="d")
    got = api.call("projects.get_by_id", project=project)["project"]
    assert got["system_tags"] == ["pipeline"] and got["description"] == "d"
    taken = api.call("projects.create", name=f"taken-{uuid.uuid4().hex[:6]}")
    taken_name = api.call("projects.get_by_id", project=taken["id"])["project"]["name"]
    assert api.error("projects.update", project=project, name=taken_name)[:2] == (400, 801)
    assert api.error("projects.update", project=project, name="  ")[:2] == (400, 407)
    assert other.error("projects.update", project=project, name="mine")[:2] == (400, 401)
