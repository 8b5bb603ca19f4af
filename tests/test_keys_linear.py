"""Key extraction is linear on hostile 1 MB texts, on every path (issue 10, section 1).

A branch name or commit message is attacker input. On the old default pattern (Python's ``re``,
quadratic on a run of letters with no ``-digits``) 1 MB of ``b`` ran for hours; the code-span
lookup was quadratic in keys × spans. Each case runs in a subprocess with a generous timeout
(linear work is well under a second per MB; the quadratic kind is hours), and asserts on what was
found, so a "fast" answer that skipped the work fails too.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

MB = 1_000_000

# name -> (text builder, expected (matches, evaluated distinct keys) per case mode)
HOSTILE: dict[str, str] = {
    "lower run": "'b' * MB",
    "upper run": "'B' * MB",
    "digits": "'1' * MB",
    "underscores": "'_' * MB",
    "letters and underscores": "'A_' * (MB // 2)",
    "no digit after the hyphen": "'AB-' * (MB // 3)",
    "many keys": "'AB-1 ' * (MB // 5)",
    "many rejected keys": "'AB-12x' * (MB // 6)",
    "keys in code spans": "'`AB-1` ' * (MB // 7)",
    "backticks": "'`' * MB",
    "unclosed double backticks": "'``' + 'AB-1 ' * (MB // 5)",
    "unclosed fence": "'```' + 'AB-1 ' * (MB // 5)",
    "backslashes": "'\\\\AB-1 ' * (MB // 6)",
    "non-ASCII letters": "'é' * MB",
    "one long key": "'A' * MB + '-1'",
}

_SCRIPT = """
import json, sys
from jirahooks.keys import KeyExtractor
MB = 1_000_000
pattern, ci, cases = sys.argv[1], sys.argv[2] == "ci", json.loads(sys.argv[3])
extractor = KeyExtractor(pattern) if pattern else KeyExtractor()
out = {}
for name, expr in cases.items():
    found = extractor.find(eval(expr), case_insensitive=ci)
    out[name] = [len(found), sum(m.escaped for m in found), sorted({m.key for m in found})[:3]]
print(json.dumps(out))
"""


# RE2 is linear by construction; for admin patterns what matters is our handling of its matches.
ADMIN_CASES = ("lower run", "many keys", "keys in code spans", "one long key")


def _run(pattern: str, case_insensitive: bool) -> dict[str, list[object]]:
    cases = HOSTILE if not pattern else {k: HOSTILE[k] for k in ADMIN_CASES}
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            textwrap.dedent(_SCRIPT),
            pattern,
            "ci" if case_insensitive else "cs",
            json.dumps(cases),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    result: dict[str, list[object]] = json.loads(proc.stdout)
    return result


@pytest.mark.parametrize("case_insensitive", [False, True], ids=["case-sensitive", "any-case"])
@pytest.mark.parametrize(
    "pattern", ["", r"[A-Z][A-Z0-9_]*-[1-9][0-9]*"], ids=["default", "admin-pattern"]
)
@pytest.mark.timeout(120)
def test_hostile_megabyte_texts_are_scanned_in_linear_time(
    pattern: str, case_insensitive: bool
) -> None:
    got = _run(pattern, case_insensitive)
    many = MB // 5
    assert got["lower run"] == [0, 0, []]
    assert got["many keys"] == [many, 0, ["AB-1"]]
    assert got["keys in code spans"] == [MB // 7, MB // 7, ["AB-1"]]
    assert got["one long key"][0] == 1
    if pattern:
        return
    assert got["upper run"] == [0, 0, []]
    assert got["digits"] == [0, 0, []]
    assert got["no digit after the hyphen"] == [0, 0, []]
    assert got["many rejected keys"] == [0, 0, []]
    assert got["unclosed double backticks"] == [many, 0, ["AB-1"]]
    assert got["unclosed fence"] == [many, many, ["AB-1"]]
    assert got["backslashes"] == [MB // 6, MB // 6, ["AB-1"]]
    assert got["non-ASCII letters"] == [0, 0, []]


class _CountingText(str):
    """A text that counts how often it is searched for a substring."""

    searches = 0

    def __contains__(self, item: object) -> bool:
        type(self).searches += 1
        return super().__contains__(item)  # type: ignore[operator]


def test_the_text_is_searched_for_backticks_once_not_once_per_key() -> None:
    from jirahooks.keys import KeyExtractor

    text = _CountingText("AB-1 " * 1000)
    _CountingText.searches = 0
    found = KeyExtractor().find(text)
    assert len(found) == 1000
    assert _CountingText.searches <= 1
