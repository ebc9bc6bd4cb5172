"""The primary goes away and comes back, under a real gunicorn (on a private cluster, so the shared
test cluster keeps running): the API answers 503 with Retry-After (never 500), /ready says so,
/health and /metrics keep answering, and the metrics count through the outage."""
from __future__ import annotations

import uuid

import requests

from tests.conftest import gunicorn
from tests.ops.helpers import samples, value
# a private cluster of its own (module scope), as the database fault tests use
from tests.test_database_faults import batch_body, cluster  # noqa: F401


def add(base: str, auth, task: str, first: int) -> requests.Response:
    return requests.get(f"{base}/v2.9/events.add_batch", data=batch_body(task, first, 10), auth=auth,
                        timeout=30, headers={"Content-Type": "application/json-lines"})


def test_outage_is_503_and_counted(cluster, tmp_path):  # noqa: F811
    task = uuid.uuid4().hex
    with gunicorn(cluster.url, tmp_path / "gunicorn.log", workers=2) as base:
        assert add(base, cluster.auth, task, 0).status_code == 200
        cluster.pg("stop")
        try:
            down = [add(base, cluster.auth, task, 10) for _ in range(4)]
            ready = requests.get(f"{base}/ready", timeout=30)
            health = requests.get(f"{base}/health", timeout=30)
            during = samples(requests.get(f"{base}/metrics", timeout=30).text)
        finally:
            cluster.pg("start")
        assert [r.status_code for r in down] == [503] * 4
        assert all(r.headers["Retry-After"].isdigit() for r in down)
        assert (ready.status_code, ready.json()["status"]) == (503, "unavailable")
        assert ready.headers["Retry-After"]
        assert health.status_code == 200
        assert value(during, "events_http_requests_total", endpoint="events.add_batch", status="503") == 4
        assert value(during, "events_http_requests_total", endpoint="/ready", status="503") == 1
        # the 503s stored nothing, and counted nothing as ingested
        assert value(during, "events_ingested_total", type="training_stats_scalar") == 10

        assert requests.get(f"{base}/ready", timeout=30).status_code == 200
        assert add(base, cluster.auth, task, 10).status_code == 200
        after = samples(requests.get(f"{base}/metrics", timeout=30).text)
    assert value(after, "events_ingested_total", type="training_stats_scalar") == 20
    assert value(after, "events_http_requests_total", endpoint="events.add_batch", status="200") == 2
    assert cluster.count(task) == 20
