"""Issue-key extraction: default pattern, boundaries, case, escapes, ignore globs, RE2 patterns."""

from __future__ import annotations

from typing import Any

import pytest

from jirahooks.keys import (
    DEFAULT_KEY_PATTERN,
    KeyExtractor,
    KeyMatch,
    compile_user_regex,
    distinct,
    project_of,
)


@pytest.fixture(scope="module")
def extractor() -> KeyExtractor:
    return KeyExtractor()


def keys(text: str, *, case_insensitive: bool = False, **kwargs: Any) -> list[str]:
    return KeyExtractor(**kwargs).keys(text, case_insensitive=case_insensitive)


# --- default pattern -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ABC-1 Fix login", ["ABC-1"]),
        ("Fix login (ABC-12)", ["ABC-12"]),
        ("ABC-1: fix", ["ABC-1"]),
        ("feature/ABC-123-login", ["ABC-123"]),
        ("[ABC-7] fix", ["ABC-7"]),
        ("AB-1", ["AB-1"]),
        ("A1B2-9 digits in the project key", ["A1B2-9"]),
        ("MY_PROJ-5 underscores in the project key", ["MY_PROJ-5"]),
        ("ABC-1 and DEF-2 and ABC-1 again", ["ABC-1", "DEF-2"]),
        ("ABC-1234567", ["ABC-1234567"]),
        ("ABC-1-2", ["ABC-1"]),
        ("ABC-1_login", ["ABC-1"]),
        ("_AB-1", ["AB-1"]),
        ("multi\nline\nABC-3 at the start of a line", ["ABC-3"]),
    ],
)
def test_default_pattern_finds_keys(text: str, expected: list[str]) -> None:
    assert keys(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "xABC-1",  # a letter right before the key
        "9ABC-1",  # a digit right before the key
        "ABC-1x",  # a letter right after
        "ABC-12a",
        "ÄABC-1",  # non-ASCII letters are letters too
        "ABC-1é",
        "ABC-01",  # Jira never numbers with a leading zero
        "ABC-0",
        "A-1",  # a project key has at least two characters
        "abc-1",  # lower case outside case-insensitive targets
        "ABC_1",
        "ABC-",
        "-1",
        "",
    ],
)
def test_default_pattern_rejects_non_keys(text: str) -> None:
    assert keys(text) == []


def test_case_insensitive_mode_reports_upper_case_keys() -> None:
    assert keys("feature/abc-123-login", case_insensitive=True) == ["ABC-123"]
    assert keys("feature/abc-123-login") == []
    assert keys("bugfix/Abc-9", case_insensitive=True) == ["ABC-9"]


def test_positions_point_at_the_key_in_the_original_text(extractor: KeyExtractor) -> None:
    text = "Größe ändern ✓ ABC-1 and (DEF-22)"
    found = extractor.find(text)
    assert [m.key for m in found] == ["ABC-1", "DEF-22"]
    for match in found:
        assert text[match.start : match.end] == match.key
    assert found[0] == KeyMatch("ABC-1", 15, 20)
    assert found[0].project == "ABC"
    assert found[0].evaluated


def test_positions_in_case_insensitive_mode_cover_the_written_text(
    extractor: KeyExtractor,
) -> None:
    text = "feature/abc-123-login"
    (match,) = extractor.find(text, case_insensitive=True)
    assert match.key == "ABC-123"
    assert text[match.start : match.end] == "abc-123"


def test_non_ascii_neighbours_that_are_not_letters_do_not_block_a_key() -> None:
    assert keys("✓ABC-1✓ Größe") == ["ABC-1"]


def test_keys_are_distinct_in_order_of_first_appearance(extractor: KeyExtractor) -> None:
    assert extractor.keys("DEF-2 ABC-1 DEF-2 ABC-1 GHI-3") == ["DEF-2", "ABC-1", "GHI-3"]
    assert distinct(["B-1", "A-1", "B-1"]) == ["B-1", "A-1"]


def test_project_of() -> None:
    assert project_of("ABC-123") == "ABC"
    assert project_of("MY_PROJ-5") == "MY_PROJ"


# --- escapes ---------------------------------------------------------------------------------


def test_backslash_escape(extractor: KeyExtractor) -> None:
    found = extractor.find(r"\ABC-1 but DEF-2")
    assert [(m.key, m.escaped) for m in found] == [("ABC-1", True), ("DEF-2", False)]
    assert extractor.keys(r"\ABC-1 but DEF-2") == ["DEF-2"]
    assert not found[0].evaluated


def test_inline_code_span_escapes(extractor: KeyExtractor) -> None:
    found = extractor.find("see `ABC-1` and DEF-2")
    assert [(m.key, m.escaped) for m in found] == [("ABC-1", True), ("DEF-2", False)]


def test_fenced_block_escapes_everything_inside(extractor: KeyExtractor) -> None:
    text = "DEF-2 fix\n\n```\nlog: ABC-1 failed\nGHI-3\n```\nafter JKL-4"
    found = {m.key: m.escaped for m in extractor.find(text)}
    assert found == {"DEF-2": False, "ABC-1": True, "GHI-3": True, "JKL-4": False}


def test_unclosed_fence_escapes_to_the_end(extractor: KeyExtractor) -> None:
    found = {m.key: m.escaped for m in extractor.find("DEF-2\n```\nABC-1")}
    assert found == {"DEF-2": False, "ABC-1": True}


def test_escapes_can_be_switched_off() -> None:
    assert keys(r"\ABC-1", backslash_escape=False) == ["ABC-1"]
    assert keys("`ABC-1`", backtick_escape=False) == ["ABC-1"]
    assert keys("`ABC-1`") == []


def test_a_key_mentioned_both_escaped_and_plain_is_evaluated(extractor: KeyExtractor) -> None:
    assert extractor.keys("`ABC-1` ABC-1") == ["ABC-1"]


# --- ignore list -----------------------------------------------------------------------------


def test_default_ignore_globs(extractor: KeyExtractor) -> None:
    text = "fix CVE-2024-1234, UTF-8 and ISO-8601 handling for ABC-4"
    found = extractor.find(text)
    assert {m.key for m in found if m.ignored} == {"CVE-2024", "UTF-8", "ISO-8601"}
    assert extractor.keys(text) == ["ABC-4"]


def test_ignore_globs_apply_to_case_insensitive_matches(extractor: KeyExtractor) -> None:
    assert extractor.keys("feature/utf-8-fix", case_insensitive=True) == []


def test_custom_ignore_list_replaces_the_default() -> None:
    assert keys("KIP-500 UTF-8", ignored=["kip-*"]) == ["UTF-8"]
    assert keys("UTF-8 CVE-1", ignored=[]) == ["UTF-8", "CVE-1"]


# --- custom patterns (RE2) -------------------------------------------------------------------


def test_custom_pattern_runs_on_re2() -> None:
    extractor = KeyExtractor(r"[A-Z]{2,5}-[1-9][0-9]*")
    assert extractor.pattern != DEFAULT_KEY_PATTERN
    assert extractor.keys("ABCDEF-1 AB-2 abc-3") == ["AB-2"]
    assert extractor.keys("ab-3", case_insensitive=True) == ["AB-3"]


def test_custom_pattern_positions_on_non_ascii_text() -> None:
    extractor = KeyExtractor(r"[A-Z]+-[0-9]+")
    text = "Größe ändern ✓ ABC-1 ✓GHI-3"
    found = extractor.find(text)
    assert [m.key for m in found] == ["ABC-1", "GHI-3"]
    for match in found:
        assert text[match.start : match.end] == match.key


def test_custom_pattern_still_rejects_leading_zero_and_word_boundaries() -> None:
    extractor = KeyExtractor(r"[A-Z]+-[0-9]+")
    assert extractor.keys("ABC-01 xDEF-2 GHI-3x JKL-4") == ["JKL-4"]


@pytest.mark.parametrize("pattern", ["(unclosed", r"(?<=x)ABC-1", r"(A)\1-1", "[z-a]"])
def test_invalid_custom_pattern_raises_value_error(pattern: str) -> None:
    with pytest.raises(ValueError) as excinfo:
        KeyExtractor(pattern)
    assert str(excinfo.value)


def test_compile_user_regex_reports_re2_message() -> None:
    with pytest.raises(ValueError, match="missing \\)"):
        compile_user_regex("(abc")


def test_compile_user_regex_ignore_case() -> None:
    assert compile_user_regex("^abc$", ignore_case=True).search("ABC") is not None
    assert compile_user_regex("^abc$").search("ABC") is None


# --- ReDoS -----------------------------------------------------------------------------------
# These patterns backtrack exponentially on Python's ``re`` ((a|aa)+$ on 'a' * 40 + '!' takes
# ~fib(40) steps; (a+)+$ on 50,000 'a's is beyond any timeout). They are never run on ``re``
# here: jirahooks must run them on RE2, which answers in linear time. pytest-timeout is the guard.


def test_catastrophic_pattern_completes_on_re2() -> None:
    regex = compile_user_regex(r"(a+)+$")
    assert regex.search("a" * 50_000 + "!") is None
    assert regex.search("a" * 50_000) is not None


def test_catastrophic_alternation_completes_on_re2() -> None:
    regex = compile_user_regex(r"^(a|aa)+$")
    assert regex.search("a" * 40 + "!") is None
    assert regex.search("a" * 40) is not None


def test_catastrophic_key_pattern_completes_in_the_extractor() -> None:
    extractor = KeyExtractor(r"(?:[A-Z]+)+-[0-9]+")
    text = "A" * 50_000 + " ABC-7"
    assert extractor.keys(text) == ["ABC-7"]


def test_double_backtick_code_spans_escape_keys() -> None:
    found = KeyExtractor().find("see ``ABC-1`` and `XY-2` and AB-3")
    assert [(m.key, m.escaped) for m in found] == [("ABC-1", True), ("XY-2", True), ("AB-3", False)]
