"""The HOCON schema: loaded and compiled at start-up, handlers checked against it, versions resolved."""
from __future__ import annotations

import pytest

from events_service.api import registry
from events_service.api.schema import ApiSchema
from events_service.api.versions import Version
from events_service.config import DEFAULTS


@pytest.fixture(scope="module")
def schema():
    return ApiSchema(DEFAULTS["SCHEMA_DIR"])


def test_every_seed_endpoint_version_is_loaded(schema):
    versions = {name: sorted(str(v) for v in vs) for name, vs in schema.endpoints.items()}
    assert versions["events.get_task_log"] == ["1.5", "1.7", "2.9"]  # 2.9: ClearML's, for the current SDK
    assert versions["events.debug_images"] == ["2.1", "2.7"]
    assert versions["events.get_task_metrics"] == ["2.7"]
    assert versions["events.get_task_single_value_metrics"] == ["2.20"]  # ClearML's, for the current SDK
    assert len([n for n in versions if n.startswith("events.")]) == 18


def test_every_handler_has_a_schema_entry(app, schema):
    for name, version in registry.HANDLERS:
        assert version in schema.endpoints[name], (name, version)


def test_a_handler_without_schema_stops_start_up(schema):
    key = ("events.add", Version(9, 9))
    registry.HANDLERS[key] = lambda call, req: {}
    try:
        with pytest.raises(RuntimeError, match="events.add 9.9"):
            registry.check_against_schema(schema.endpoints)
    finally:
        del registry.HANDLERS[key]


@pytest.mark.parametrize("name,requested,served", [
    ("events.add_batch", "2.9", "2.1"),
    ("events.get_task_log", "1.6", "1.5"),
    ("events.get_task_log", "2.7", "1.7"),
    ("events.debug_images", "2.6", "2.1"),
    ("events.debug_images", "2.10", "2.7"),
])
def test_resolution_is_the_highest_version_not_above(schema, name, requested, served):
    assert str(schema.resolve(name, Version.parse(requested)).version) == served


def test_no_version_low_enough_resolves_to_nothing(schema):
    assert schema.resolve("events.get_task_metrics", Version(2, 6)) is None


def test_batch_lines_are_validated_as_events_add_2_1(schema):
    batch = schema.endpoints["events.add_batch"][Version(2, 1)]
    assert batch.batch_of == ("events.add", Version(1, 5))
    assert schema.batch_item_schema(batch).version == Version(2, 1)
    branches = schema.event_validators(schema.batch_item_schema(batch))
    assert set(branches) == {"training_stats_scalar", "training_stats_vector", "training_debug_image",
                             "plot", "log"}


def test_request_defaults_come_from_the_schema(schema):
    assert schema.endpoints["events.delete_for_task"][Version(2, 1)].defaults == {"allow_locked": False}


@pytest.mark.parametrize("text", ["2", "2.", ".1", "a.b", "2.1.1"])
def test_bad_version_text(text):
    with pytest.raises(ValueError):
        Version.parse(text)


def test_versions_compare_per_component():
    assert Version.parse("2.10") > Version.parse("2.9")
