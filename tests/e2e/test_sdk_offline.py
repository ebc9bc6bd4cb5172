"""An offline clearml session (no server at all), zipped, then imported with
Task.import_offline_session: projects/tasks calls, tasks.edit with the offline task's fields,
one add_batch per flushed line of the session (original timestamps kept), tasks.completed."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.conftest import SCRIPTS
from tests.e2e.test_sdk import all_events

pytestmark = pytest.mark.e2e


def test_import_offline_session(sdk, http, server, egress_guard, tmp_path):
    manifest = tmp_path / "offline.json"
    offline_env = dict(sdk.env, CLEARML_API_HOST="http://127.0.0.1:9", CLEARML_OFFLINE_MODE="1")
    offline = type(sdk)(offline_env, sdk.home)
    offline.run(str(SCRIPTS / "offline_run.py"), str(manifest))
    sent = json.loads(manifest.read_text())
    assert Path(sent["zip"]).is_file()

    imported = tmp_path / "imported.json"
    sdk.run(str(SCRIPTS / "import_offline.py"), sent["zip"], str(imported))
    task_id = json.loads(imported.read_text())["task"]

    task = http.post(f"{server}/tasks.get_by_id", json={"task": task_id}).json()["data"]["task"]
    assert task["status"] == "completed"
    assert task["name"] == "offline run"
    project = http.post(f"{server}/projects.get_by_id", json={"project": task["project"]}).json()["data"]
    assert project["project"]["name"] == "events-offline"

    events = all_events(http, server, task_id)
    scalars = [[e["metric"], e["variant"], e["iter"], e["value"]] for e in events
               if e["type"] == "training_stats_scalar"]
    assert sorted(scalars, key=lambda s: s[2]) == sent["scalars"]
    assert [e["metric"] for e in events if e["type"] == "plot"] == ["offline plot"]
    console = "\n".join(e["msg"] for e in events if e["type"] == "log")
    for line in sent["lines"]:
        assert line in console
    assert egress_guard.attempts == []
