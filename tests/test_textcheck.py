"""The boundary check itself (``jirahooks.textcheck``): which characters each kind of field
rejects, and the nesting pre-scan — exact for valid JSON, escapes and strings included."""

from __future__ import annotations

import json

import pytest

from jirahooks.textcheck import (
    Kind,
    TextError,
    check_tree,
    load_json,
    nesting_exceeds,
    scrub,
    text_problem,
)


def nested(depth: int, inner: str = "1") -> bytes:
    text = inner
    for i in range(depth):
        text = f'{{"k{i}": {text}}}' if i % 2 else f"[{text}]"
    return text.encode()


@pytest.mark.parametrize("depth", [0, 1, 2, 31, 32])
def test_nesting_within_the_limit(depth: int) -> None:
    body = nested(depth)
    assert json.loads(body) is not None
    assert not nesting_exceeds(body, 32)


@pytest.mark.parametrize("depth", [33, 40, 5000])
def test_nesting_beyond_the_limit(depth: int) -> None:
    assert nesting_exceeds(nested(depth), 32)


@pytest.mark.parametrize(
    "inner",
    ['"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["', '"\\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["'],
)
def test_brackets_inside_strings_do_not_count(inner: str) -> None:
    body = nested(3, inner)
    assert json.loads(body) and not nesting_exceeds(body, 32)


def test_escaped_backslashes_end_strings_where_json_ends_them() -> None:
    deep = "[" * 40 + "1" + "]" * 40
    for text in ('["\\\\", ' + deep + "]", '["a\\\\\\\\", ' + deep + "]"):
        assert json.loads(text) and nesting_exceeds(text.encode(), 32)
    assert not nesting_exceeds(b'["\\\\\\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["]', 32)


def test_unbalanced_text_is_never_parsed_deeply() -> None:
    assert nesting_exceeds(b"[" * 100_000, 32)
    assert nesting_exceeds(b"[" * 50 + b"}", 32)
    with pytest.raises(ValueError, match="deeper than 32"):
        load_json(b"[" * 100_000)
    with pytest.raises(ValueError):
        load_json(b"[}")


@pytest.mark.parametrize(
    ("value", "kind", "bad"),
    [
        ("a\ud800b", Kind.MESSAGE, True),
        ("a\udfffb", Kind.TEXT, True),
        ("a\x00b", Kind.MESSAGE, True),
        ("a\x1bb", Kind.MESSAGE, False),
        ("a\x1bb", Kind.TEXT, True),
        ("a\nb\tc\r", Kind.TEXT, False),
        ("a\nb", Kind.LINE, True),
        ("a\x7fb", Kind.LINE, True),
        ("ünïcødé 😀 \u2028", Kind.LINE, False),
    ],
)
def test_text_kinds(value: str, kind: Kind, bad: bool) -> None:
    assert (text_problem(value, kind) is not None) is bad


def test_length_and_tree() -> None:
    assert text_problem("x" * 11, Kind.LINE, 10) == "is longer than 10 characters"
    with pytest.raises(TextError) as info:
        check_tree({"a": [{"ok": "fine"}, {"b": "x\x00"}]})
    assert info.value.path == "a.1.b" and "NUL" in info.value.message
    with pytest.raises(TextError):
        check_tree({"bad\ud800key": 1})
    assert scrub({"k\ud800": ["a\x00", 1]}) == {"k\ufffd": ["a\ufffd", 1]}
