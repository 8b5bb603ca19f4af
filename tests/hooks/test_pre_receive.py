"""Server-side hooks: pushes to a local bare repository with ``jirahooks install pre-receive``
(and ``update``): accepted and rejected pushes, several refs at once, new branches, deletions,
tags, force pushes, per-ref branch conditions, one batched Jira pass, the time budget."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from tests.conftest import GitRepo
from tests.fakes.fake_jira import FakeJira
from tests.hooks.conftest import KEY_RULES_TOML, git_run, jirahooks, write_file

RULES_YML = """\
rules:
  - template: commit-key-required
  - id: release-keys
    title: Release branches reference released issues
    triggers: [PUSH]
    targets: [COMMIT]
    conditions:
      branches: {include: ["release/*"]}
    checks: {naming: 'ABC-[0-9]+ \\[release\\]'}
    error: Commits on release branches carry the [release] marker.
    hint: "git commit --amend -m 'ABC-1 [release] …'"
  - id: feature-names
    title: Feature branches are named after an issue
    triggers: [PUSH]
    targets: [BRANCH]
    conditions:
      branches: {include: ["feature/*"]}
    checks: {naming: '^feature/[A-Z]+-[0-9]+'}
    error: Feature branches are named feature/<KEY>-….
"""


@dataclass
class Setup:
    server: GitRepo
    client: GitRepo
    config: Path

    def push(self, *refspecs: str, force: bool = False) -> tuple[int, str]:
        args = ["push", *(["--force"] if force else []), "origin", *refspecs]
        result = git_run(self.client.path, *args)
        return result.returncode, result.stderr

    def server_ref(self, ref: str) -> str:
        result = git_run(self.server.path, "rev-parse", "-q", "--verify", ref)
        return result.stdout.strip()


def _setup(
    make_repo: Callable[..., GitRepo],
    tmp_path: Path,
    config_text: str,
    *extra: str,
    hook: str = "pre-receive",
    name: str = "jirahooks.yml",
) -> Setup:
    server = make_repo("server.git", bare=True)
    config = write_file(tmp_path / name, config_text)
    installed = jirahooks("install", hook, "--config", str(config), *extra, cwd=server.path)
    assert installed.returncode == 0, installed.stderr
    client = make_repo("client")
    client.git("remote", "add", "origin", str(server.path))
    return Setup(server, client, config)


@pytest.fixture
def setup(make_repo: Callable[..., GitRepo], tmp_path: Path) -> Setup:
    s = _setup(make_repo, tmp_path, RULES_YML)
    s.client.commit("ABC-1 initial")
    code, err = s.push("main")
    assert code == 0, err
    return s


def test_accepted_and_rejected_pushes(setup: Setup) -> None:
    good = setup.client.commit("ABC-2 good change")
    code, err = setup.push("main")
    assert code == 0, err
    assert "jirahooks: PASS — refs/heads/main, 1 new commit" in err
    assert setup.server_ref("main") == good

    bad = setup.client.commit("quick fix without a key")
    setup.client.commit("ABC-3 fine again")
    code, err = setup.push("main")
    assert code != 0
    assert "pre-receive hook declined" in err
    assert "jirahooks: BLOCK — refs/heads/main, 2 new commits" in err
    assert f"{bad[:12]}  quick fix without a key" in err
    assert "Issue key required in every commit [BLOCK]" in err
    assert "hint: Start the commit message with the issue key" in err
    assert "ABC-3 fine again" not in err  # only failing commits are listed
    assert setup.server_ref("main") == good


def test_only_commits_new_to_the_repository_are_evaluated(setup: Setup) -> None:
    # a bad commit already on the server (e.g. from before the hook) is not re-checked
    setup.client.commit("legacy commit without key")
    legacy = setup.client.head()
    setup.server.git("fetch", "-q", str(setup.client.path), f"{legacy}:refs/heads/legacy")
    setup.client.commit("ABC-4 on top")
    code, err = setup.push("main")
    assert code == 0, err
    assert "1 new commit" in err


def test_multi_ref_push_is_rejected_as_a_whole(setup: Setup) -> None:
    setup.client.checkout("-b", "feature/ABC-5-ok")
    setup.client.commit("ABC-5 fine")
    setup.client.checkout("-b", "feature/ABC-6-bad", "main")
    setup.client.commit("missing key")
    code, err = setup.push("feature/ABC-5-ok", "feature/ABC-6-bad")
    assert code != 0
    assert "PASS — refs/heads/feature/ABC-5-ok" in err
    assert "BLOCK — refs/heads/feature/ABC-6-bad" in err
    assert setup.server_ref("feature/ABC-5-ok") == ""  # pre-receive is all or nothing

    setup.client.git("commit", "-q", "--amend", "-m", "ABC-6 now with key")
    code, err = setup.push("feature/ABC-5-ok", "feature/ABC-6-bad")
    assert code == 0, err


def test_branch_conditions_are_per_pushed_ref(setup: Setup) -> None:
    sha = setup.client.commit("ABC-7 ordinary commit")
    code, err = setup.push(f"{sha}:refs/heads/topic", f"{sha}:refs/heads/release/1.0")
    assert code != 0
    assert "PASS — refs/heads/topic" in err
    assert "BLOCK — refs/heads/release/1.0" in err
    assert "Commits on release branches carry the [release] marker." in err
    code, err = setup.push(f"{sha}:refs/heads/topic")
    assert code == 0, err


def test_new_branch_without_new_commits_checks_the_branch_name(setup: Setup) -> None:
    code, err = setup.push("main:refs/heads/feature/misnamed")
    assert code != 0
    assert "refs/heads/feature/misnamed, 0 new commits" in err
    assert "Feature branches are named feature/<KEY>-…." in err
    code, err = setup.push("main:refs/heads/feature/ABC-8-fine")
    assert code == 0, err


def test_deletions_are_allowed(setup: Setup) -> None:
    setup.server.git("update-ref", "refs/heads/feature/misnamed", setup.server_ref("main"))
    code, err = setup.push(":feature/misnamed")
    assert code == 0, err
    assert setup.server_ref("refs/heads/feature/misnamed") == ""


def test_tags_are_not_evaluated(setup: Setup) -> None:
    setup.client.checkout("--detach")
    setup.client.commit("release build without key")
    setup.client.git("tag", "-a", "v1.0", "-m", "v1.0")
    code, err = setup.push("v1.0")
    assert code == 0, err
    assert setup.server_ref("refs/tags/v1.0") != ""


def test_force_push_evaluates_only_the_new_commits(setup: Setup) -> None:
    base = setup.client.head()
    setup.client.commit("ABC-9 first try")
    code, err = setup.push("main")
    assert code == 0, err
    setup.client.git("reset", "-q", "--hard", base)
    setup.client.commit("ABC-9 second try")
    setup.client.commit("ABC-9 polish")
    code, err = setup.push("main", force=True)
    assert code == 0, err
    assert "2 new commits" in err
    setup.client.git("reset", "-q", "--hard", base)
    setup.client.commit("rewritten without key")
    code, err = setup.push("main", force=True)
    assert code != 0
    assert "rewritten without key" in err


def test_update_hook(make_repo: Callable[..., GitRepo], tmp_path: Path) -> None:
    s = _setup(make_repo, tmp_path, KEY_RULES_TOML, hook="update", name="rules.toml")
    s.client.commit("ABC-1 ok")
    s.client.checkout("-b", "other")
    s.client.commit("no key")
    code, err = s.push("main", "other")
    assert code != 0
    assert "refs/heads/other" in err
    assert "[remote rejected] other -> other (hook declined)" in err
    assert s.server_ref("main") != ""  # update hooks reject ref by ref


def test_missing_configuration_rejects_the_push(setup: Setup) -> None:
    setup.config.unlink()
    setup.client.commit("ABC-10 fine")
    code, err = setup.push("main")
    assert code != 0
    assert "file not found" in err


def test_many_commits_are_read_in_one_pass(setup: Setup) -> None:
    from tests.conftest import synthetic_history

    stream = synthetic_history(
        2000, lambda i: f"ABC-{i + 1} change {i}" if i != 1500 else "oops", branch="bulk"
    )
    setup.client.fast_import(stream)
    started = time.perf_counter()
    code, err = setup.push("bulk")
    elapsed = time.perf_counter() - started
    assert code != 0
    assert "2000 new commits" in err
    assert "oops" in err
    assert elapsed < 30


# --- with Jira --------------------------------------------------------------------------------


JIRA_YML = """\
settings:
  jira_unreachable: {policy}
connections:
  - name: fake
    url: {url}
    deployment: cloud
    email: bot@example.com
    token: ${{HOOKS_JIRA_TOKEN}}
rules:
  - template: all-keys-valid
  - template: issue-in-progress
    targets: [COMMIT]
"""


@pytest.fixture
def jira(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeJira]:
    with FakeJira("cloud") as fake:
        monkeypatch.setenv("HOOKS_JIRA_TOKEN", fake.token)
        for n in range(1, 6):
            fake.add_issue(f"ABC-{n}", status="In Progress")
        fake.add_issue("ABC-99", status="Done")
        yield fake


def _jira_setup(
    make_repo: Callable[..., GitRepo],
    tmp_path: Path,
    jira: FakeJira,
    *extra: str,
    policy: str = "BLOCK",
) -> Setup:
    s = _setup(make_repo, tmp_path, JIRA_YML.format(url=jira.url, policy=policy), *extra)
    s.client.commit("ABC-1 initial")
    code, err = s.push("main")
    assert code == 0, err
    return s


def test_one_batched_jira_pass_for_a_multi_ref_push(
    make_repo: Callable[..., GitRepo], tmp_path: Path, jira: FakeJira
) -> None:
    s = _jira_setup(make_repo, tmp_path, jira)
    jira.reset_log()
    s.client.commit("ABC-2 one")
    s.client.checkout("-b", "feature/ABC-3")
    s.client.commit("ABC-3 two")
    s.client.checkout("-b", "feature/ABC-4", "main")
    s.client.commit("ABC-4 three")
    code, err = s.push("main", "feature/ABC-3", "feature/ABC-4")
    assert code == 0, err
    one_ref = list(jira.paths())
    # projects (all-keys-valid ignores unknown projects) + one resolve + one JQL, for 3 refs
    assert len(one_ref) == 3, one_ref
    jira.reset_log()

    # one ref alone needs as many Jira requests as the three refs together
    s.client.commit("ABC-5 four")
    code, err = s.push("feature/ABC-4")
    assert code == 0, err
    assert len(list(jira.paths())) == len(one_ref), (one_ref, list(jira.paths()))

    s.client.commit("ABC-99 done already")
    s.client.commit("ABC-77 does not exist")
    code, err = s.push("feature/ABC-4")
    assert code != 0
    assert "ABC-99" in err and "ABC-77" in err


def test_time_budget_then_the_unreachable_policy_decides(
    make_repo: Callable[..., GitRepo], tmp_path: Path, jira: FakeJira
) -> None:
    s = _jira_setup(make_repo, tmp_path, jira, "--timeout", "1")
    jira.latency = 5.0
    s.client.commit("ABC-2 Jira is slow")
    started = time.perf_counter()
    code, err = s.push("main")
    elapsed = time.perf_counter() - started
    assert code != 0
    assert "blocked by the Jira-unreachable policy" in err, err
    assert elapsed < 4.5, elapsed


def test_unreachable_jira_with_allow_policy_lets_the_push_through(
    make_repo: Callable[..., GitRepo], tmp_path: Path, jira: FakeJira
) -> None:
    s = _jira_setup(make_repo, tmp_path, jira, "--timeout", "1", policy="ALLOW")
    jira.latency = 5.0
    s.client.commit("ABC-2 Jira is slow")
    code, err = s.push("main")
    assert code == 0, err
