"""Differential tests: the default pattern's extraction (``-digits`` found at C speed, the key's
start found by walking its run back: ``keys._key_start``) against the scan it replaced, which
matched every word of a text with one regex and is kept here verbatim as the oracle.

Generated texts use the alphabet of tests/test_keys_properties.py (key letters in both cases,
digits with leading zeros, ``-``, ``_``, backslashes, backticks, non-ASCII letters and digits)
plus runs and real-length commit messages (tests/support/pushes.py). Derandomized, bounded,
without an example database.
"""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st
from tests.support.pushes import message
from tests.test_keys_properties import _PIECES, STABLE

from jirahooks.keys import DEFAULT_IGNORED_KEYS, KeyExtractor, KeyMatch, _code_spans, _inside


def _previous_scan(letters: str) -> re.Pattern[str]:
    word = letters + "0-9_"
    return re.compile(rf"(?P<k>[{letters}][{word}]++-[0-9]++)|[{letters}][{word}]*+|[0-9_]++")


_PREVIOUS = {False: _previous_scan("A-Z"), True: _previous_scan("A-Za-z")}


def previous_find(
    text: str,
    *,
    case_insensitive: bool = False,
    ignored: tuple[str, ...] = DEFAULT_IGNORED_KEYS,
    backslash_escape: bool = True,
    backtick_escape: bool = True,
) -> list[KeyMatch]:
    """``KeyExtractor.find`` for the default pattern as it was before (one match per word)."""
    import fnmatch

    globs = [g.upper() for g in ignored if g]
    ignore = re.compile("|".join(fnmatch.translate(g) for g in globs)) if globs else None
    spans = None
    backticks = backtick_escape and "`" in text
    found: list[KeyMatch] = []
    for match in _PREVIOUS[case_insensitive].finditer(text):
        if match.lastgroup != "k":
            continue
        start, end = match.start(), match.end()
        if (start > 0 and text[start - 1].isalnum()) or (end < len(text) and text[end].isalnum()):
            continue
        raw = match.group(0)
        _, sep, number = raw.rpartition("-")
        if not sep or not number.isdigit() or number.startswith("0"):
            continue
        key = raw.upper()
        escaped = False
        if backslash_escape and start > 0 and text[start - 1] == "\\":
            escaped = True
        elif backticks:
            if spans is None:
                spans = _code_spans(text)
            escaped = _inside(spans, start, end)
        found.append(KeyMatch(key, start, end, escaped, bool(ignore and ignore.match(key))))
    return found


_RUNS = ["A" * 40, "a" * 40, "1" * 40, "_" * 40, "AB_" * 10, "9_Q" * 8, "-" * 5]
texts = st.lists(st.sampled_from(_PIECES + _RUNS), max_size=40).map("".join)
globs = st.lists(st.sampled_from(["CVE-*", "AB-?", "*-1*", "X*", "[AB]*-2", ""]), max_size=3)


@STABLE
@given(texts, st.booleans())
def test_the_default_pattern_finds_what_the_previous_scan_found(
    text: str, case_insensitive: bool
) -> None:
    got = KeyExtractor().find(text, case_insensitive=case_insensitive)
    assert got == previous_find(text, case_insensitive=case_insensitive)


@STABLE
@given(texts, st.booleans(), globs, st.booleans(), st.booleans())
def test_every_option_finds_what_the_previous_scan_found(
    text: str, case_insensitive: bool, ignored: list[str], backslash: bool, backtick: bool
) -> None:
    extractor = KeyExtractor(ignored=ignored, backslash_escape=backslash, backtick_escape=backtick)
    expected = previous_find(
        text,
        case_insensitive=case_insensitive,
        ignored=tuple(ignored),
        backslash_escape=backslash,
        backtick_escape=backtick,
    )
    assert extractor.find(text, case_insensitive=case_insensitive) == expected


@STABLE
@given(st.integers(min_value=0, max_value=50_000), st.booleans())
def test_real_length_messages_give_what_the_previous_scan_gave(
    i: int, case_insensitive: bool
) -> None:
    text = message(i, key=i % 7 != 0)
    got = KeyExtractor().find(text, case_insensitive=case_insensitive)
    assert got == previous_find(text, case_insensitive=case_insensitive)
    assert bool(got) == (i % 7 != 0)  # the subject's key, and nothing in a message without one


def test_hand_checked_runs() -> None:
    # a key's digits begin the next run; its first letter starts the next key
    assert [m.key for m in KeyExtractor().find("AB-1_CD-2")] == ["AB-1", "CD-2"]
    assert [m.key for m in KeyExtractor().find("1_A_B-3")] == ["A_B-3"]
    assert KeyExtractor().find("1AB_CD-2") == []  # the run's first letter is after a digit
    assert KeyExtractor().find("1A-2") == []  # one letter before the hyphen: no key
    assert [m.key for m in KeyExtractor().find("ab_cd-3", case_insensitive=True)] == ["AB_CD-3"]
