"""Schema-driven fuzzing: schemathesis generates requests for every endpoint version from the
OpenAPI document the service derives from its HOCON schema, against a real gunicorn.

Every answer must be in ClearML's envelope, never a 5xx, and a 200 must validate against the
response schema of the version that served it. Examples per operation are bounded (FUZZ_EXAMPLES)
so `make test` stays fast. (schemathesis's own pytest plugin is not used: it does not run on
pytest 9; its strategies are driven by hypothesis directly instead.)
"""
from __future__ import annotations

import os

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings

from events_service.api.schema import ApiSchema
from events_service.api.versions import Version
from events_service.config import DEFAULTS
from tests.helpers import basic_auth

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "12"))
API = ApiSchema(DEFAULTS["SCHEMA_DIR"])
OPERATIONS = sorted(f"/v{v}/{name}" for name, versions in API.endpoints.items() for v in versions)


@pytest.fixture(scope="session")
def openapi(server):
    return schemathesis.openapi.from_dict(requests.get(f"{server}/openapi.json", timeout=10).json())


def check(response) -> None:
    assert response.status_code < 500, response.text[:500]
    # schemathesis keeps headers lower-cased, each a list of values
    content_type = (response.headers.get("content-type") or [""])[0]
    if content_type.startswith("text/plain"):
        assert response.status_code == 200  # download_task_log streams plain text
        return
    body = response.json()
    meta = body["meta"]
    assert meta["result_code"] == response.status_code
    if response.status_code == 200:
        name = meta["endpoint"]["name"]
        endpoint = API.endpoints[name][Version.parse(str(meta["endpoint"]["actual_version"]))]
        errors = [e.message for e in endpoint.response_validator.iter_errors(body["data"])]
        assert not errors, (name, errors)
    else:
        assert body["data"] == {}
        assert meta["result_msg"]


@pytest.mark.parametrize("path", OPERATIONS)
def test_no_server_error_and_valid_envelope(openapi, server, credentials, path):
    operation = openapi[path]["POST"]
    authorization = {"Authorization": basic_auth(*credentials)}

    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy())
    def fuzz(case):
        check(case.call(base_url=server, timeout=30, headers=authorization))

    fuzz()
