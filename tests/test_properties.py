"""Property tests (hypothesis) of the pure parts: scroll tokens, versions, json-lines parsing."""
from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from events_service import scroll
from events_service.api import body
from events_service.api.schema import ApiSchema
from events_service.api.versions import Version
from events_service.config import DEFAULTS
from events_service.errors import InvalidScrollId, RawBadRequest

json_scalars = st.none() | st.booleans() | st.integers(-2**63, 2**63 - 1) | st.text(max_size=20) | \
    st.floats(allow_nan=False, allow_infinity=False)
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=4) |
                           st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)
states = st.dictionaries(st.text(min_size=1, max_size=10).filter(lambda k: k != "exp"), json_values,
                         max_size=6)
BIND = {"endpoint": "e", "company": "c"}


@given(states)
def test_token_round_trip(state):
    token = scroll.encode({**state, **BIND}, "key", now=100)
    decoded = scroll.decode(token, "key", BIND, now=101)
    assert {k: v for k, v in decoded.items() if k != "exp"} == {**state, **BIND}


@given(states, st.integers(min_value=0), st.characters(codec="ascii"))
def test_any_edit_of_a_token_is_refused(state, position, char):
    token = scroll.encode({**state, **BIND}, "key", now=100)
    position %= len(token)
    edited = token[:position] + char + token[position + 1:]
    if edited == token:
        return
    try:
        decoded = scroll.decode(edited, "key", BIND, now=101)
    except InvalidScrollId:
        return
    # base64 padding bits can absorb an edit of the last character: then the state must be unchanged
    assert decoded == scroll.decode(token, "key", BIND, now=101)


@given(st.text(max_size=40))
def test_garbage_tokens_are_refused_never_crash(garbage):
    with pytest.raises(InvalidScrollId):
        scroll.decode(garbage, "key", BIND, now=101)


@given(st.integers(0, 99), st.integers(0, 99), st.integers(0, 99), st.integers(0, 99))
def test_versions_order_like_number_pairs(a, b, c, d):
    assert (Version(a, b) < Version(c, d)) == ((a, b) < (c, d))
    assert Version.parse(str(Version(a, b))) == Version(a, b)


API = ApiSchema(DEFAULTS["SCHEMA_DIR"])


@settings(max_examples=200)
@given(st.sampled_from(sorted(API.endpoints)), st.integers(0, 3), st.integers(0, 40))
def test_resolution_picks_the_highest_version_not_above(name, major, minor):
    requested = Version(major, minor)
    resolved = API.resolve(name, requested)
    eligible = [v for v in API.endpoints[name] if v <= requested]
    assert (resolved.version if resolved else None) == (max(eligible) if eligible else None)


@given(st.lists(st.dictionaries(st.text(max_size=8), json_values, max_size=5), max_size=20),
       st.sampled_from(["\n", "\r\n"]), st.booleans())
def test_json_lines_round_trip(objects, newline, trailing):
    raw = newline.join(json.dumps(o) for o in objects) + (newline if trailing and objects else "")
    assert body.parse_json_lines(raw.encode()) == objects


@given(st.lists(st.dictionaries(st.text(max_size=5), st.integers(), max_size=3), min_size=2, max_size=10),
       st.integers(min_value=0))
def test_json_lines_with_a_broken_line_names_its_index(objects, position):
    lines = [json.dumps(o) for o in objects]
    index = position % len(lines)
    lines[index] = lines[index][:-1] if lines[index] != "{}" else "{"
    with pytest.raises(RawBadRequest, match=f"batch item #{index}$"):
        body.parse_json_lines("\n".join(lines).encode())
