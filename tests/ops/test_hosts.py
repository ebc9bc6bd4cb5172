"""Several API hosts over one database: two gunicorns on different ports with one shared secret,
called in turn, behave as one service; bench/soak.py drives both and finds every acknowledged
event stored exactly once, while /health, /ready and /metrics keep answering the same."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import psycopg
import requests
from sqlalchemy.engine import make_url

from tests.conftest import ROOT, gunicorn, server_dsn
from tests.helpers import scalar


def test_tokens_from_one_host_work_on_the_other(server, database_url, credentials, tmp_path):
    task = uuid.uuid4().hex
    a = server  # the tests' gunicorn, and a second one on another port
    with gunicorn(database_url, tmp_path / "b.log") as b:
        token = requests.get(f"{a}/auth.login", auth=credentials, timeout=30).json()["data"]["token"]
        headers = {"Authorization": f"Bearer {token}"}
        added = requests.post(f"{b}/v2.1/events.add_batch", json={"requests": []}, headers=headers,
                              timeout=30)
        # the token from A is accepted by B: a batch of no event is 400/131, where a refused token is a 401
        assert (added.status_code, added.json()["meta"]["result_subcode"]) == (400, 131)
        for host, first in ((a, 0), (b, 10), (a, 20)):
            body = "\n".join(json.dumps(scalar(task, i)) for i in range(first, first + 10))
            response = requests.get(f"{host}/v2.9/events.add_batch", data=body, headers={
                **headers, "Content-Type": "application/json-lines"}, timeout=30)
            assert response.status_code == 200, response.text
        seen, scroll_id, hosts = [], None, [a, b]
        for page in range(4):  # a scroll started on A, continued on B, then A again...
            body = {"task": task, "batch_size": 8, **({"scroll_id": scroll_id} if scroll_id else {})}
            data = requests.post(f"{hosts[page % 2]}/v2.1/events.get_task_events", headers=headers,
                                 timeout=30, json=body).json()["data"]
            seen += [e["iter"] for e in data["events"]]
            scroll_id = data["scroll_id"]
    assert seen == list(range(30))


def test_soak_over_two_hosts_stores_every_acknowledged_event_once(database_url):
    url = make_url(database_url)
    own = url.set(database=f"{url.database}_soak").render_as_string(hide_password=False)
    env = dict(os.environ, EVENTS_BENCH_DATABASE_URL=own)
    try:
        run = subprocess.run([sys.executable, "bench/soak.py", "--seconds", "4", "--hosts", "2",
                              "--workers", "2", "--writers", "3", "--readers", "1"],
                             cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    finally:
        with psycopg.connect(server_dsn(own), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{make_url(own).database}" WITH (FORCE)')
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "exactly once: True" in run.stdout
    assert "probes: 0 faults" in run.stdout
