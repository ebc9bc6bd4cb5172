"""Unmodified scripts with the clearml SDK's defaults against a real gunicorn: the only settings are
the server addresses (CLEARML_FILES_HOST = this service's /files) and the credentials, as `make run`
prints them. No clearml.conf, no quiet Task.init arguments: argparse is captured, resources are
monitored, repositories detected, files go to the default files server.

Four scripts, two at a time: defaults_run.py reports hyper parameters, configuration, tags, a single
value, a debug image and media, three artifacts and a model, then waits 33 s for the resource
monitor's first report, while fails.py raises; then read_defaults.py reads all of it back through the
SDK's getters while use_model.py uses the model in a task of its own. Each must exit as its author
intends with no ERROR or "Action failed" line from the SDK, and the egress guard may see only the
SDK's own update check (its repository-detection thread asks updates.clear.ml). The first two work in
projects of their own: two scripts that create one new project at the same moment race (with
ClearML's server too), and the loser logs projects.create's 400.

The scripts run as copies outside this git checkout, as a user's script outside a repository: the
SDK's repository detection then runs no git commands in its background thread. Inside a checkout,
clearml 2.1.12 can hang for its 300 s detection timeout in task.close() when Task.init forks its
reporting process while that thread is starting git (the fork inherits the pipe git's start-up
waits on); that is the SDK's race, not this service's.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.conftest import SCRIPTS, EgressGuard

pytestmark = pytest.mark.e2e

SDK_COMPLAINT = re.compile(r" - ERROR - |Action failed|Failed uploading|Not uploading")
UPDATE_CHECK = b"CONNECT updates.clear.ml:443 "


@dataclass
class Runs:
    manifest: dict
    back: dict
    fails_task: str
    outputs: dict[str, subprocess.CompletedProcess]
    guard: EgressGuard
    consumer: dict


def defaults_environment(server: str, credentials: tuple[str, str], home: Path, proxy_port: int) -> dict:
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "TMPDIR")}
    proxy = f"http://127.0.0.1:{proxy_port}"
    return {**keep, "HOME": str(home), "CLEARML_API_HOST": server, "CLEARML_WEB_HOST": server,
            "CLEARML_FILES_HOST": f"{server}/files", "CLEARML_API_ACCESS_KEY": credentials[0],
            "CLEARML_API_SECRET_KEY": credentials[1],
            "HTTP_PROXY": proxy, "HTTPS_PROXY": proxy, "http_proxy": proxy, "https_proxy": proxy,
            "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}


def sha256(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def runs(server, credentials, tmp_path_factory) -> Runs:
    guard = EgressGuard()
    home = tmp_path_factory.mktemp("defaults-home")
    work = tmp_path_factory.mktemp("defaults-work")
    env = defaults_environment(server, credentials, home, guard.port)
    scripts = work / "scripts"
    scripts.mkdir()
    for name in ("defaults_run.py", "fails.py", "read_defaults.py", "use_model.py"):
        shutil.copy(SCRIPTS / name, scripts / name)

    def start(*args: str) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, *args], env=env, cwd=work, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)

    def finish(name: str, proc: subprocess.Popen) -> subprocess.CompletedProcess:
        try:
            stdout, stderr = proc.communicate(timeout=240)
        except subprocess.TimeoutExpired:
            proc.kill()
            stdout, stderr = proc.communicate()
        outputs[name] = subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)
        return outputs[name]

    outputs: dict[str, subprocess.CompletedProcess] = {}
    try:
        manifest_path = work / "manifest.json"
        fails = start(str(scripts / "fails.py"))
        main = start(str(scripts / "defaults_run.py"), "--lr", "0.25", "--epochs", "4",
                     "--manifest", str(manifest_path))
        finish("fails", fails)
        finish("defaults_run", main)
        assert outputs["defaults_run"].returncode == 0, outputs["defaults_run"].stderr[-6000:]
        fails_task = re.search(r"^task (\w+)$", outputs["fails"].stdout, re.M).group(1)
        manifest = json.loads(manifest_path.read_text())
        back_path, consumer_path = work / "back.json", work / "consumer.json"
        reader = start(str(scripts / "read_defaults.py"), str(manifest_path), "failing-harness",
                       str(back_path))
        consumer = start(str(scripts / "use_model.py"), manifest["model"], manifest["project"],
                         str(consumer_path))
        for name, proc in (("read_defaults", reader), ("use_model", consumer)):
            assert finish(name, proc).returncode == 0, outputs[name].stderr[-6000:]
        yield Runs(manifest, json.loads(back_path.read_text()), fails_task, outputs, guard,
                   json.loads(consumer_path.read_text()))
    finally:
        guard.close()


def test_every_script_exits_as_intended_without_sdk_errors(runs):
    assert runs.outputs["defaults_run"].returncode == 0
    assert runs.outputs["read_defaults"].returncode == 0
    assert runs.outputs["use_model"].returncode == 0
    assert runs.outputs["fails"].returncode == 1
    assert "RuntimeError: the training diverged" in runs.outputs["fails"].stderr
    for name, proc in runs.outputs.items():
        complaints = [line for line in (proc.stdout + proc.stderr).splitlines() if SDK_COMPLAINT.search(line)]
        assert complaints == [], name


def test_nothing_leaves_the_machine_but_the_sdks_update_check(runs):
    assert all(attempt.startswith(UPDATE_CHECK) for attempt in runs.guard.attempts), runs.guard.attempts


def test_argparse_connected_dict_and_set_parameter_come_back_as_hyper_parameters(runs):
    parameters = runs.back["parameters"]
    assert parameters["Args/lr"] == "0.25" and parameters["Args/epochs"] == "4"
    assert parameters["General/batch_size"] == "32" and parameters["General/optimizer"] == "adam"
    assert parameters["Extra/seed"] == "1234"


def test_configuration_and_tags_come_back(runs):
    assert runs.back["config_dict"] == runs.manifest["config"] == {"layers": [64, 32], "dropout": 0.1}
    assert set(runs.back["tags"]) == {"baseline", "v1"}
    assert runs.back["status"] == "completed"


def test_debug_image_and_media_download_the_bytes_that_were_reported(runs, server):
    samples = runs.back["samples"]
    assert samples["samples/ramp"]["sha256"] == sha256(runs.manifest["image"])
    assert samples["media/clip"]["sha256"] == sha256(runs.manifest["media"])
    assert all(s["url"].startswith(f"{server}/files/") for s in samples.values())


def test_artifacts_come_back_equal(runs):
    assert runs.back["stats"] == {"a": 1, "b": [1, 2]}
    assert runs.back["array"] == runs.manifest["array"]
    assert runs.back["notes_sha256"] == sha256(runs.manifest["blob"])


def test_the_model_is_listed_on_its_task_and_used_by_a_second_one(runs):
    model = runs.manifest["model"]
    assert runs.back["output_models"] == [model]
    assert runs.back["model_sha256"] == sha256(runs.manifest["weights"])
    assert runs.consumer["input_model_sha256"] == sha256(runs.manifest["weights"])
    assert list(runs.consumer["input_models"].values()) == [model]


def test_a_script_that_raises_ends_failed_and_is_listed_as_failed(runs, http, server):
    assert runs.fails_task in runs.back["failed"]
    assert runs.back["failed_in_own_project"] == []  # the completed run's project has no failed task
    task = http.post(f"{server}/v2.20/tasks.get_by_id", json={"task": runs.fails_task}).json()["data"]["task"]
    assert task["status"] == "failed"


def test_resource_monitor_scalars_and_single_values_arrive(runs):
    assert ":monitor:machine" in runs.back["scalars"]
    assert runs.back["scalars"]["loss"]["train"]["y"] == [1.0, 0.5, 1 / 3, 0.25]
    assert runs.back["single_values"] == {"accuracy": 0.875}
