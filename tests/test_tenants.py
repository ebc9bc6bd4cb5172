"""Company scoping: every read and write is the caller's company's; another company's data does not exist."""
from __future__ import annotations

import uuid

import pytest

from tests.conftest import make_credentials
from tests.helpers import ApiHelper, basic_auth, scalar


@pytest.fixture(scope="module")
def other(app, database_url) -> ApiHelper:
    """The API as seen by another company's caller."""
    key, secret = make_credentials(database_url, f"other company {uuid.uuid4().hex[:8]}")
    return ApiHelper(app, app.test_client(authorization=basic_auth(key, secret)))


def test_another_companys_task_is_invalid_and_its_events_invisible(api, other, task_id):
    api.add_batch([scalar(task_id, 1)])
    for action in ("tasks.get_by_id", "events.get_task_events", "tasks.started", "tasks.edit", "tasks.publish",
                   "tasks.ping"):
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
