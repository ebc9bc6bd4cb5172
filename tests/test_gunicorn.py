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
