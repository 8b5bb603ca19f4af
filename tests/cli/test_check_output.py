"""What ``jirahooks check`` and the hooks print stays readable and the exit code stays the
verdict's (issue 13 B.7, B.8): control characters in commit messages, PR titles and branch
names never reach a terminal, a CI log or an XML report raw; a stream that cannot encode our
output, or a reader that goes away (``| head``), does not turn a BLOCK into 0 or 70."""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.conftest import GitRepo
from tests.hooks.conftest import git_run, jirahooks, write_file

RULES = """\
rules:
  - template: commit-key-required
  - template: branch-key-required
  - id: subjects
    title: Commit messages and PR titles start with a key
    triggers: [PUSH, PULL_REQUEST]
    targets: [COMMIT, PR_TITLE]
    checks: {naming: '^[A-Z]+-[0-9]+ '}
"""
HOSTILE = "fix \x1b[2J\x1b]0;pwned\x07 the login \u202eevil\r\x85"
RAW = ("\x1b", "\x07", "\r", "\x85", "\u202e")


@pytest.fixture
def repo(git_repo: GitRepo) -> GitRepo:
    git_repo.commit("ABC-1 initial")
    (git_repo.path / ".jirahooks.yml").write_text(RULES, encoding="utf-8")
    git_repo.git("checkout", "-q", "-b", "feature/ABC-1-x")
    git_repo.commit(HOSTILE)
    return git_repo


def check(repo: GitRepo, *argv: str, **env: str) -> subprocess.CompletedProcess[bytes]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("LC_", "PYTHONIO"))}
    environment.update(env)
    return subprocess.run(
        [sys.executable, "-m", "jirahooks", "check", "--range", "main..HEAD", *argv],
        cwd=repo.path,
        capture_output=True,
        env=environment,
        timeout=120,
        check=False,
    )


def test_junit_is_valid_xml_whatever_the_commit_message_holds(repo: GitRepo) -> None:
    result = check(repo, "--format", "junit", "--pr-title", "ABC-1 \x1b[31mred\x1b[0m")
    assert result.returncode == 1, result.stderr
    root = ET.fromstring(result.stdout)  # raises on a control character XML 1.0 forbids
    failure = root.find(".//failure")
    assert failure is not None
    text = result.stdout.decode()
    assert not any(c in text for c in RAW)
    assert "\\u001b" in text  # shown, not dropped


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_text_and_json_print_no_raw_control_character(repo: GitRepo, fmt: str) -> None:
    result = check(repo, "--format", fmt, "--verbose")
    assert result.returncode == 1, result.stderr
    text = result.stdout.decode()
    assert not any(c in text for c in RAW), text
    if fmt == "json":
        import json

        json.loads(text)  # still JSON: \u001b is the same character again


@pytest.mark.parametrize(
    "env",
    [{"PYTHONIOENCODING": "cp1252"}, {"PYTHONIOENCODING": "ascii"}, {"LC_ALL": "C"}],
    ids=["cp1252", "ascii", "C"],
)
def test_a_narrow_stdout_keeps_the_verdict(repo: GitRepo, env: dict[str, str]) -> None:
    result = check(repo, "--verbose", "--pr-title", "ABC-1 Größe ändern ✓", **env)
    assert result.returncode == 1, result.stderr.decode(errors="replace")
    assert b"UnicodeEncodeError" not in result.stderr
    assert b"jirahooks: BLOCK" in result.stdout


def test_a_reader_that_goes_away_keeps_the_verdict(repo: GitRepo) -> None:
    """``jirahooks check … | head -0``: the reader is gone before anything is written."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        process = subprocess.run(
            [sys.executable, "-m", "jirahooks", "check", "--range", "main..HEAD", "--verbose"],
            cwd=repo.path,
            stdout=write_end,
            stderr=subprocess.PIPE,
            timeout=120,
            check=False,
        )
    finally:
        os.close(write_end)
    assert process.returncode == 1, process.stderr
    assert b"Traceback" not in process.stderr and b"BrokenPipe" not in process.stderr


def test_pre_receive_remote_lines_are_clean(
    make_repo: Callable[..., GitRepo], tmp_path: Path
) -> None:
    server = make_repo("server.git", bare=True)
    config = write_file(tmp_path / "jirahooks.yml", RULES)
    installed = jirahooks("install", "pre-receive", "--config", str(config), cwd=server.path)
    assert installed.returncode == 0, installed.stderr
    client = make_repo("client")
    client.git("remote", "add", "origin", str(server.path))
    client.commit("ABC-1 initial")
    assert git_run(client.path, "push", "origin", "main").returncode == 0
    client.git("checkout", "-q", "-b", "feature/ABC-2-x")
    client.commit(HOSTILE)
    pushed = subprocess.run(
        ["git", "push", "origin", "feature/ABC-2-x"],
        cwd=client.path,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert pushed.returncode != 0
    assert b"remote: jirahooks" in pushed.stderr
    remote = b"\n".join(line for line in pushed.stderr.splitlines() if b"remote:" in line)
    assert b"\\u001b" in remote, remote
    assert not any(c.encode() in remote for c in ("\x1b", "\x07", "\u202e", "\x85"))
