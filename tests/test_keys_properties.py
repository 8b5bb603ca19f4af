"""Property tests: KeyExtractor.find against a plainly written reference of the key grammar.

The reference below is deliberately naive (it tries every start, every hyphen and every length,
in the order a leftmost-first greedy regex would prefer them) so it is easy to check by eye; it
is far too slow for long texts, which is why the extractor does not work this way. Generated
texts mix the characters that matter: key letters in both cases, digits (with leading zeros),
``-``, ``_``, backslashes, backticks (single, double, fences), newlines, and non-ASCII letters
and digits (some of which Python's case-insensitive ``re`` folds into ASCII: ``ſ``, ``K``, ``ı``).

Derandomized, bounded and without an example database, so CI runs the same examples every time.
"""

from __future__ import annotations

import fnmatch
import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jirahooks.keys import DEFAULT_IGNORED_KEYS, KeyExtractor, KeyMatch

STABLE = settings(
    derandomize=True,
    max_examples=400,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

# --- the reference ---------------------------------------------------------------------------


def _letters(case_insensitive: bool) -> str:
    return string.ascii_letters if case_insensitive else string.ascii_uppercase


def _first_match(text: str, pos: int, case_insensitive: bool) -> tuple[int, int, int] | None:
    """The leftmost-first greedy match of LETTER WORD+ '-' DIGIT+ at or after ``pos``:
    (start, hyphen, end). Earliest start wins; for it, the longest WORD+ that is followed by a
    hyphen and a digit; then the longest digit run."""
    letters = _letters(case_insensitive)
    word = letters + string.digits + "_"
    n = len(text)
    for start in range(pos, n):
        if text[start] not in letters:
            continue
        for hyphen in range(n - 2, start + 1, -1):  # longest WORD+ first
            body = text[start + 1 : hyphen]
            if not all(c in word for c in body):
                continue
            if text[hyphen] == "-" and text[hyphen + 1] in string.digits:
                end = hyphen + 1
                while end < n and text[end] in string.digits:
                    end += 1
                return start, hyphen, end
    return None


def _reference_code_spans(text: str) -> list[tuple[int, int]]:
    """Fenced blocks (to the closing fence or the end), ``double`` spans within a line, and
    `single` spans within a line, scanned left to right."""
    spans: list[tuple[int, int]] = []
    i, n = 0, len(text)
    while i < n:
        if text[i] != "`":
            i += 1
            continue
        line_end = text.find("\n", i)
        line_end = n if line_end < 0 else line_end
        if text.startswith("```", i):
            close = text.find("```", i + 3)
            end = n if close < 0 else close + 3
        elif text.startswith("``", i):
            close = text.find("``", i + 2, line_end)
            end = i + 2 if close < 0 else close + 2  # unclosed: the empty `single` span "``"
        else:
            close = text.find("`", i + 1, line_end)
            if close < 0:
                i += 1
                continue
            end = close + 1
        spans.append((i, end))
        i = end
    return spans


def reference_find(
    text: str,
    *,
    case_insensitive: bool = False,
    ignored: tuple[str, ...] = DEFAULT_IGNORED_KEYS,
    backslash_escape: bool = True,
    backtick_escape: bool = True,
) -> list[KeyMatch]:
    found: list[KeyMatch] = []
    spans = _reference_code_spans(text)
    pos = 0
    while (match := _first_match(text, pos, case_insensitive)) is not None:
        start, hyphen, end = match
        pos = end  # a rejected match is consumed too, as finditer does
        if start > 0 and text[start - 1].isalnum():
            continue
        if end < len(text) and text[end].isalnum():
            continue
        if text[hyphen + 1] == "0":
            continue
        key = text[start:end].upper()
        escaped = (backslash_escape and start > 0 and text[start - 1] == "\\") or (
            backtick_escape and any(s <= start and end <= e for s, e in spans)
        )
        is_ignored = any(fnmatch.fnmatchcase(key, g.upper()) for g in ignored if g)
        found.append(KeyMatch(key, start, end, escaped, is_ignored))
    return found


# --- generated texts -------------------------------------------------------------------------

_PIECES = [
    *"ABCXYZabcxyz",
    *"0129",
    "-",
    "_",
    "\\",
    "`",
    "``",
    "```",
    "\n",
    " ",
    "/",
    *"éÄßſKı",  # non-ASCII letters; ſ, K (Kelvin) and ı fold to ASCII in re.IGNORECASE
    "٣",  # ARABIC-INDIC DIGIT THREE: a digit to str.isdigit, not to [0-9]
    "✓",
    "AB-1",
    "abc-12",
    "CVE-2024",
    "UTF-8",
    "X_Y-0",
    "-10",
]

texts = st.lists(st.sampled_from(_PIECES), max_size=30).map("".join)
globs = st.lists(st.sampled_from(["CVE-*", "AB-?", "*-1*", "X*", "[AB]*-2", ""]), max_size=3)


@STABLE
@given(texts, st.booleans())
def test_default_pattern_matches_the_reference(text: str, case_insensitive: bool) -> None:
    got = KeyExtractor().find(text, case_insensitive=case_insensitive)
    assert got == reference_find(text, case_insensitive=case_insensitive)


@STABLE
@given(texts, st.booleans(), globs, st.booleans(), st.booleans())
def test_options_match_the_reference(
    text: str, case_insensitive: bool, ignored: list[str], backslash: bool, backtick: bool
) -> None:
    extractor = KeyExtractor(ignored=ignored, backslash_escape=backslash, backtick_escape=backtick)
    expected = reference_find(
        text,
        case_insensitive=case_insensitive,
        ignored=tuple(ignored),
        backslash_escape=backslash,
        backtick_escape=backtick,
    )
    assert extractor.find(text, case_insensitive=case_insensitive) == expected


@STABLE
@given(texts)
def test_the_same_grammar_as_an_admin_pattern_on_re2_matches_the_reference(text: str) -> None:
    # Spelled differently from DEFAULT_KEY_PATTERN so that it runs on RE2.
    extractor = KeyExtractor(r"(?:[A-Z][A-Z0-9_]+)-[0-9]+")
    assert extractor.find(text) == reference_find(text)
    # RE2's case folding maps ſ and the Kelvin sign to s and k (an admin pattern's business);
    # without them the case-insensitive answers agree too.
    plain = text.replace("ſ", "s").replace("K", "k")
    assert extractor.find(plain, case_insensitive=True) == reference_find(
        plain, case_insensitive=True
    )


@STABLE
@given(texts, st.booleans())
def test_keys_are_the_evaluated_matches_in_order(text: str, case_insensitive: bool) -> None:
    extractor = KeyExtractor()
    found = extractor.find(text, case_insensitive=case_insensitive)
    expected = list(dict.fromkeys(m.key for m in found if m.evaluated))
    assert extractor.keys(text, case_insensitive=case_insensitive) == expected
    for m in found:
        assert text[m.start : m.end].upper() == m.key


def test_the_reference_agrees_with_hand_checked_examples() -> None:
    # The reference itself, on cases whose answers are written out by hand.
    assert [m.key for m in reference_find("ABC-1 and (DEF-22)")] == ["ABC-1", "DEF-22"]
    assert reference_find("xABC-1") == []
    assert reference_find("ABC-01") == []
    assert [m.key for m in reference_find("AB-1_CD-2")] == ["AB-1", "CD-2"]
    assert reference_find("xAB_CD-1") == []  # the rejected match consumes CD-1
    assert [m.key for m in reference_find("feature/abc-1", case_insensitive=True)] == ["ABC-1"]
    assert reference_find("`AB-1`")[0].escaped
    assert reference_find("CVE-1")[0].ignored
