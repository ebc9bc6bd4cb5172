"""Database faults, on a private cluster this test starts (the shared test cluster keeps running):
503 with Retry-After while PostgreSQL is down, recovery without a restart, nothing acknowledged
lost or doubled across the outage, and no partial batch from a worker killed mid-request."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
import time
import uuid

import orjson
import psycopg
import pytest
import requests
from alembic import command

from tests.conftest import ROOT, alembic_config, free_port, gunicorn, make_credentials


class PrivateCluster:
    def __init__(self):
        self.dir = f"/tmp/events-faults-{uuid.uuid4().hex[:8]}"
        self.port = free_port()
        self.env = dict(os.environ, EVENTS_PG_DIR=self.dir, EVENTS_PG_PORT=str(self.port))
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/events"

    def pg(self, *args: str) -> None:
        subprocess.run(["bash", str(ROOT / "scripts" / "pg.sh"), *args], env=self.env, check=True,
                       capture_output=True)

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/events"

    def count(self, task: str) -> int:
        with psycopg.connect(self.dsn) as conn:
            return conn.execute("SELECT count(*) FROM scalar_events e JOIN tasks t ON t.key = e.task_key "
                                "WHERE t.id = %s", (task,)).fetchone()[0]


@pytest.fixture(scope="module")
def cluster():
    c = PrivateCluster()
    c.pg("start")
    c.pg("createdb", "events")
    command.upgrade(alembic_config(c.url), "head")
    c.auth = make_credentials(c.url, "faults")
    yield c
    c.pg("stop")
    shutil.rmtree(c.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def service(cluster, tmp_path_factory):
    global AUTH
    AUTH = cluster.auth
    with gunicorn(cluster.url, tmp_path_factory.mktemp("faults") / "gunicorn.log", workers=3) as base:
        yield base


def batch_body(task: str, start: int, size: int) -> bytes:
    return b"\n".join(orjson.dumps({"type": "training_stats_scalar", "task": task, "iter": i, "metric": "m",
                                    "variant": "v", "value": i, "timestamp": 1_000_000 + i})
                      for i in range(start, start + size))


AUTH: tuple[str, str] = ("", "")


def post(base: str, body: bytes, timeout: float = 30) -> requests.Response:
    return requests.get(f"{base}/v2.9/events.add_batch", data=body, timeout=timeout, auth=AUTH,
                        headers={"Content-Type": "application/json-lines"})


def test_outage_gives_503_and_loses_or_doubles_nothing(cluster, service):
    writers, batches, size = 3, 40, 200
    tasks = [uuid.uuid4().hex for _ in range(writers)]
    acknowledged = [0] * writers
    saw_503 = []

    def writer(w: int) -> None:
        for b in range(batches):
            body = batch_body(tasks[w], b * size, size)
            deadline = time.time() + 60
            while time.time() < deadline:  # re-send the same batch until it is acknowledged, like the SDK
                try:
                    response = post(service, body)
                except requests.RequestException:
                    time.sleep(0.2)
                    continue
                if response.status_code == 200:
                    acknowledged[w] += size
                    break
                assert response.status_code == 503, response.text
                saw_503.append(response)
                time.sleep(0.2)
            time.sleep(0.01)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(writers)]
    for t in threads:
        t.start()
    time.sleep(1.0)
    cluster.pg("stop")
    time.sleep(2.0)
    down = post(service, batch_body(uuid.uuid4().hex, 0, 1))
    cluster.pg("start")
    for t in threads:
        t.join()

    assert down.status_code == 503
    assert down.headers["Retry-After"].isdigit()
    meta = down.json()["meta"]
    assert (meta["result_code"], down.json()["data"]) == (503, {})
    assert "database" in meta["result_msg"].lower()
    assert saw_503, "the writers never met the outage"
    assert acknowledged == [batches * size] * writers
    assert [cluster.count(t) for t in tasks] == acknowledged  # each acknowledged event exactly once

    after = requests.post(f"{service}/events.get_task_events", json={"task": tasks[0], "batch_size": 1},
                          auth=AUTH).json()
    assert after["data"]["total"] == batches * size  # recovered without a restart


# bytes of the batch's rows the backend has received and written; tuples_processed stays 0 for a
# TimescaleDB hypertable, whose COPY path does not report it.
COPY_PROGRESS = """
    SELECT p.bytes_processed FROM pg_stat_progress_copy p
    WHERE p.command = 'COPY FROM' AND p.relid = 'scalar_events'::regclass"""


def test_worker_killed_mid_request_leaves_no_partial_batch(cluster, service):
    """The workers are killed once the batch's rows are being written (PostgreSQL's COPY
    progress shows bytes of them received), not before: none of them may stay, and nothing of the
    request may still hold a backend."""
    task = uuid.uuid4().hex
    body = batch_body(task, 0, 150_000)
    outcome = {}

    def send():
        try:
            outcome["response"] = post(service, body, timeout=60)
        except requests.RequestException as exc:
            outcome["error"] = exc

    master = int(subprocess.run(["pgrep", "-f", f"gunicorn.*{service.rsplit(':', 1)[1]}"],
                                capture_output=True, text=True).stdout.split()[0])
    workers = [int(p) for p in subprocess.run(["pgrep", "-P", str(master)], capture_output=True,
                                              text=True).stdout.split()]
    thread = threading.Thread(target=send)
    written = 0
    with psycopg.connect(cluster.dsn, autocommit=True) as conn:
        thread.start()
        deadline = time.monotonic() + 60
        while not written and time.monotonic() < deadline and thread.is_alive():
            row = conn.execute(COPY_PROGRESS).fetchone()
            written = row[0] if row else 0
            time.sleep(0.005)
        for pid in workers:
            os.kill(pid, signal.SIGKILL)
        thread.join()
        assert written > 0, "the kill came before any row of the batch was written"
        assert "error" in outcome or outcome["response"].status_code != 200, \
            "the batch was stored before the kill: make it larger"
        deadline = time.monotonic() + 10  # the killed backends' transactions end when PostgreSQL sees it
        while conn.execute(COPY_PROGRESS).fetchone() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert conn.execute(COPY_PROGRESS).fetchone() is None
    assert cluster.count(task) == 0
