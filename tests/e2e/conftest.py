"""The real clearml SDK against a real gunicorn, kept strictly local.

Local-only settings (../shared/docs/clearml-sdk.md, "SDK settings that keep a test run local"):
CLEARML_API_HOST/WEB_HOST/FILES_HOST on 127.0.0.1, an isolated HOME, a generated clearml.conf
with few retries, no task reuse, no vault, no update check (detect_repository False in the script).
Egress guard: HTTP(S)_PROXY point at a local listener that records every connection attempt, with
NO_PROXY=127.0.0.1,localhost, and the tests assert it recorded none.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parent / "scripts"
CLEARML_CONF = """
api {
  http {
    retries { total: 3, connect: 3, read: 3, redirect: 3, status: 3, backoff_factor: 0.2, backoff_max: 1.0 }
    wait_on_maintenance_forever: false
  }
}
sdk {
  development {
    vcs_repo_detect_async: false
    store_uncommitted_code_diff: false
    support_stopping: true
    worker { report_period_sec: 1, ping_period_sec: 30 }
  }
}
"""


class EgressGuard:
    """A local 'proxy' that accepts, records and closes every connection made to it."""

    def __init__(self) -> None:
        self.attempts: list[bytes] = []
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(2)
                try:
                    self.attempts.append(conn.recv(1024).split(b"\r\n")[0])
                except OSError:
                    self.attempts.append(b"<no request line>")

    def close(self) -> None:
        self.sock.close()


@pytest.fixture(scope="session")
def egress_guard():
    guard = EgressGuard()
    yield guard
    guard.close()


@dataclass
class Sdk:
    """How to run a script with the clearml SDK pointed at the test server."""

    env: dict[str, str]
    home: Path

    def run(self, *args: str, timeout: int = 300) -> subprocess.CompletedProcess:
        proc = subprocess.run([sys.executable, *args], env=self.env, cwd=self.home, capture_output=True,
                              text=True, timeout=timeout)
        assert proc.returncode == 0, \
            f"exit {proc.returncode}\nstdout:\n{proc.stdout[-4000:]}\nstderr:\n{proc.stderr[-6000:]}"
        return proc


def sdk_environment(server: str, credentials: tuple[str, str], home: Path, proxy_port: int) -> dict[str, str]:
    home.mkdir(parents=True, exist_ok=True)
    config = home / "clearml.conf"
    config.write_text(CLEARML_CONF)
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT")}
    proxy = f"http://127.0.0.1:{proxy_port}"
    return {
        **keep,
        "HOME": str(home),
        "CLEARML_CONFIG_FILE": str(config),
        "CLEARML_API_HOST": server,
        "CLEARML_WEB_HOST": server,
        "CLEARML_FILES_HOST": f"{server}/files",
        "CLEARML_API_ACCESS_KEY": credentials[0],
        "CLEARML_API_SECRET_KEY": credentials[1],
        "CLEARML_TASK_NO_REUSE": "1",
        "CLEARML_DISABLE_VAULT_SUPPORT": "1",
        "CLEARML_SUPPRESS_UPDATE_MESSAGE": "1",
        "CLEARML_NO_DEFAULT_SERVER": "1",
        "CLEARML_CACHE_DIR": str(home / "cache"),
        "HTTP_PROXY": proxy, "HTTPS_PROXY": proxy, "http_proxy": proxy, "https_proxy": proxy,
        "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost",
        "PYTHONUNBUFFERED": "1",
    }


@pytest.fixture(scope="session")
def sdk(server, credentials, egress_guard, tmp_path_factory) -> Sdk:
    home = tmp_path_factory.mktemp("sdk-home")
    return Sdk(sdk_environment(server, credentials, home, egress_guard.port), home)


@dataclass
class TrainingRun:
    sent: dict
    upload_dir: Path
    stdout: str
    stderr: str


@pytest.fixture(scope="session")
def training_run(sdk, tmp_path_factory) -> TrainingRun:
    """One run of scripts/train.py (shared by the end-to-end and read-back tests)."""
    work = tmp_path_factory.mktemp("training")
    upload_dir = work / "uploads"
    upload_dir.mkdir()
    manifest = work / "sent.json"
    proc = sdk.run(str(SCRIPTS / "train.py"), "--upload", upload_dir.as_uri(), "--manifest", str(manifest))
    return TrainingRun(json.loads(manifest.read_text()), upload_dir, proc.stdout, proc.stderr)


@pytest.fixture(scope="session")
def read_back(sdk, training_run, tmp_path_factory):
    """read_back(getter, *args): what one SDK getter (scripts/read_back.py) returns for the training run."""
    folder = tmp_path_factory.mktemp("read-back")

    def getter(name: str, *args: str):
        out = folder / f"{name}.json"
        sdk.run(str(SCRIPTS / "read_back.py"), training_run.sent["task"], name, str(out), *args)
        return json.loads(out.read_text())

    return getter
