"""Scroll tokens: round trip, binding, tampering and expiry (no database)."""
from __future__ import annotations

import pytest

from events_service import scroll
from events_service.errors import InvalidScrollId

KEY = "k" * 32
BIND = {"endpoint": "events.get_task_events", "company": "c1", "task": "t1"}


def token(**state):
    return scroll.encode({**BIND, **state}, KEY, ttl=60, now=1000)


def test_round_trip_keeps_the_state():
    state = scroll.decode(token(after=[5, 7], size=3), KEY, BIND, now=1001)
    assert (state["after"], state["size"]) == ([5, 7], 3)


@pytest.mark.parametrize("field,value", [("task", "t2"), ("company", "c2"),
                                         ("endpoint", "events.get_task_log")])
def test_token_is_bound_to_task_company_and_endpoint(field, value):
    with pytest.raises(InvalidScrollId):
        scroll.decode(token(), KEY, {**BIND, field: value}, now=1001)


def test_another_key_cannot_open_it():
    with pytest.raises(InvalidScrollId):
        scroll.decode(token(), "other-key", BIND, now=1001)


def test_any_changed_character_is_refused():
    original = token(after=[1, 2])
    for i in range(len(original)):
        replacement = "A" if original[i] != "A" else "B"
        mangled = original[:i] + replacement + original[i + 1:]
        with pytest.raises(InvalidScrollId):
            scroll.decode(mangled, KEY, BIND, now=1001)


def test_expired_token_is_refused():
    with pytest.raises(InvalidScrollId, match="expired"):
        scroll.decode(token(), KEY, BIND, now=1061)


@pytest.mark.parametrize("garbage", ["", ".", "a.b.c", "!!!.???", "e30.AAAA"])
def test_garbage_is_refused(garbage):
    with pytest.raises(InvalidScrollId):
        scroll.decode(garbage, KEY, BIND, now=1001)
