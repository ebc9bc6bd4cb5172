"""The OpenAPI document is derived from the HOCON schema and covers every endpoint version."""
from __future__ import annotations

import subprocess
import sys

import orjson
from jsonschema import Draft202012Validator

from tests.conftest import ROOT


def test_document_covers_every_endpoint_version(app, client):
    document = client.get("/openapi.json").get_json()
    assert document["openapi"].startswith("3.1")
    expected = {f"/v{v}/{name}" for name, versions in app.extensions["api_schema"].endpoints.items()
                for v in versions}
    assert set(document["paths"]) == expected
    assert "/v1.7/events.get_task_log" in expected and "/v2.7/events.debug_images" in expected


def test_schemas_are_valid_json_schema_and_refs_resolve(client):
    document = client.get("/openapi.json").get_json()
    components = document["components"]["schemas"]
    for path, item in document["paths"].items():
        body = item["post"]["requestBody"]["content"]["application/json"]["schema"]
        Draft202012Validator.check_schema(body)
        text = orjson.dumps(item).decode()
        for ref in [part.split('"')[0] for part in text.split('"#/components/schemas/')[1:]]:
            assert ref in components, (path, ref)


def test_the_command_prints_the_same_document(client):
    out = subprocess.run([sys.executable, "-m", "events_service.api.openapi"], cwd=ROOT, capture_output=True,
                         check=True).stdout
    assert orjson.loads(out) == client.get("/openapi.json").get_json()
