"""Unmodified scripts with the clearml SDK's defaults against a real gunicorn: the only settings are
the server addresses (CLEARML_FILES_HOST = this service's /files) and the credentials, as `make run`
prints them. No clearml.conf, no quiet Task.init arguments: argparse is captured, resources are
monitored, repositories detected, files go to the default files server.

Three scripts, the first two at once (scripts/defaults_run.py waits 33 s for the resource monitor's
first report): defaults_run.py reports hyper parameters, configuration, tags, a single value, a debug
image and media, three artifacts and a model; fails.py raises; read_defaults.py then reads all of it
back through the SDK's getters and uses the model in a task of its own. Each must exit as its author
intends with no ERROR or "Action failed" line from the SDK, and the egress guard may see only the
SDK's own update check (its repository-detection thread asks updates.clear.ml).
"""
from __future__ import annotations

import hashlib
import json
import os
import re
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

    def start(*args: str) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, *args], env=env, cwd=work, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)

    def finish(name: str, proc: subprocess.Popen) -> subprocess.CompletedProcess:
        stdout, stderr = proc.communicate(timeout=300)
        outputs[name] = subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)
        return outputs[name]

    outputs: dict[str, subprocess.CompletedProcess] = {}
    try:
        manifest_path = work / "manifest.json"
        fails = start(str(SCRIPTS / "fails.py"))
        main = start(str(SCRIPTS / "defaults_run.py"), "--lr", "0.25", "--epochs", "4",
                     "--manifest", str(manifest_path))
        finish("fails", fails)
        finish("defaults_run", main)
        assert outputs["defaults_run"].returncode == 0, outputs["defaults_run"].stderr[-6000:]
        fails_task = re.search(r"^task (\w+)$", outputs["fails"].stdout, re.M).group(1)
        back_path = work / "back.json"
        finish("read_defaults", start(str(SCRIPTS / "read_defaults.py"), str(manifest_path), fails_task,
                                      str(back_path)))
        assert outputs["read_defaults"].returncode == 0, outputs["read_defaults"].stderr[-6000:]
        yield Runs(json.loads(manifest_path.read_text()), json.loads(back_path.read_text()), fails_task,
                   outputs, guard)
    finally:
        guard.close()


def test_every_script_exits_as_intended_without_sdk_errors(runs):
    assert runs.outputs["defaults_run"].returncode == 0
    assert runs.outputs["read_defaults"].returncode == 0
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
    assert runs.back["input_model_sha256"] == sha256(runs.manifest["weights"])
    assert list(runs.back["consumer_input_models"].values()) == [model]


def test_a_script_that_raises_ends_failed_and_is_listed_as_failed(runs, http, server):
    assert runs.fails_task in runs.back["failed"]
    assert runs.manifest["task"] not in runs.back["failed"]
    task = http.post(f"{server}/v2.20/tasks.get_by_id", json={"task": runs.fails_task}).json()["data"]["task"]
    assert task["status"] == "failed"


def test_resource_monitor_scalars_and_single_values_arrive(runs):
    assert ":monitor:machine" in runs.back["scalars"]
    assert runs.back["scalars"]["loss"]["train"]["y"] == [1.0, 0.5, 1 / 3, 0.25]
    assert runs.back["single_values"] == {"accuracy": 0.875}
