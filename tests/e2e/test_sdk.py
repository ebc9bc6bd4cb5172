"""The official clearml SDK (pinned in the test extras) runs an unmodified training script against a
real gunicorn; everything it reported is read back through events.get_task_events and tasks.*,
and compared value for value with what the script says it sent."""
from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path
from urllib.parse import urlparse

import pytest

from tests.e2e.conftest import SCRIPTS

pytestmark = pytest.mark.e2e

SINGLE_VALUE_ITER = -2147483648


def all_events(http, server, task_id: str) -> list[dict]:
    events, scroll_id = [], None
    while True:
        body = {"task": task_id, "batch_size": 1000, **({"scroll_id": scroll_id} if scroll_id else {})}
        response = http.post(f"{server}/v2.9/events.get_task_events", json=body)
        assert response.status_code == 200, response.text
        data = response.json()["data"]
        if not data["events"]:
            return events
        events += data["events"]
        scroll_id = data["scroll_id"]


@pytest.fixture(scope="module")
def stored(training_run, http, server) -> list[dict]:
    return all_events(http, server, training_run.sent["task"])


def test_the_run_succeeds_quietly_and_stays_local(training_run, egress_guard):
    assert egress_guard.attempts == []
    for complaint in ("failed logging task to backend", "Failed reporting metrics", "Not uploading",
                      "Could not", "Traceback"):
        assert complaint not in training_run.stderr and complaint not in training_run.stdout, complaint


def test_every_event_type_arrives_in_the_expected_numbers(training_run, stored):
    sent = training_run.sent
    counts = Counter(e["type"] for e in stored)
    assert counts["training_stats_scalar"] == len(sent["scalars"]) + len(sent["single"])
    assert counts["training_debug_image"] == len(sent["images"])
    assert counts["plot"] == len(sent["plots"])
    assert counts["log"] >= 1
    assert set(counts) == {"training_stats_scalar", "training_debug_image", "plot", "log"}
    assert {e["task"] for e in stored} == {sent["task"]}


def test_scalars_come_back_value_for_value(training_run, stored):
    got = {(e["metric"], e["variant"], e["iter"]): e["value"]
           for e in stored if e["type"] == "training_stats_scalar"}
    for metric, variant, iteration, value in training_run.sent["scalars"]:
        assert got[(metric, variant, iteration)] == value, (metric, variant, iteration)
    name, value = next(iter(training_run.sent["single"].items()))
    assert got[("Summary", name, SINGLE_VALUE_ITER)] == value


def test_console_output_and_report_text_come_back_with_their_levels(training_run, stored):
    logs = [e for e in stored if e["type"] == "log"]
    by_level = defaultdict(str)
    for e in logs:
        by_level[e["level"]] += e["msg"] + "\n"
    everything = "".join(by_level.values())
    for line in training_run.sent["stdout"]:
        assert line in everything
    for line in training_run.sent["stderr"]:
        assert line in by_level["error"]
    for level, text in training_run.sent["texts"]:
        assert text in by_level[level], (level, dict(by_level))
    assert all(e.get("worker") for e in logs)


def test_debug_images_point_at_uploaded_files(training_run, stored):
    images = sorted((e for e in stored if e["type"] == "training_debug_image"), key=lambda e: e["iter"])
    assert [[e["metric"], e["variant"], e["iter"]] for e in images] == training_run.sent["images"]
    for e in images:
        url = urlparse(e["url"])
        assert url.scheme == "file"
        path = Path(url.path)
        assert path.is_file() and path.stat().st_size > 0
        assert training_run.upload_dir in path.parents
        assert e["url"].endswith(e["key"])


def test_plots_come_back_as_plotly_figures(training_run, stored):
    plots = {(e["metric"], e["variant"], e["iter"]): json.loads(e["plot_str"])
             for e in stored if e["type"] == "plot"}
    for metric, variant, iteration, kind in training_run.sent["plots"]:
        figure = plots[(metric, variant, iteration)]
        assert figure["data"][0]["type"] == kind, (metric, figure["data"][0].get("type"))
    assert plots[("confusion", "validation", 1)]["data"][0]["z"] == [[5, 2], [1, 7]] or \
        plots[("confusion", "validation", 1)]["data"][0]["z"] == [[5, 1], [2, 7]]
    assert plots[("curves", "square", 1)]["data"][0]["y"] == [x * x for x in range(10)]


def test_the_task_is_completed_in_its_project(training_run, http, server):
    sent = training_run.sent
    task = http.post(f"{server}/tasks.get_by_id", json={"task": sent["task"]}).json()["data"]["task"]
    assert task["status"] == "completed"
    assert task["name"] == sent["name"]
    assert task["type"] == "training"
    assert task["last_iteration"] == 299
    assert task["started"] <= task["completed"]
    project = http.post(f"{server}/projects.get_by_id",
                        json={"project": task["project"]}).json()["data"]["project"]
    assert project["name"] == sent["project"]
    last = {(m["metric"], m["variant"]): m for v in task["last_metrics"].values() for m in v.values()}
    assert last[("loss", "train")]["value"] == 1.0 / 300
    assert last[("loss", "train")]["max_value"] == 1.0


def test_sdk_get_last_scalar_metrics(read_back):
    """Task.get_last_scalar_metrics() reads tasks.get_by_id's last_metrics."""
    last = read_back("last_scalars")
    assert last["loss"]["train"]["last"] == 1.0 / 300
    assert last["loss"]["train"]["min"] == 1.0 / 300
    assert last["loss"]["train"]["max"] == 1.0


def test_tokens_expire_and_the_sdk_logs_in_again(sdk, tmp_path):
    """Short tokens (clearml.conf api.auth.req_token_expiration_sec) are renewed by the SDK, and after
    a 401 the SDK logs in again with its key pair (scripts/relogin.py says what 2.1.12 does exactly)."""
    config = tmp_path / "clearml.conf"
    config.write_text(Path(sdk.env["CLEARML_CONFIG_FILE"]).read_text()
                      + "\napi { auth { req_token_expiration_sec: 362 } }\n")
    out = tmp_path / "relogin.json"
    type(sdk)(dict(sdk.env, CLEARML_CONFIG_FILE=str(config)), sdk.home).run(
        str(SCRIPTS / "relogin.py"), str(out))
    result = json.loads(out.read_text())
    assert result["lifetime"] == 362                  # auth.login honoured expiration_sec
    assert result["renewed"] and result["expired_call"] == []
    assert result["refused_call"] == "401/30"
    assert result["replaced_forged"] and result["next_call"] == []
