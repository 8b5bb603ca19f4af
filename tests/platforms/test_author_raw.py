"""Commit authors (``Name <email>``, written by whoever makes the commit) are parsed in linear
time, with the answers of the regex they replace (issue 10, section 1: the class of the problem).

``^\\s*(.*?)\\s*<([^>]*)>\\s*$`` took ~1.7 s on 20,000 spaces and grows with the square; here it
serves as the reference on short generated strings."""

from __future__ import annotations

import re
import subprocess
import sys

from hypothesis import given, settings
from hypothesis import strategies as st

from jirahooks.platforms.bitbucket_cloud import commit_from, parse_author_raw

REFERENCE = re.compile(r"^\s*(.*?)\s*<([^>]*)>\s*$")


@settings(derandomize=True, max_examples=500, deadline=None, database=None)
@given(st.text(alphabet=" \t\n\u00a0<>ab@.é", max_size=24))
def test_same_answers_as_the_reference_regex(raw: str) -> None:
    match = REFERENCE.match(raw)
    expected = (match.group(1), match.group(2)) if match else None
    assert parse_author_raw(raw) == expected


def test_plain_authors() -> None:
    assert parse_author_raw("Ada Lovelace <ada@example.com>") == ("Ada Lovelace", "ada@example.com")
    assert parse_author_raw("  Ada  <ada@x>  \n") == ("Ada", "ada@x")
    assert parse_author_raw("Ada <a> <ada@x>") == ("Ada <a>", "ada@x")
    assert parse_author_raw("Ada") is None
    assert parse_author_raw("Ada\nLovelace <ada@x>") is None


def test_a_megabyte_of_spaces_in_the_author_is_parsed_in_linear_time() -> None:
    script = (
        "from jirahooks.platforms.bitbucket_cloud import commit_from\n"
        "raw = 'a' + ' ' * 1_000_000 + 'b'\n"
        "c = commit_from({'hash': 'f' * 40, 'message': 'm', 'author': {'raw': raw}})\n"
        "print(len(c.author_name), repr(c.author_email))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["1000002", "''"]  # not "Name <email>": the raw text, no email
    commit = commit_from({"hash": "f" * 40, "message": "m", "author": {"raw": "Ada <ada@x>"}})
    assert (commit.author_name, commit.author_email) == ("Ada", "ada@x")
