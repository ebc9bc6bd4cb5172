"""Out-of-range and hostile values in every request field: a 4xx naming the field, never a 500.

Integer fields are bound as PostgreSQL bigint, which cannot hold 2**63 or more (nor 1e300, an
integral float the schema's `integer` accepts): every such value must be 400/12 naming the field,
at every endpoint version, without touching the schema files. The generic sweep below derives
the fields from the schema itself, so a new endpoint or field is covered as soon as it exists.
"""
from __future__ import annotations

from typing import Any

import pytest

from events_service.api.body import deref, properties_of
from tests.fuzzing import API, example, schema_types, with_literal

HUGE = ["9223372036854775808", "1208925819614629174706176", "-1180591620717411303424", "1e300",
        "-9223372036854777856", "9.3e18"]
# events.add / add_batch validate each event themselves (tests/services/test_events_add.py).
SELF_VALIDATING = {"events.add", "events.add_batch"}


def requests_by_endpoint():
    """(endpoint, version, request schema, base request, definitions) of every endpoint version
    validated by the schema layer (events.add and add_batch validate each event themselves)."""
    for name, versions in sorted(API.endpoints.items()):
        if name in SELF_VALIDATING:
            continue
        definitions = API.definitions[name.split(".")[0]]
        for version, endpoint in sorted(versions.items()):
            request = deref(endpoint.request, definitions)
            yield name, version, request, example(request, definitions), definitions


def integer_fields():
    """(endpoint, version, base request, path of an integer field) for every request schema."""
    for name, version, request, base, definitions in requests_by_endpoint():
        stack: list[tuple[tuple[Any, ...], dict[str, Any]]] = [((), request)]
        while stack:
            path, node = stack.pop()
            node = deref(node, definitions)
            if "integer" in schema_types(node) and path:
                yield pytest.param(name, str(version), base, path,
                                   id=f"{name}-{version}-{'.'.join(map(str, path))}")
            for key, child in properties_of(node, definitions).items():
                stack.append((path + (key,), child))
            if isinstance(node.get("items"), dict) and path:
                stack.append((path + (0,), node["items"]))


FIELDS = list(integer_fields())


def test_the_sweep_covers_the_fields_that_failed(request):
    names = {(p.values[0], p.values[1], p.values[3][-1]) for p in FIELDS}
    for expected in [("events.debug_images", "2.1", "iters"), ("events.debug_images", "2.7", "iters"),
                     ("events.get_task_plots", "2.1", "iters"),
                     ("events.get_multi_task_plots", "2.1", "iters"),
                     ("events.get_task_log", "2.9", "batch_size"),
                     ("events.scalar_metrics_iter_histogram", "2.1", "samples"),
                     ("tasks.get_all", "2.1", "page_size"), ("auth.login", "2.1", "expiration_sec"),
                     ("models.edit", "2.1", "iteration")]:  # a field of an allOf member
        assert expected in names


@pytest.mark.parametrize("name,version,base,path", FIELDS)
def test_integers_beyond_64_bits_are_400_12_naming_the_field(client, name, version, base, path):
    for literal in HUGE:
        response = client.post(f"/v{version}/{name}", data=with_literal(base, path, literal),
                               content_type="application/json")
        meta = response.get_json()["meta"]
        assert (response.status_code, meta["result_subcode"]) == (400, 12), (literal, meta["result_msg"])
        assert f"field '{'.'.join(map(str, path))}'" in meta["result_msg"], meta["result_msg"]
        assert any(why in meta["result_msg"] for why in ("out of range", "minimum", "maximum")), \
            meta["result_msg"]


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity"])
@pytest.mark.parametrize("name,body", [
    ("v2.9/events.get_task_log", '{"task": "t", "from_timestamp": %s}'),
    ("tasks.create", '{"name": "n", "type": "training", "input": {"lr": %s}}'),
    ("tasks.get_all", '{"page": 0, "page_size": 5, "only_fields": ["id"], "x": [%s]}'),
])
def test_nan_and_infinity_anywhere_are_400_12_naming_the_field(client, name, body, value):
    response = client.post(f"/{name}", data=body % value, content_type="application/json")
    meta = response.get_json()["meta"]
    assert (response.status_code, meta["result_subcode"]) == (400, 12), meta["result_msg"]
    assert "NaN and Infinity are not allowed" in meta["result_msg"]
    field = {"v2.9/events.get_task_log": "from_timestamp", "tasks.create": "input.lr",
             "tasks.get_all": "x.0"}[name]
    assert f"field '{field}'" in meta["result_msg"]


@pytest.mark.parametrize("depth", [101, 2000, 100_000])
def test_deeply_nested_json_is_400_not_500(api, client, task_id, depth):
    nested = "[" * depth + "]" * depth
    response = client.post("/events.get_task_events", data=f'{{"task": "{task_id}", "x": {nested}}}',
                           content_type="application/json")
    code, subcode, msg = api.check_error(response)
    assert (code, subcode) == (400, 0) and "nested deeper than 100 levels" in msg
    assert depth > 1000 or "field 'x'" in msg  # beyond orjson's limit the stdlib parser says no more
    line = f'{{"type": "log", "task": "{task_id}", "msg": "m", "x": {nested}}}'
    response = client.post("/events.add_batch", data=line, content_type="application/json-lines")
    code, subcode, msg = api.check_error(response)
    assert (code, subcode) == (400, 0) and "nested deeper than 100 levels" in msg and "batch item #0" in msg


def test_nesting_up_to_the_limit_is_accepted(api, task_id):
    nested: Any = "leaf"
    for _ in range(98):  # the task document's input section is level 1
        nested = [nested]
    task = api.call("tasks.create", name=f"deep {task_id}", type="training", input={"deep": nested})["id"]
    assert api.call("tasks.get_by_id", task=task)["task"]["input"] == {"deep": nested}
