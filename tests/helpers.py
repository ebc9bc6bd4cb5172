"""ApiHelper: calls that read like the API, checking the envelope and the response schema."""
from __future__ import annotations

import base64
import json
from typing import Any

from events_service.api.versions import Version


class ApiHelper:
    def __init__(self, app, client):
        self.app, self.client = app, client

    def raw(self, name: str, version: str | None = None, /, method: str = "post", headers=None, **data: Any):
        path = f"/v{version}/{name}" if version else f"/{name}"
        return self.client.open(path, method=method.upper(), json=data, headers=headers or {})

    def call(self, name: str, version: str | None = None, /, **data: Any) -> dict[str, Any]:
        """A call that must succeed; its data, after checking it against the schema that served it."""
        return self.check_ok(self.raw(name, version, **data))

    def check_ok(self, response) -> dict[str, Any]:
        body = response.get_json()
        assert response.status_code == 200, body
        meta = body["meta"]
        assert (meta["result_code"], meta["result_subcode"], meta["result_msg"]) == (200, 0, "OK")
        schema = self.app.extensions["api_schema"].endpoints[meta["endpoint"]["name"]][
            Version.parse(meta["endpoint"]["actual_version"])]
        errors = list(schema.response_validator.iter_errors(body["data"]))
        assert not errors, [e.message for e in errors]
        return body["data"]

    def error(self, name: str, version: str | None = None, /, **data: Any) -> tuple[int, int, str]:
        return self.check_error(self.raw(name, version, **data))

    @staticmethod
    def check_error(response) -> tuple[int, int, str]:
        """(code, subcode, message) of a failed call; the envelope must be ClearML's."""
        body = response.get_json()
        meta = body["meta"]
        assert response.status_code == meta["result_code"] != 200, body
        assert body["data"] == {}
        return meta["result_code"], meta["result_subcode"], meta["result_msg"]

    def batch(self, events: list[dict[str, Any]], version: str = "2.1", headers=None):
        """Post events as json-lines (what the SDK sends); returns the raw response."""
        payload = "\n".join(json.dumps(e) for e in events).encode()  # stdlib: keeps NaN literals
        return self.client.open(f"/v{version}/events.add_batch", method="GET", data=payload,
                                headers={"Content-Type": "application/json-lines", **(headers or {})})

    def add_batch(self, events: list[dict[str, Any]], **kw) -> dict[str, Any]:
        return self.check_ok(self.batch(events, **kw))


def basic_auth(access_key: str, secret_key: str) -> str:
    return "Basic " + base64.b64encode(f"{access_key}:{secret_key}".encode()).decode()


def scalar(task: str, iteration: int | None, metric: str = "loss", variant: str = "total", value: float = 1.0,
           **extra: Any) -> dict[str, Any]:
    event = {"type": "training_stats_scalar", "task": task, "metric": metric, "variant": variant,
             "value": value, **extra}
    if iteration is not None:
        event["iter"] = iteration
    return event


def log(task: str, msg: str, timestamp: int | None = None, level: str = "info",
        **extra: Any) -> dict[str, Any]:
    event = {"type": "log", "task": task, "msg": msg, "level": level, **extra}
    if timestamp is not None:
        event["timestamp"] = timestamp
    return event
