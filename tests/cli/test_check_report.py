"""The text report of ``jirahooks check`` shows failures first (issue 13 B.9): a blocked rule's
failing commits are never hidden behind skip notices or passing commits, every failing commit is
reachable with ``--max-lines``, and passed / skipped rules are summarised."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from jirahooks.cli import main

RULES = """\
rules:
  - template: commit-key-required
    conditions: {bypass_marker: "[skip jira]"}
  - template: branch-key-required
  - id: release-only
    title: Release branches only
    conditions: {branches: {include: ["release/*"]}}
    checks: {key_present: true}
"""


@pytest.fixture
def repo(git_repo, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    git_repo.commit("ABC-1 initial")
    (git_repo.path / ".jirahooks.yml").write_text(RULES, encoding="utf-8")
    git_repo.git("checkout", "-q", "-b", "feature/ABC-1-x")
    monkeypatch.chdir(git_repo.path)
    return git_repo


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[str]]:
    code = main(["check", "--range", "main..HEAD", *argv])
    return code, capsys.readouterr().out.splitlines()


def test_failures_come_before_skip_notices_and_passes(
    repo: Callable[..., object], capsys: pytest.CaptureFixture[str]
) -> None:
    for n in range(30):  # 30 commits the rule skips, written before the failing ones
        repo.commit(f"[skip jira] chore {n}")  # type: ignore[attr-defined]
    bad = [repo.commit(f"fix typo {n}") for n in range(3)]  # type: ignore[attr-defined]
    for n in range(25):
        repo.commit(f"ABC-1 fine {n}")  # type: ignore[attr-defined]
    code, lines = run(capsys)
    assert code == 1
    for sha in bad:  # every failing commit is listed, within the first lines of its rule
        assert any(line.startswith(f"      {sha[:12]}") for line in lines), sha
    blocked = lines.index("✖ Issue key required in every commit [BLOCK]")
    assert blocked == 2  # header, Jira note, then the blocked rule
    assert not any("skipped" in line for line in lines[blocked : blocked + 6])
    assert "    - 30 commit(s) not checked (skipped by the rule's conditions)" in lines
    assert "✔ 1 passed: Branch must reference an issue" in lines
    assert lines.index("✔ 1 passed: Branch must reference an issue") > blocked
    assert "- 1 skipped or not applicable:" in lines


def test_max_lines_widens_the_list(
    repo: Callable[..., object], capsys: pytest.CaptureFixture[str]
) -> None:
    bad = [repo.commit(f"fix typo {n}") for n in range(30)]  # type: ignore[attr-defined]
    _, lines = run(capsys)
    listed = [sha for sha in bad if any(line.startswith(f"      {sha[:12]}") for line in lines)]
    assert len(listed) == 20
    assert "      … and 10 more (10 with problems): --max-lines 30 shows all" in lines
    _, lines = run(capsys, "--max-lines", "0")
    assert all(any(line.startswith(f"      {sha[:12]}") for line in lines) for sha in bad)
    assert not any(line.startswith("      … and") for line in lines)
    code, _ = run(capsys, "--max-lines", "-1")
    assert code == 2
