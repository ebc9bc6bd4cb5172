"""The projects service: create, get_by_id, get_all (the SDK's exact-name lookup), unique names
per company."""
from __future__ import annotations

import re
import uuid

import pytest


def test_create_and_read_back(api):
    name = f"project {uuid.uuid4().hex}"
    project_id = api.call("projects.create", "2.9", name=name, description="d", tags=["t"])["id"]
    project = api.call("projects.get_by_id", "2.9", project=project_id)["project"]
    assert {k: project[k] for k in ("id", "name", "description", "tags", "system_tags")} == {
        "id": project_id, "name": name, "description": "d", "tags": ["t"], "system_tags": []}
    assert project["created"]


def test_get_all_by_escaped_name_like_the_sdk(api):
    name = f"events-harness {uuid.uuid4().hex}"
    project_id = api.call("projects.create", name=name, description="")["id"]
    api.call("projects.create", name=name + " other", description="")
    got = api.call("projects.get_all", "2.9", name=f"^{re.escape(name)}$", only_fields=["id"],
                   search_hidden=True)
    assert got == {"projects": [{"id": project_id}]}
    assert api.call("projects.get_all", name="^no such project at all$")["projects"] == []


def test_names_are_unique_within_a_company(api):
    name = f"dup {uuid.uuid4().hex}"
    api.call("projects.create", name=name)
    code, sub, msg = api.error("projects.create", name=name)
    assert (code, sub) == (400, 801) and name in msg


@pytest.mark.parametrize("body,expected", [
    ({}, (400, 11, "name")),
    ({"name": "   "}, (400, 407, "name")),
    ({"name": ["x"]}, (400, 12, "name")),
    ({"name": "x", "tags": [1]}, (400, 12, "tags")),
])
def test_malformed_create(api, body, expected):
    code, sub, msg = api.error("projects.create", "2.9", **body)
    assert (code, sub) == expected[:2] and expected[2] in msg


def test_unknown_project_and_bad_pattern(api):
    assert api.error("projects.get_by_id", project="nope")[:2] == (400, 401)
    assert api.error("projects.get_all", name="[unclosed")[:2] == (400, 21)
    assert api.error("projects.get_all", order_by=["password"])[:2] == (400, 12)


def test_project_name_beyond_its_index_limit_is_400_12_not_503(api, client):
    """Regression: a name too big for the unique (company, name) index entry was a 503 (retried forever)."""
    code, subcode, msg = api.error("projects.create", name="\u4e2d" * 3000)
    assert (code, subcode) == (400, 12) and "field 'name'" in msg and "longer than 600 characters" in msg
    assert len(msg) < 200  # the value itself is not repeated
    name = uuid.uuid4().hex + "\U0001F600" * 568  # 600 characters, 2,304 bytes: fits
    assert api.call("projects.get_by_id",
                    project=api.call("projects.create", name=name)["id"])["project"]["name"] == name
