"""``jirahooks COMMAND --help`` is plain text (issue 13 B.10): the commands' docstrings are
reStructuredText, and ``code``, `code`, roles and ``Examples::`` must not show raw."""

from __future__ import annotations

import re

import pytest

from jirahooks.cli import COMMANDS, main


def _help(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main([*argv, "--help"])
    assert exit_info.value.code == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("command", [c.name for c in COMMANDS])
def test_help_shows_no_restructuredtext(capsys: pytest.CaptureFixture[str], command: str) -> None:
    text = _help(capsys, command)
    assert text.startswith("usage: jirahooks " + command)
    assert "``" not in text, text
    assert not re.search(r"\S::\s*$", text, flags=re.MULTILINE), text
    assert not re.search(r":[a-z]+:`", text), text


def test_check_help_reads_well(capsys: pytest.CaptureFixture[str]) -> None:
    text = _help(capsys, "check")
    assert "jirahooks check: evaluate" in text
    assert "Examples:\n" in text
    assert "--max-lines N" in text
