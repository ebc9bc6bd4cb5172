"""The models service: what OutputModel.update_weights and InputModel call; scoped to the company."""
from __future__ import annotations

import uuid


def new_model(api, **fields) -> str:
    return api.call("models.create", "2.20", **{"uri": "file:///w.bin", "name": "m", **fields})["id"]


def test_create_get_and_list(api):
    project = api.call("projects.create", name=f"models-{uuid.uuid4().hex[:6]}")["id"]
    task = api.call("tasks.create", name="t", type="training")["id"]
    model_id = new_model(api, name="resnet", project=project, task=task, framework="PyTorch",
                         labels={"cat": 1}, design={"design": "x"}, ready=False, tags=["a"],
                         metadata=[{"key": "acc", "type": "float", "value": "0.9"}])
    model = api.call("models.get_by_id", "2.20", model=model_id)["model"]
    assert {k: model[k] for k in ("id", "name", "project", "task", "framework", "labels", "design", "ready",
                                  "tags", "uri")} == {
        "id": model_id, "name": "resnet", "project": project, "task": task, "framework": "PyTorch",
        "labels": {"cat": 1}, "design": {"design": "x"}, "ready": False, "tags": ["a"],
        "uri": "file:///w.bin"}
    assert model["metadata"] == {"acc": {"key": "acc", "type": "float", "value": "0.9"}}
    listed = api.call("models.get_all", "2.20", task=[task], only_fields=["name", "uri"])["models"]
    assert listed == [{"id": model_id, "name": "resnet", "uri": "file:///w.bin"}]
    assert api.call("models.get_all", "2.20", task=[task], ready=True)["models"] == []


def test_edit_set_ready_metadata_and_delete(api):
    model_id = new_model(api, ready=False)
    api.call("models.edit", "2.20", model=model_id, uri="http://x/files/w2.bin", iteration=7, comment="c")
    api.call("models.add_or_update_metadata", "2.20", model=model_id,
             metadata=[{"key": "a", "value": "1"}, {"key": "b", "value": "2"}])
    api.call("models.add_or_update_metadata", "2.20", model=model_id, metadata=[{"key": "a", "value": "3"}])
    assert api.call("models.set_ready", "2.20", model=model_id)["updated"] == 1
    model = api.call("models.get_by_id", model=model_id)["model"]
    assert (model["uri"], model["last_iteration"], model["comment"], model["ready"]) == (
        "http://x/files/w2.bin", 7, "c", True)
    assert {k: v["value"] for k, v in model["metadata"].items()} == {"a": "3", "b": "2"}
    assert api.error("models.edit", model=model_id, uri="http://elsewhere")[:2] == (400, 202)
    assert api.error("models.delete", model=model_id)[:2] == (400, 202)
    deleted = api.call("models.delete", model=model_id, force=True)
    assert deleted == {"deleted": True, "url": "http://x/files/w2.bin"}
    assert api.error("models.get_by_id", model=model_id)[:2] == (400, 200)


def test_update_for_task_makes_the_tasks_output_model(api):
    task = api.call("tasks.create", name="trainer", type="training")["id"]
    made = api.call("models.update_for_task", "2.20", task=task, uri="file:///out.bin", iteration=3)
    assert made["created"] is True
    assert api.call("models.get_by_id", model=made["id"])["model"]["name"] == "trainer"
    assert api.call("tasks.get_by_id", task=task)["task"]["models"]["output"] == [
        {"name": "Output Model", "model": made["id"]}]
    other_model = new_model(api)
    again = api.call("models.update_for_task", "2.20", task=task, override_model_id=other_model)
    assert (again["id"], again["created"]) == (other_model, False)
    assert api.call("tasks.get_by_id", task=task)["task"]["models"]["output"] == [
        {"name": "Output Model", "model": other_model}]
    assert api.error("models.update_for_task", task=task)[:2] == (400, 11)


def test_bad_requests_are_4xx_naming_the_field(api):
    code, subcode, msg = api.error("models.create", "2.20", name="m")
    assert (code, subcode) == (400, 11) and "uri" in msg
    code, subcode, msg = api.error("models.create", "2.20", name="m", uri="u", labels={"cat": "one"})
    assert (code, subcode) == (400, 12) and "labels" in msg
    code, subcode, msg = api.error("models.add_or_update_metadata", "2.20", model=new_model(api),
                                   metadata=[{"value": "1"}])
    assert (code, subcode) == (400, 12) and "metadata.0" in msg
    assert api.error("models.create", "2.20", name="m", uri="u", project="nope")[:2] == (400, 401)
    assert api.error("models.get_all", "2.20", order_by=["size"])[:2] == (400, 12)


def test_another_companys_models_do_not_exist(api, other):
    model_id = new_model(api, ready=False)
    for name, body in (("models.get_by_id", {}), ("models.edit", {"name": "x"}), ("models.set_ready", {}),
                       ("models.delete", {"force": True}),
                       ("models.add_or_update_metadata", {"metadata": []})):
        assert other.error(name, "2.20", model=model_id, **body)[:2] == (400, 200), name
    assert other.call("models.get_all", id=[model_id])["models"] == []
    task = api.call("tasks.create", name="t", type="training")["id"]
    assert other.error("models.update_for_task", task=task, uri="u")[:2] == (400, 101)
    assert other.error("models.create", uri="u", name="m", task=task)[:2] == (400, 101)
    assert api.call("models.get_by_id", model=model_id)["model"]["name"] == "m"
