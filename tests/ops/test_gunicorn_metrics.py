"""/metrics under a real gunicorn with several workers: the counts are the sums over every worker
(prometheus_client's multiprocess mode, set up by gunicorn.conf.py), they survive a worker's death,
/health and /ready answer the same under load, and EVENTS_LOG_FORMAT=json writes one JSON line per
request without any credential."""
from __future__ import annotations

import json
import os
import signal
import threading
import time
import uuid

import orjson
import requests

from tests.conftest import gunicorn
from tests.ops.helpers import samples, value

BATCHES, SIZE, THREADS = 36, 10, 6
BOGUS_TOKEN = "eyJhbGciOiJIUzI1NiJ9.bogus-token-never-logged.sig"


def batch(task: str, first: int) -> bytes:
    return b"\n".join(orjson.dumps({"type": "training_stats_scalar", "task": task, "iter": i,
                                    "metric": "m", "variant": "v", "value": i})
                      for i in range(first, first + SIZE))


def send(base: str, credentials, task: str, first: int, trx: str) -> int:
    return requests.get(f"{base}/v2.9/events.add_batch", data=batch(task, first), auth=credentials,
                        timeout=60,
                        headers={"Content-Type": "application/json-lines", "X-ClearML-Trx": trx}).status_code


def scrape(base: str) -> dict:
    response = requests.get(f"{base}/metrics", timeout=30)
    assert response.status_code == 200
    return samples(response.text)


def test_metrics_sum_every_worker_and_the_json_log_has_no_secret(database_url, credentials, tmp_path):
    log_path = tmp_path / "gunicorn.log"
    task = uuid.uuid4().hex
    statuses: list[int] = []
    probes: list[tuple[str, int, bytes]] = []
    with gunicorn(database_url, log_path, workers=3, EVENTS_LOG_FORMAT="json") as base:
        done = threading.Event()

        def writer(index: int) -> None:
            for b in range(index, BATCHES, THREADS):
                statuses.append(send(base, credentials, task, b * SIZE, f"trx-{b}"))

        def prober() -> None:  # /health and /ready while the writers keep the workers busy
            while not done.is_set():
                for path in ("/health", "/ready"):
                    response = requests.get(f"{base}{path}", timeout=60)
                    probes.append((path, response.status_code, response.content))

        threads = [threading.Thread(target=writer, args=(i,)) for i in range(THREADS)]
        probe = threading.Thread(target=prober)
        probe.start()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        done.set()
        probe.join()
        unauthorized = requests.post(f"{base}/v2.9/events.get_task_log", json={"task": task},
                                     headers={"Authorization": f"Bearer {BOGUS_TOKEN}"}, timeout=30)
        first = scrape(base)

        # a worker dies: what it counted stays, the restarted one counts on
        pids = {json.loads(line)["pid"] for line in log_path.read_text().splitlines() if line.startswith("{")}
        os.kill(next(iter(pids)), signal.SIGKILL)
        time.sleep(1)
        more = [send(base, credentials, task, (BATCHES + b) * SIZE, f"trx-more-{b}") for b in range(3)]
        second = scrape(base)

    assert statuses == [200] * BATCHES and more == [200] * 3
    assert unauthorized.status_code == 401
    assert value(first, "events_ingested_total", type="training_stats_scalar") == BATCHES * SIZE
    assert value(first, "events_http_requests_total", endpoint="events.add_batch", status="200") == BATCHES
    assert value(first, "events_http_requests_total", endpoint="events.get_task_log", status="401") == 1
    assert value(first, "events_http_request_duration_seconds_count", endpoint="events.add_batch",
                 status="200") == BATCHES
    assert ("events_db_pool_connections_in_use", (("database", "primary"),)) in first
    assert value(second, "events_ingested_total", type="training_stats_scalar") == (BATCHES + 3) * SIZE
    assert value(second, "events_http_requests_total", endpoint="events.add_batch",
                 status="200") == BATCHES + 3
    assert {(path, status, body) for path, status, body in probes} == {
        ("/health", 200, b'{"status":"ok"}'), ("/ready", 200, b'{"status":"ready"}')}

    text = log_path.read_text()
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    requests_logged = [line for line in lines if line["logger"] == "events_service.requests"]
    batches = [line for line in requests_logged if line["endpoint"] == "events.add_batch"]
    assert sorted(line["trx"] for line in batches) == sorted(
        [f"trx-{b}" for b in range(BATCHES)] + [f"trx-more-{b}" for b in range(3)])
    assert {line["status"] for line in batches} == {200}
    assert all(line["duration_ms"] > 0 and line["method"] == "GET" for line in batches)
    assert len({line["pid"] for line in batches}) >= 2  # several workers served, and were summed
    assert any(line["endpoint"] == "events.get_task_log" and line["status"] == 401
               for line in requests_logged)
    for secret in (*credentials, BOGUS_TOKEN, "bogus-token"):
        assert secret not in text
