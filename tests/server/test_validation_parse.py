"""The Validation API's body parsing fast paths (server/validation.py) decide exactly as the
careful paths they stand in front of:

* ``_valid_commits`` (every field of every commit checked kind by kind, no error path built)
  returns the same commits as ``_commits`` (each field checked in order) whenever the careful
  path accepts them, and ``None`` — so the careful path reports the first problem — whenever it
  refuses them;
* ``_load`` parses with orjson and leaves what orjson refuses to ``json.loads``: the same
  value, or the same error code, as ``json.loads`` alone.

Derandomized Hypothesis tests over fields that are valid, of the wrong type, absent, null, too
long, or hold NUL, a control character or a lone surrogate.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jirahooks.server.validation import _commits, _load, _valid_commits
from jirahooks.server.validation_request import Rejection

STABLE = settings(
    derandomize=True,
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

ABSENT = object()
TEXTS = ["", "a" * 40, "ABC-1 fix\n\nbody\ttab", "é ünïcödé", "x\x00y", "bell\x07", "\ud800", "✓"]
VALUES = st.one_of(
    st.sampled_from([*TEXTS, None, 7, 1.5, True, [], {}, ABSENT]),
    st.integers(min_value=150, max_value=5000).map(lambda n: "h" * n),  # around the limits
)
FIELDS = ("hash", "message", "authorDisplayName", "url")


@st.composite
def raw_commits(draw: Any) -> list[Any]:
    out: list[Any] = []
    for _ in range(draw(st.integers(min_value=0, max_value=4))):
        if draw(st.integers(min_value=0, max_value=30)) == 0:
            out.append(draw(st.sampled_from(["not an object", 3, None, []])))
            continue
        commit = {}
        for name in FIELDS:
            value = draw(VALUES) if draw(st.booleans()) else f"{name}-ok"
            if value is not ABSENT:
                commit[name] = value
        out.append(commit)
    return out


@STABLE
@given(raw_commits())
def test_the_fast_path_accepts_exactly_what_the_careful_path_accepts(raw: list[Any]) -> None:
    fast = _valid_commits(raw)
    try:
        careful = _commits(raw)
    except Rejection:
        assert fast is None
        return
    if fast is not None:
        assert fast == careful
    # a fast path that gave up on valid commits would only be slow; it must not happen for
    # the commits every client sends
    if all(isinstance(c, dict) and set(c) == set(FIELDS) for c in raw) and all(
        isinstance(c[f], str) and "\x00" not in c[f] and len(c[f]) <= 200 and c[f].isprintable()
        for c in raw
        for f in FIELDS
    ):
        assert fast == careful


JSON_BODIES = [
    b'{"a":"\\ud800"}',  # a lone surrogate: orjson refuses it, json.loads reads it
    b'{"a":"\\ud83d\\ude00"}',
    b'{"a":1,"a":2}',
    b'\xef\xbb\xbf{"a":1}',  # a UTF-8 BOM
    b'{"a":NaN}',
    b'{"a":1e400}',
    b'{"a":"\\u0000"}',
    b'{"a":"\xed\xa0\x80"}',  # an encoded surrogate: not UTF-8
    b'{"a":"\xff"}',
    b'{"a":[1,2,{"b":null}]}',
    b"{",
    b'{"a":1} trailing',
    b"[]",
]


def _json_loads(body: bytes) -> Any:
    try:
        return json.loads(body.decode("utf-8-sig"))
    except (ValueError, UnicodeDecodeError) as exc:
        return ("error", type(exc).__name__)


@pytest.mark.parametrize("body", JSON_BODIES)
def test_orjson_first_decides_as_json_loads(body: bytes) -> None:
    expected = _json_loads(body)
    try:
        got = _load(body)
    except Rejection as rejection:
        assert rejection.code == "JSON_PARSE_ERROR"
        assert isinstance(expected, tuple) and expected[0] == "error"
        return
    if isinstance(got, dict) and got.get("a") != got.get("a"):  # NaN
        assert expected["a"] != expected["a"]
    else:
        assert got == expected


GOOD = {"hash": "a" * 40, "message": "ABC-1 fix\n\nbody", "authorDisplayName": "Ada", "url": "u"}
BAD_VALUES = ["x\x00y", "\ud800", "bell\x07", 7, None, "h" * 5000]


@pytest.mark.parametrize("field", FIELDS)
@pytest.mark.parametrize("bad", BAD_VALUES, ids=repr)
def test_one_bad_field_among_good_commits_takes_the_careful_path(field: str, bad: Any) -> None:
    raw = [dict(GOOD), {**GOOD, field: bad}, dict(GOOD)]
    fast = _valid_commits(raw)
    try:
        careful = _commits(raw)
    except Rejection as rejection:
        assert fast is None
        assert rejection.code == "PAYLOAD_VALIDATION_ERROR" and "commits.1." in rejection.message
        return
    assert fast == careful  # null fields and control characters in messages are fine
