"""Rule modes and exemptions on real git repositories: pre-receive on a bare repository, the
local commit-msg hook, and ``jirahooks check --range`` (ADR 0011, docs/rules.md)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from tests.conftest import GitRepo
from tests.hooks.conftest import git_run, jirahooks, stage, write_file
from tests.hooks.test_pre_receive import Setup, _setup

Install = Callable[..., object]

MODES_YML = """\
rules:
  - template: commit-key-required
    id: keys
    mode: {keys}
  - id: subject
    title: Subject starts with the key
    targets: [COMMIT]
    mode: {subject}
    checks: {{naming: '^[A-Z]+-[0-9]+ '}}
"""

EXEMPT_YML = """\
settings:
  exemptions:
    bots: true
    bot_patterns: ["ci-robot"]
    host_merges: true
    reverts: true
    release_commits: true
    escape:
      allowed: true
      branches: {include: ["hotfix/*"]}
rules:
  - id: keys
    title: Issue key in every commit
    targets: [COMMIT]
    checks: {key_present: true}
"""


def _pre_receive(make_repo: Callable[..., GitRepo], tmp_path: Path, config: str) -> Setup:
    setup = _setup(make_repo, tmp_path, config)
    setup.client.commit("ABC-1 initial")
    code, err = setup.push("main")
    assert code == 0, err
    return setup


def test_pre_receive_evaluate_mode_never_blocks_and_is_not_shown(
    make_repo: Callable[..., GitRepo], tmp_path: Path
) -> None:
    setup = _pre_receive(make_repo, tmp_path, MODES_YML.format(keys="evaluate", subject="evaluate"))
    pushed = setup.client.commit("quick fix without a key")
    code, err = setup.push("main")
    assert code == 0, err
    assert setup.server_ref("main") == pushed
    assert "jirahooks: PASS" in err
    assert "Issue key required" not in err and "Subject starts" not in err


def test_pre_receive_warn_mode_shows_and_passes(
    make_repo: Callable[..., GitRepo], tmp_path: Path
) -> None:
    setup = _pre_receive(make_repo, tmp_path, MODES_YML.format(keys="warn", subject="evaluate"))
    setup.client.commit("quick fix without a key")
    code, err = setup.push("main")
    assert code == 0, err
    assert "jirahooks: WARNING" in err
    assert "Issue key required in every commit [WARNING]" in err
    assert "Commit does not contain any issue keys." in err
    assert "Subject starts" not in err  # the evaluate rule stays out of sight


def test_pre_receive_enforce_mode_still_blocks(
    make_repo: Callable[..., GitRepo], tmp_path: Path
) -> None:
    setup = _pre_receive(make_repo, tmp_path, MODES_YML.format(keys="enforce", subject="warn"))
    setup.client.commit("quick fix without a key")
    code, err = setup.push("main")
    assert code != 0
    assert "Issue key required in every commit [BLOCK]" in err
    assert "Subject starts with the key [WARNING]" in err


def test_pre_receive_exemptions(make_repo: Callable[..., GitRepo], tmp_path: Path) -> None:
    setup = _pre_receive(make_repo, tmp_path, EXEMPT_YML)
    client = setup.client
    keyed = client.commit("ABC-2 add the feature")
    # a real `git revert` of a commit with a key inherits that key
    client.git("revert", "--no-edit", keyed)
    # a revert of a commit without a key (pushed earlier by a bot) is exempt
    client.git(
        "commit",
        "-q",
        "--allow-empty",
        "--no-verify",
        "-m",
        "Bump lodash from 4.17.20 to 4.17.21",
        env={
            "GIT_AUTHOR_NAME": "dependabot[bot]",
            "GIT_AUTHOR_EMAIL": "49699333+dependabot[bot]@users.noreply.github.com",
        },
    )
    # the committer counts too: an administrator's own bot pattern
    client.git(
        "commit",
        "-q",
        "--allow-empty",
        "--no-verify",
        "-m",
        "regenerate the lock file",
        env={"GIT_COMMITTER_NAME": "ci-robot"},
    )
    client.commit("chore(release): 1.4.0 [skip ci]")
    client.commit("[maven-release-plugin] prepare release v1.4.0")
    # a merge commit written the way GitHub writes them
    client.git("checkout", "-q", "-b", "topic")
    client.commit("ABC-3 topic work")
    client.git("checkout", "-q", "main")
    client.commit("ABC-4 main work")
    client.git(
        "merge", "--no-ff", "-q", "-m", "Merge pull request #7 from acme/topic\n\nTopic", "topic"
    )
    code, err = setup.push("main")
    assert code == 0, err
    assert "reverts" in err and "checked with its issue keys (ABC-2)" in err
    assert "exempt: written by the bot 'dependabot[bot]'" in err
    assert "exempt: written by the bot 'ci-robot'" in err
    assert "exempt: a release commit (semantic-release)" in err
    assert "exempt: a release commit (maven-release-plugin)" in err
    assert "exempt: a merge commit written by the code host" in err

    # a merge commit that is not the host's is judged as usual
    client.git("checkout", "-q", "-b", "other")
    client.commit("ABC-5 other work")
    client.git("checkout", "-q", "main")
    client.commit("ABC-6 more main work")
    client.git("merge", "--no-ff", "-q", "-m", "local merge of other", "other")
    code, err = setup.push("main")
    assert code != 0
    assert "local merge of other" in err


def test_pre_receive_escape_token_only_on_allowed_branches(
    make_repo: Callable[..., GitRepo], tmp_path: Path
) -> None:
    setup = _pre_receive(make_repo, tmp_path, EXEMPT_YML)
    client = setup.client
    client.git("checkout", "-q", "-b", "hotfix/readme")
    client.commit("fix a typo [no-jira: README only]")
    code, err = setup.push("hotfix/readme")
    assert code == 0, err
    assert "exempt by the escape token: README only" in err

    client.git("checkout", "-q", "-b", "feature/readme")
    client.commit("fix another typo [no-jira: README again]")
    code, err = setup.push("feature/readme")
    assert code != 0
    assert "is not allowed on branch 'feature/readme'" in err

    client.git("checkout", "-q", "hotfix/readme")
    client.commit("fix without saying why [no-jira]")
    code, err = setup.push("hotfix/readme")
    assert code != 0
    assert "needs a reason" in err


def test_commit_msg_hook_honours_modes_and_the_escape_token(
    git_repo: GitRepo, install: Install
) -> None:
    write_file(git_repo.path / ".jirahooks.yml", MODES_YML.format(keys="evaluate", subject="warn"))
    install(git_repo.path, "commit-msg", "--mode", "local")
    stage(git_repo.path)
    done = git_run(git_repo.path, "commit", "-m", "fix the thing")
    assert done.returncode == 0, done.stderr
    assert "Subject starts with the key [WARNING]" in done.stderr
    assert "Issue key required" not in done.stderr
    # and again, from the compiled form the first run left in .git/jirahooks
    stage(git_repo.path)
    again = git_run(git_repo.path, "commit", "-m", "fix the other thing")
    assert again.returncode == 0, again.stderr
    assert "Subject starts with the key [WARNING]" in again.stderr

    write_file(git_repo.path / ".jirahooks.yml", EXEMPT_YML)
    git_repo.git("checkout", "-q", "-b", "hotfix/x")
    stage(git_repo.path)
    escaped = git_run(git_repo.path, "commit", "-m", "typo [no-jira: docs only]")
    assert escaped.returncode == 0, escaped.stderr
    assert "exempt by the escape token: docs only" in escaped.stderr
    git_repo.git("checkout", "-q", "-b", "feature/x")
    stage(git_repo.path)
    refused = git_run(git_repo.path, "commit", "-m", "typo [no-jira: docs only]")
    assert refused.returncode != 0
    assert "not allowed on branch 'feature/x'" in refused.stderr


def test_check_range_text_hides_evaluate_rules_json_records_them(
    git_repo: GitRepo, tmp_path: Path
) -> None:
    config = write_file(tmp_path / "rules.yml", MODES_YML.format(keys="evaluate", subject="warn"))
    base = git_repo.commit("ABC-1 base")
    git_repo.commit("no key here")
    text = jirahooks(
        "check", "--config", str(config), "--range", f"{base}..HEAD", cwd=git_repo.path
    )
    assert text.returncode == 0, text.stderr
    assert "Issue key required" not in text.stdout
    assert "Subject starts with the key [WARNING]" in text.stdout
    verbose = jirahooks(
        "check", "--config", str(config), "--range", f"{base}..HEAD", "-v", cwd=git_repo.path
    )
    assert "1 rule(s) in evaluate mode not shown (1 would have blocked)" in verbose.stdout
    raw = jirahooks(
        "check",
        "--config",
        str(config),
        "--range",
        f"{base}..HEAD",
        "--format",
        "json",
        cwd=git_repo.path,
    )
    assert raw.returncode == 0, raw.stderr
    document = json.loads(raw.stdout)
    by_id = {rv["rule"]["id"]: rv for rv in document["ruleValidations"]}
    assert by_id["keys"]["mode"] == "evaluate" and by_id["keys"]["wouldHaveBlocked"] is True
    assert by_id["subject"]["mode"] == "warn" and by_id["subject"]["ruleStatus"] == "WARNING"
    junit = jirahooks(
        "check",
        "--config",
        str(config),
        "--range",
        f"{base}..HEAD",
        "--format",
        "junit",
        cwd=git_repo.path,
    )
    assert "jirahooks.keys" not in junit.stdout and "jirahooks.subject" in junit.stdout


def test_pre_receive_escape_token_limited_to_users(
    make_repo: Callable[..., GitRepo], tmp_path: Path
) -> None:
    """pre-receive knows the pusher (GL_USERNAME & co.): an escape for some users works there."""
    config = EXEMPT_YML.replace('branches: {include: ["hotfix/*"]}', 'users: {include: ["alice"]}')
    setup = _pre_receive(make_repo, tmp_path, config)
    setup.client.commit("fix a typo [no-jira: README only]")
    refused = git_run(setup.client.path, "push", "origin", "main", env={"GL_USERNAME": "bob"})
    assert refused.returncode != 0
    assert "user 'bob' may not use the escape token" in refused.stderr
    done = git_run(setup.client.path, "push", "origin", "main", env={"GL_USERNAME": "alice"})
    assert done.returncode == 0, done.stderr
    assert "exempt by the escape token: README only" in done.stderr


def test_pre_receive_escape_token_limited_to_a_group(
    make_repo: Callable[..., GitRepo], tmp_path: Path
) -> None:
    """pre-receive knows the pusher: members of a named group may use the escape token."""
    config = EXEMPT_YML.replace(
        "settings:\n",
        'settings:\n  groups:\n    release-managers: [alice, "*@release.example.com"]\n',
    ).replace('branches: {include: ["hotfix/*"]}', "groups: {include: [release-managers]}")
    setup = _pre_receive(make_repo, tmp_path, config)
    setup.client.commit("fix a typo [no-jira: README only]")
    refused = git_run(setup.client.path, "push", "origin", "main", env={"GL_USERNAME": "bob"})
    assert refused.returncode != 0
    assert (
        "user 'bob' may not use the escape token [no-jira: …]: it is limited to the groups "
        "release-managers" in refused.stderr
    )
    done = git_run(
        setup.client.path, "push", "origin", "main", env={"GL_USERNAME": "eve@release.example.com"}
    )
    assert done.returncode == 0, done.stderr
    assert "exempt by the escape token: README only" in done.stderr
