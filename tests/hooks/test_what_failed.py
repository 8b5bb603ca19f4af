"""What a blocked developer reads: one short form of a commit hash in every output, and a
pre-receive closing line that names what failed (the branch name, commits, or both).

Each output is produced for real: ``jirahooks check`` (text and JUnit), the installed pre-push
hook in local and remote mode, and pre-receive in a bare repository."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.conftest import GitRepo
from tests.hooks.conftest import ValidationStub, git_run, jirahooks, write_file

SHORT_HASH_LENGTH = 12  # jirahooks.output.SHORT_HASH_LENGTH
RULES = """\
rules:
  - template: commit-key-required
  - id: feature-names
    title: Feature branches are named after an issue
    triggers: [PUSH]
    targets: [BRANCH]
    conditions:
      branches: {include: ["feature/*"]}
    checks: {naming: '^feature/[A-Z]+-[0-9]+'}
    error: Feature branches are named feature/<KEY>-….
"""
Install = Callable[..., object]


def _hashes_shown(text: str, full: str) -> set[str]:
    """Every prefix (7+ hex digits) of the commit ``full`` that ``text`` shows."""
    shown = set()
    for token in re.findall(r"[0-9a-f]{7,40}", text):
        if full.startswith(token):
            shown.add(token)
    return shown


def _assert_one_length(text: str, full: str) -> None:
    assert _hashes_shown(text, full) == {full[:SHORT_HASH_LENGTH]}, text


def test_the_short_form_is_twelve_digits_and_new_commit_for_the_unmade_one() -> None:
    from jirahooks import output

    assert output.SHORT_HASH_LENGTH == SHORT_HASH_LENGTH
    short_hash = output.short_hash
    assert short_hash("0123456789abcdef0123456789abcdef01234567") == "0123456789ab"
    assert short_hash("0" * 40) == "(new commit)"
    assert len(short_hash("0" * 40)) == SHORT_HASH_LENGTH  # the columns line up


def test_check_text_and_junit_show_the_same_short_hash(git_repo: GitRepo) -> None:
    write_file(git_repo.path / ".jirahooks.yml", RULES)
    base = git_repo.commit("ABC-1 base")
    bad = git_repo.commit("no key in this one")
    text = jirahooks("check", "--range", f"{base}..HEAD", cwd=git_repo.path)
    assert text.returncode == 1, text.stderr
    _assert_one_length(text.stdout, bad)
    junit = jirahooks("check", "--range", f"{base}..HEAD", "--format", "junit", cwd=git_repo.path)
    assert junit.returncode == 1, junit.stderr
    _assert_one_length(junit.stdout, bad)


def test_pre_push_local_and_remote_show_the_same_short_hash(
    make_repo: Callable[..., GitRepo], stub: ValidationStub
) -> None:
    origin = make_repo("origin.git", bare=True)
    repo = make_repo("work")
    repo.git("remote", "add", "origin", str(origin.path))
    write_file(repo.path / ".jirahooks.yml", RULES)
    repo.commit("ABC-1 already pushed")
    repo.git("push", "-q", "--no-verify", "origin", "main")
    bad = repo.commit("forgot the key")

    installed = jirahooks("install", "pre-push", "--mode", "local", cwd=repo.path)
    assert installed.returncode == 0, installed.stderr
    local = git_run(repo.path, "push", "origin", "main")
    assert local.returncode != 0
    _assert_one_length(local.stderr, bad)

    installed = jirahooks("install", "pre-push", "--mode", "remote", cwd=repo.path)
    assert installed.returncode == 0, installed.stderr
    remote = git_run(repo.path, "push", "origin", "main", env=stub.env())
    assert remote.returncode != 0
    _assert_one_length(remote.stderr, bad)


def test_the_commit_msg_hook_labels_the_unmade_commit_alike_in_check(git_repo: GitRepo) -> None:
    write_file(git_repo.path / ".jirahooks.yml", RULES)
    message = write_file(git_repo.path / "MSG", "no key\n")
    result = jirahooks("check", "--message-file", str(message), cwd=git_repo.path)
    assert result.returncode == 1, result.stderr
    assert "(new commit)  no key" in result.stdout
    assert "000000000000" not in result.stdout


def test_engine_messages_name_the_unmade_commit_without_zeros(git_repo: GitRepo) -> None:
    write_file(
        git_repo.path / ".jirahooks.yml",
        "rules:\n  - template: same-issue\n    triggers: [COMMIT]\n",
    )
    git_repo.commit("ABC-1 base")
    git_repo.checkout("-b", "feature/ABC-1-login")
    message = write_file(git_repo.path / "MSG", "ABC-2 another issue\n")
    for fmt in ("text", "json", "junit"):
        result = jirahooks(
            "check", "--message-file", str(message), "--format", fmt, cwd=git_repo.path
        )
        assert result.returncode == 1, result.stderr
        assert "ABC-2 (the new commit)" in result.stdout
        assert "000000000000)" not in result.stdout  # the message, not the document's ref


# --- pre-receive: one hash length, and the closing line names what failed ------------------


@pytest.fixture
def receiving(make_repo: Callable[..., GitRepo], tmp_path: Path) -> tuple[GitRepo, GitRepo]:
    server = make_repo("server.git", bare=True)
    config = write_file(tmp_path / "jirahooks.yml", RULES)
    installed = jirahooks("install", "pre-receive", "--config", str(config), cwd=server.path)
    assert installed.returncode == 0, installed.stderr
    client = make_repo("client")
    client.git("remote", "add", "origin", str(server.path))
    client.commit("ABC-1 initial")
    pushed = git_run(client.path, "push", "origin", "main")
    assert pushed.returncode == 0, pushed.stderr
    return server, client


def _closing(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if "push rejected" in line]
    assert len(lines) == 1, stderr
    return lines[0]


def test_pre_receive_shows_the_short_hash(receiving: tuple[GitRepo, GitRepo]) -> None:
    _, client = receiving
    bad = client.commit("quick fix without a key")
    result = git_run(client.path, "push", "origin", "main")
    assert result.returncode != 0
    _assert_one_length(result.stderr, bad)


def test_only_the_branch_name_failed(receiving: tuple[GitRepo, GitRepo]) -> None:
    _, client = receiving
    client.checkout("-b", "feature/login")
    client.commit("ABC-2 a fine commit")
    result = git_run(client.path, "push", "origin", "feature/login")
    assert result.returncode != 0
    closing = _closing(result.stderr)
    assert "branch name" in closing
    assert "fix the commits" not in closing
    assert "commits passed" in closing


def test_only_commits_failed(receiving: tuple[GitRepo, GitRepo]) -> None:
    _, client = receiving
    client.checkout("-b", "feature/ABC-3-login")
    client.commit("no key")
    result = git_run(client.path, "push", "origin", "feature/ABC-3-login")
    assert result.returncode != 0
    closing = _closing(result.stderr)
    assert "commits fail" in closing
    assert "branch name" not in closing


def test_both_failed(receiving: tuple[GitRepo, GitRepo]) -> None:
    _, client = receiving
    client.checkout("-b", "feature/login")
    client.commit("no key")
    result = git_run(client.path, "push", "origin", "feature/login")
    assert result.returncode != 0
    closing = _closing(result.stderr)
    assert "the branch name and commits fail" in closing


def test_the_closing_line_names_what_failed_across_refs(
    receiving: tuple[GitRepo, GitRepo],
) -> None:
    _, client = receiving
    client.checkout("-b", "feature/login")  # bad name, good commit
    client.commit("ABC-4 fine")
    client.checkout("-b", "feature/ABC-5-ok", "main")  # good name, bad commit
    client.commit("missing key")
    result = git_run(client.path, "push", "origin", "feature/login", "feature/ABC-5-ok")
    assert result.returncode != 0
    assert "the branch name and commits fail" in _closing(result.stderr)


def test_pre_receive_remote_names_what_failed(make_repo: Callable[..., GitRepo]) -> None:
    import yaml

    stub = ValidationStub(rules=yaml.safe_load(RULES)["rules"]).start()
    try:
        server = make_repo("server.git", bare=True)
        installed = jirahooks("install", "pre-receive", "--mode", "remote", cwd=server.path)
        assert installed.returncode == 0, installed.stderr
        client = make_repo("client")
        client.git("remote", "add", "origin", str(server.path))
        client.checkout("-b", "feature/login")
        good = client.commit("ABC-1 fine")
        result = git_run(client.path, "push", "origin", "feature/login", env=stub.env())
        assert result.returncode != 0, result.stderr
        assert len(stub.received) == 1
        closing = _closing(result.stderr)
        assert "branch name" in closing
        assert "commits passed" in closing

        client.git("branch", "-m", "feature/ABC-1-login")
        bad = client.commit("no key")
        result = git_run(client.path, "push", "origin", "feature/ABC-1-login", env=stub.env())
        assert result.returncode != 0, result.stderr
        assert "commits fail" in _closing(result.stderr)
        _assert_one_length(result.stderr, bad)
        assert good[:7] not in result.stderr
    finally:
        stub.stop()
