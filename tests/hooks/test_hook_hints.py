"""A hint fits the hook that prints it (issue 13 B.11): at commit-msg time no commit was made,
so "git commit --amend" is wrong there; at pre-push the commits exist, and amend / rebase is the
way. Checked through real git hooks in local mode, and on the Validation API's document (which
the published client prints as its "Recommendation")."""

from __future__ import annotations

from collections.abc import Callable

from tests.conftest import GitRepo
from tests.hooks.conftest import KEY_RULES_TOML, git_run, stage, write_file

from jirahooks.engine import evaluate
from jirahooks.engine.resolver import OfflineResolver
from jirahooks.event import ZERO_HASH, Commit, Event, Trigger
from jirahooks.rules import templates
from jirahooks.rules.config import parse_rule

Install = Callable[..., object]


def test_commit_msg_does_not_say_amend(git_repo: GitRepo, install: Install) -> None:
    write_file(git_repo.path / ".jirahooks.toml", KEY_RULES_TOML)
    install(git_repo.path, "commit-msg", "--mode", "local")
    stage(git_repo.path)
    blocked = git_run(git_repo.path, "commit", "-m", "fix the thing")
    assert blocked.returncode != 0
    assert "--amend" not in blocked.stderr
    assert "Nothing was committed: correct the message and commit again" in blocked.stderr


def test_pre_push_says_how_to_reword(make_repo: Callable[..., GitRepo], install: Install) -> None:
    origin = make_repo("origin.git", bare=True)
    repo = make_repo("work")
    repo.git("remote", "add", "origin", str(origin.path))
    write_file(repo.path / ".jirahooks.toml", KEY_RULES_TOML)
    install(repo.path, "pre-push", "--mode", "local")
    tip = repo.commit("no key")
    blocked = git_run(repo.path, "push", "origin", "main")
    assert blocked.returncode != 0
    # the one failing commit is the tip: the exact command, naming it (engine/suggest.py)
    assert f"correct the last commit ({tip[:12]}) with git commit --amend" in blocked.stderr


def _document_hint(trigger: Trigger, locale: str = "en-US") -> str:
    import asyncio

    rule = parse_rule(dict(templates.get("commit-key-required").rule))  # type: ignore[union-attr]
    commit = Commit(ZERO_HASH if trigger is Trigger.COMMIT else "a" * 40, "no key")
    evaluation = asyncio.run(evaluate(Event(trigger, "main", (commit,)), [rule], OfflineResolver()))
    hint: str = evaluation.to_document(locale)["ruleValidations"][0]["rule"]["hint"]
    return hint


def test_the_document_hint_fits_the_trigger() -> None:
    at_commit = _document_hint(Trigger.COMMIT)
    assert "amend" not in at_commit and "Nothing was committed" in at_commit
    assert "git commit --amend" in _document_hint(Trigger.PUSH)
    assert "Es wurde nichts committet" in _document_hint(Trigger.COMMIT, "de-DE")
