"""OpenAPI 3.1, derived from schema/*.conf (never written by hand): GET /openapi.json, or
`python -m events_service.api.openapi [SCHEMA_DIR]` to print it.

Every (endpoint, version) becomes the path /v<version>/<service>.<action> with a POST
operation whose body is the HOCON request schema and whose 200 answer is ClearML's envelope
around the HOCON response schema; errors are the envelope with empty data. `_definitions`
become components. JSON Schema keywords pass through unchanged (OpenAPI 3.1 is JSON Schema).
"""
from __future__ import annotations

import copy
import sys
from typing import Any

import orjson
from flask import Blueprint, Response, current_app

from events_service.api.schema import ApiSchema

blueprint = Blueprint("openapi", __name__)

META = {
    "type": "object",
    "required": ["result_code"],
    "properties": {
        "id": {"type": "string"}, "trx": {"type": "string"},
        "endpoint": {"type": "object"}, "result_code": {"type": "integer"},
        "result_subcode": {"type": "integer"}, "result_msg": {"type": "string"},
        "error_stack": {"type": ["string", "null"]}, "error_data": {"type": "object"},
    },
}
ERROR = {"type": "object", "required": ["meta", "data"],
         "properties": {"meta": {"$ref": "#/components/schemas/meta"},
                        "data": {"type": "object", "maxProperties": 0}}}


def _rewrite_refs(node: Any, service: str) -> Any:
    """'#/definitions/x' -> '#/components/schemas/<service>.x'."""
    if isinstance(node, dict):
        return {k: (f"#/components/schemas/{service}.{v.rsplit('/', 1)[-1]}"
                    if k == "$ref" and isinstance(v, str) else _rewrite_refs(v, service))
                for k, v in node.items()}
    if isinstance(node, list):
        return [_rewrite_refs(v, service) for v in node]
    return node


def build(api: ApiSchema) -> dict[str, Any]:
    """The OpenAPI document of every endpoint version the schema defines."""
    components: dict[str, Any] = {"meta": META, "error": ERROR}
    for service, definitions in api.definitions.items():
        for name, definition in definitions.items():
            components[f"{service}.{name}"] = _rewrite_refs(copy.deepcopy(definition), service)
    paths: dict[str, Any] = {}
    for name, versions in sorted(api.endpoints.items()):
        service = name.split(".")[0]
        for version, endpoint in sorted(versions.items()):
            request = endpoint.request
            if endpoint.is_batch:  # a JSON object body is a batch of one event
                request = api.batch_item_schema(endpoint).request
            ok_schema: dict[str, Any]
            if endpoint.response.get("type") == "string":
                ok = {"text/plain": {"schema": {"type": "string"}}}
            else:
                ok_schema = {"type": "object", "required": ["meta", "data"], "properties": {
                    "meta": {"$ref": "#/components/schemas/meta"},
                    "data": _rewrite_refs(copy.deepcopy(endpoint.response), service)}}
                ok = {"application/json": {"schema": ok_schema}}
            error = {"description": "ClearML error envelope",
                     "content": {"application/json": {"schema": {"$ref": "#/components/schemas/error"}}}}
            paths[f"/v{version}/{name}"] = {"post": {
                "operationId": f"{name}_{version}".replace(".", "_"),
                "summary": str(endpoint.request.get("description") or name),
                "requestBody": {"required": True, "content": {
                    "application/json": {"schema": _rewrite_refs(copy.deepcopy(request), service)}}},
                "responses": {"200": {"description": "OK", "content": ok}, "4XX": error},
            }}
    return {"openapi": "3.1.0",
            "info": {"title": "events-service", "version": "1.0",
                     "description": "Generated from schema/*.conf; ClearML-compatible events API."},
            "paths": paths, "components": {"schemas": components}}


@blueprint.get("/openapi.json")
def openapi_json() -> Response:
    document = current_app.extensions.setdefault("openapi", build(current_app.extensions["api_schema"]))
    return Response(orjson.dumps(document), mimetype="application/json")


def main(argv: list[str]) -> None:
    from events_service.config import DEFAULTS

    sys.stdout.write(orjson.dumps(build(ApiSchema(argv[0] if argv else DEFAULTS["SCHEMA_DIR"])),
                                  option=orjson.OPT_INDENT_2).decode() + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
