"""Company scoping: every read and write is the caller's company's; another company's data does not exist."""
from __future__ import annotations

import uuid

import pytest

from tests.helpers import ApiHelper, scalar


def test_another_companys_task_is_invalid_and_its_events_invisible(api, other, task_id):
    api.add_batch([scalar(task_id, 1)])
    for action in ("tasks.get_by_id", "events.get_task_events", "tasks.started", "tasks.edit",
                   "tasks.publish", "tasks.ping"):
        assert other.error(action, "2.9", task=task_id)[:2] == (400, 101), action
    assert other.call("tasks.get_all", id=[task_id])["tasks"] == []
    assert api.call("tasks.get_by_id", task=task_id)["task"]["status"] == "created"


def test_another_companys_task_refuses_events(api, other, task_id):
    api.add_batch([scalar(task_id, 1)])
    response = other.batch([scalar(task_id, 2)])
    assert other.check_error(response)[:2] == (400, 101)
    assert api.call("events.get_task_events", task=task_id)["total"] == 1


def test_tasks_created_through_the_api_are_scoped_too(api, other):
    task_id = api.call("tasks.create", name="mine", type="training")["id"]
    assert other.error("tasks.get_by_id", task=task_id)[:2] == (400, 101)
    assert other.error("events.add", **scalar(task_id, 1))[:2] == (400, 101)


def test_projects_are_per_company(api, other):
    name = f"shared name {uuid.uuid4().hex}"
    mine = api.call("projects.create", name=name)["id"]
    theirs = other.call("projects.create", name=name)["id"]  # same name, other company: allowed
    assert mine != theirs
    assert other.error("projects.get_by_id", project=mine)[:2] == (400, 401)
    assert [p["id"] for p in other.call("projects.get_all", name=f"^{name}$")["projects"]] == [theirs]
    assert other.error("tasks.create", name="x", type="training", project=mine)[:2] == (400, 401)


def test_a_token_carries_its_company(app, other, api):
    login = other.client.get("/auth.login")
    token = other.check_ok(login)["token"]
    as_other = ApiHelper(app, app.test_client(authorization=f"Bearer {token}"))
    task_id = as_other.call("tasks.create", name="theirs", type="training")["id"]
    assert api.error("tasks.get_by_id", task=task_id)[:2] == (400, 101)
    assert as_other.call("tasks.get_by_id", task=task_id)["task"]["name"] == "theirs"


def _events(task: str) -> list[dict]:
    return [scalar(task, i) for i in range(3)] + [
        {"type": "log", "task": task, "msg": f"line {i}", "timestamp": 1000 + i} for i in range(3)] + [
        {"type": "plot", "task": task, "metric": "roc", "variant": "v", "iter": i, "plot_str": "{}"}
        for i in range(3)] + [
        {"type": "training_debug_image", "task": task, "metric": "img", "variant": "v", "iter": i,
         "url": f"u{i}"}
        for i in range(3)]


SCROLLING = [
    ("events.get_task_events", "2.1", lambda t: {"task": t, "batch_size": 1}),
    ("events.get_task_log", "1.5", lambda t: {"task": t, "batch_size": 1}),
    ("events.get_task_log", "1.7", lambda t: {"task": t, "batch_size": 1}),
    ("events.get_scalar_metric_data", "2.1", lambda t: {"task": t, "metric": "loss", "batch_size": 1}),
    ("events.get_task_plots", "2.1", lambda t: {"task": t, "iters": 1}),
    ("events.get_multi_task_plots", "2.1", lambda t: {"tasks": [t], "iters": 1}),
    ("events.debug_images", "2.1", lambda t: {"task": t, "iters": 1}),
    ("events.debug_images", "2.7", lambda t: {"metrics": [{"task": t, "metric": "img"}], "iters": 1}),
]


@pytest.mark.parametrize("name,version,request_for", SCROLLING, ids=[f"{n}-{v}" for n, v, _ in SCROLLING])
def test_a_scroll_token_cannot_move_to_another_companys_task(api, other, name, version, request_for):
    """A scroll id is bound to its company and task(s): another company's caller can neither
    continue it on its own task (400/1104) nor reach the issuer's task with it (400/101)."""
    mine, theirs = uuid.uuid4().hex, uuid.uuid4().hex
    api.add_batch(_events(mine))
    other.add_batch(_events(theirs))
    token = api.call(name, version, **request_for(mine))["scroll_id"]
    assert api.call(name, version, **request_for(mine), scroll_id=token)  # valid for its issuer
    code, subcode, msg = other.error(name, version, **request_for(theirs), scroll_id=token)
    assert (code, subcode) == (400, 1104), msg
    assert other.error(name, version, **request_for(mine), scroll_id=token)[:2] == (400, 101)
    own = other.call(name, version, **request_for(theirs))["scroll_id"]  # their own scroll works
    assert api.error(name, version, **request_for(mine), scroll_id=own)[:2] == (400, 1104)
