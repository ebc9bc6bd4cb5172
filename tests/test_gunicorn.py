"""End to end through a real gunicorn: the SDK's GET-with-json-lines batch, then reading it back."""
from __future__ import annotations

import uuid

import requests


def test_batch_over_http_and_scroll_back(server, http):
    task = uuid.uuid4().hex
    lines = "\n".join(
        f'{{"type":"training_stats_scalar","task":"{task}","iter":{i},"metric":"m","variant":"v",'
        f'"value":{i / 2},"timestamp":{1000 + i},"method":"get"}}' for i in range(1200))
    response = http.get(f"{server}/v2.9/events.add_batch", data=lines,
                        headers={"Content-Type": "application/json-lines", "X-ClearML-Worker": "host-1"})
    assert response.status_code == 200
    assert response.json()["data"] == {"added": 1200, "errors": 0, "errors_info": {}}

    values, scroll_id = [], None
    while True:
        body = {"task": task, "batch_size": 500, **({"scroll_id": scroll_id} if scroll_id else {})}
        data = http.post(f"{server}/v2.9/events.get_task_events", json=body).json()["data"]
        if not data["events"]:
            break
        values += [(e["iter"], e["value"], e["worker"]) for e in data["events"]]
        scroll_id = data["scroll_id"]
    assert values == [(i, i / 2, "host-1") for i in range(1200)]


def test_errors_over_http_keep_the_envelope(server, http):
    response = http.post(f"{server}/v2.1/events.get_task_events", json={"task": "nope"})
    assert response.status_code == 400
    assert response.json()["meta"]["result_subcode"] == 101


def test_requests_without_credentials_are_401_over_http(server):
    response = requests.post(f"{server}/v2.9/events.get_task_events", json={"task": "nope"})
    assert response.status_code == 401
    assert (response.json()["meta"]["result_code"], response.json()["meta"]["result_subcode"]) == (401, 20)


def test_login_over_http_then_bearer(server, credentials):
    token = requests.get(f"{server}/auth.login", auth=credentials).json()["data"]["token"]
    response = requests.post(f"{server}/v2.9/tasks.get_all", json={"id": ["none"]},
                             headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200 and response.json()["data"] == {"tasks": []}


def test_a_compacted_series_pages_streamed_over_http_as_its_rows_did(server, http, database_url):
    """Pages of a compacted series are written while they are sent (chunked, jsonutil.StreamedJSON):
    over a real gunicorn they read as the same JSON as the pages of its rows, sent whole."""
    from events_service import cli

    task = uuid.uuid4().hex
    lines = "\n".join(
        f'{{"type":"training_stats_scalar","task":"{task}","iter":{i},"metric":"m","variant":"v",'
        f'"value":{i / 4},"timestamp":{5000 + i}}}' for i in range(2500))
    http.post(f"{server}/v2.9/events.add_batch", data=lines,
              headers={"Content-Type": "application/json-lines"}).raise_for_status()

    def pages() -> tuple[list[dict], set[str]]:
        found, scroll_id, encodings = [], None, set()
        while True:
            body = {"task": task, "metric": "m", "batch_size": 1000}
            if scroll_id:
                body["scroll_id"] = scroll_id
            response = http.post(f"{server}/v2.1/events.get_scalar_metric_data", json=body)
            assert response.status_code == 200
            data = response.json()["data"]
            if not data["events"]:
                return found, encodings
            encodings.add(response.headers.get("Transfer-Encoding", "whole"))
            found.append({k: v for k, v in data.items() if k != "scroll_id"})
            scroll_id = data["scroll_id"]

    rows, sent_as = pages()
    assert sent_as == {"whole"} and sum(p["returned"] for p in rows) == 2500
    assert cli.main(["--database-url", database_url, "compact", "--task", task, "--whole"]) == 0
    blocks, sent_as = pages()
    assert sent_as == {"chunked"}
    assert blocks == rows
