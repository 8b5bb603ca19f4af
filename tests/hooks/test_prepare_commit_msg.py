"""prepare-commit-msg (jirahooks.hooks.prepare) through real git commits: the branch's key goes
into a message without one, in the shape the workspace wants, and nowhere else — merges,
reverts, fixups, amends of a keyed message, detached HEAD, a key the developer wrote."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

import pytest
from tests.conftest import GitRepo
from tests.hooks.conftest import (
    KEY_RULES_TOML,
    RealServer,
    ValidationStub,
    git_run,
    jirahooks,
    stage,
    write_file,
)

Install = Callable[..., object]
BRANCH = "feature/ABC-123-login"
# an editor that appends words to the first line (what a developer types after the key)
APPEND = f"{sys.executable} -c \"import sys; p=sys.argv[1]; t=open(p).read().split(chr(10)); t[0]+='typed here'; open(p,'w').write(chr(10).join(t))\""


def _message(repo: GitRepo) -> str:
    return repo.git("log", "-1", "--format=%B")


def _setup(repo: GitRepo, install: Install, *hooks: str, rules: str = KEY_RULES_TOML) -> None:
    write_file(repo.path / ".jirahooks.toml", rules)
    repo.git("add", ".jirahooks.toml")
    repo.git("-c", "core.hooksPath=/dev/null", "commit", "-q", "-m", "rules")
    install(repo.path, *(hooks or ("all",)), "--mode", "local")
    repo.git("checkout", "-q", "-b", BRANCH)


def _commit(repo: GitRepo, *args: str, env: dict[str, str] | None = None) -> str:
    stage(repo.path)
    result = git_run(repo.path, "commit", *args, env=env)
    assert result.returncode == 0, result.stderr
    return result.stderr


def test_commit_m_gets_the_branch_key_and_passes_commit_msg(
    git_repo: GitRepo, install: Install
) -> None:
    _setup(git_repo, install)
    stderr = _commit(git_repo, "-m", "Fix the login page")
    assert _message(git_repo) == "ABC-123 Fix the login page"
    assert "added ABC-123 from the branch" in stderr
    assert "jirahooks: PASS" in stderr  # commit-msg judged the message with the key


def test_a_key_the_developer_wrote_is_left_alone(git_repo: GitRepo, install: Install) -> None:
    _setup(git_repo, install)
    _commit(git_repo, "-m", "XYZ-9 other issue")
    assert _message(git_repo) == "XYZ-9 other issue"
    # an escaped key is code, not a reference: the branch's key is still added
    _commit(git_repo, "-m", "Fix `ABC-7` in the parser")
    assert _message(git_repo) == "ABC-123 Fix `ABC-7` in the parser"


def test_editor_flow_key_first_then_what_is_typed(git_repo: GitRepo, install: Install) -> None:
    _setup(git_repo, install)
    _commit(git_repo, env={"GIT_EDITOR": APPEND})
    assert _message(git_repo) == "ABC-123 typed here"


def test_editor_flow_left_empty_aborts_like_an_empty_message(
    git_repo: GitRepo, install: Install
) -> None:
    _setup(git_repo, install)
    before = git_repo.head()
    stage(git_repo.path)
    result = git_run(git_repo.path, "commit", env={"GIT_EDITOR": "true"})
    assert result.returncode != 0
    assert "only the issue key jirahooks added (ABC-123)" in result.stderr
    assert git_repo.head() == before
    # the record is used once: the next commit is judged as usual
    _commit(git_repo, "-m", "real work")
    assert _message(git_repo) == "ABC-123 real work"


def test_no_insertion_for_merges_reverts_and_fixups(git_repo: GitRepo, install: Install) -> None:
    _setup(git_repo, install, "prepare-commit-msg")
    git_repo.git("checkout", "-q", "-b", "topic")
    stage(git_repo.path, "topic.txt")
    git_repo.git("-c", "core.hooksPath=/dev/null", "commit", "-q", "-m", "t")
    git_repo.git("checkout", "-q", BRANCH)
    _commit(git_repo, "-m", "base")
    merged = git_run(git_repo.path, "merge", "--no-ff", "--no-edit", "topic")
    assert merged.returncode == 0, merged.stderr
    assert _message(git_repo) == f"Merge branch 'topic' into {BRANCH}"
    target = git_repo.head()
    reverted = git_run(git_repo.path, "revert", "--no-edit", "-m", "1", target)
    assert reverted.returncode == 0, reverted.stderr
    assert _message(git_repo).startswith('Revert "Merge branch')
    git_repo.git("-c", "core.hooksPath=/dev/null", "commit", "-q", "--allow-empty", "-m", "bare")
    _commit(git_repo, "--fixup", "HEAD")
    assert _message(git_repo) == "fixup! bare"


def test_squash_merge_is_left_alone(git_repo: GitRepo, install: Install) -> None:
    _setup(git_repo, install, "prepare-commit-msg")
    git_repo.git("checkout", "-q", "-b", "topic")
    stage(git_repo.path, "topic.txt")
    git_repo.git("-c", "core.hooksPath=/dev/null", "commit", "-q", "-m", "topic work")
    git_repo.git("checkout", "-q", BRANCH)
    git_repo.git("merge", "--squash", "topic")
    result = git_run(git_repo.path, "commit", env={"GIT_EDITOR": "true"})
    assert result.returncode == 0, result.stderr
    assert _message(git_repo).startswith("Squashed commit of the following:")


def test_amend(git_repo: GitRepo, install: Install) -> None:
    _setup(git_repo, install)
    git_repo.git("-c", "core.hooksPath=/dev/null", "commit", "-q", "--allow-empty", "-m", "bare")
    _commit(git_repo, "--amend", "--no-edit")  # an amended message without a key gets it
    assert _message(git_repo) == "ABC-123 bare"
    _commit(git_repo, "--amend", "--no-edit")  # and keeps exactly one
    assert _message(git_repo) == "ABC-123 bare"
    git_repo.git("-c", "core.hooksPath=/dev/null", "commit", "-q", "--amend", "-m", "XYZ-1 x")
    _commit(git_repo, "--amend", "--no-edit")
    assert _message(git_repo) == "XYZ-1 x"


def test_detached_head_inserts_nothing_and_says_nothing(
    git_repo: GitRepo, install: Install
) -> None:
    _setup(git_repo, install, "prepare-commit-msg")
    git_repo.git("checkout", "-q", "--detach")
    stderr = _commit(git_repo, "-m", "on a detached head")
    assert _message(git_repo) == "on a detached head"
    assert "jirahooks" not in stderr


@pytest.mark.parametrize(
    ("branch", "expected"),
    [
        ("feature/ABC-7-größe-ünïcödé", "ABC-7 non-ASCII"),
        ("fix/äbc-7-lower", "non-ASCII"),  # ä is a letter: "bc-7" is not a key after it
        ("日本語/XY-42", "XY-42 non-ASCII"),
    ],
)
def test_non_ascii_branch_names(
    git_repo: GitRepo, install: Install, branch: str, expected: str
) -> None:
    _setup(git_repo, install, "prepare-commit-msg")
    git_repo.git("checkout", "-q", "-b", branch)
    _commit(git_repo, "-m", "non-ASCII")
    assert _message(git_repo) == expected


def test_core_comment_char(git_repo: GitRepo, install: Install) -> None:
    _setup(git_repo, install, "prepare-commit-msg")
    # with ';' as comment character, '#42' is text: the key goes in front of it
    stage(git_repo.path)
    result = git_run(
        git_repo.path,
        "-c",
        "core.commentChar=;",
        "commit",
        "-e",
        "-m",
        "#42 fixes the ticket",
        env={"GIT_EDITOR": "true"},
    )
    assert result.returncode == 0, result.stderr
    assert _message(git_repo) == "ABC-123 #42 fixes the ticket"


def test_core_comment_char_from_the_repository_config(git_repo: GitRepo, install: Install) -> None:
    _setup(git_repo, install, "prepare-commit-msg")
    git_repo.git("config", "core.commentChar", ";")
    _commit(git_repo, "-e", "-m", "#7 in the tracker", env={"GIT_EDITOR": APPEND})
    assert _message(git_repo) == "ABC-123 #7 in the trackertyped here"


def test_core_comment_char_auto(git_repo: GitRepo, install: Install) -> None:
    _setup(git_repo, install, "prepare-commit-msg")
    stage(git_repo.path)
    # git picks a comment character no line of the message starts with (';' here)
    result = git_run(
        git_repo.path,
        "-c",
        "core.commentChar=auto",
        "commit",
        "-e",
        "-m",
        "#42 fixes the ticket",
        env={"GIT_EDITOR": "true"},
    )
    assert result.returncode == 0, result.stderr
    assert _message(git_repo) == "ABC-123 #42 fixes the ticket"


def test_the_settings_template(git_repo: GitRepo, install: Install) -> None:
    rules = KEY_RULES_TOML + '\n[settings]\ncommit_message_template = "[{key}] {message}"\n'
    _setup(git_repo, install, rules=rules)
    _commit(git_repo, "-m", "Fix it")
    assert _message(git_repo) == "[ABC-123] Fix it"


def test_the_shape_the_naming_rule_wants(git_repo: GitRepo, install: Install) -> None:
    rules = (
        "[[rules]]\nid = 'msg-shape'\ntitle = 'Key in brackets'\ntargets = ['COMMIT']\n"
        "checks = { naming = '^\\[[A-Z][A-Z0-9]+-[0-9]+\\] ' }\n"
    )
    _setup(git_repo, install, rules=rules)
    stderr = _commit(git_repo, "-m", "Fix it")
    assert _message(git_repo) == "[ABC-123] Fix it"
    assert "PASS" in stderr
    # the derived form is cached: a second commit reads it without the engine
    cached = list((git_repo.path / ".git" / "jirahooks").glob("prepare-*.json"))
    assert len(cached) == 1 and "[{key}] {message}" in cached[0].read_text("utf-8")
    _commit(git_repo, "-m", "Again")
    assert _message(git_repo) == "[ABC-123] Again"


def test_an_invalid_template_is_a_config_error(git_repo: GitRepo) -> None:
    path = write_file(
        git_repo.path / "bad.toml", '[settings]\ncommit_message_template = "{key} only"\n'
    )
    result = jirahooks("rules", "validate", str(path), cwd=git_repo.path)
    assert result.returncode == 3, result.stdout + result.stderr
    assert "commit_message_template" in result.stdout + result.stderr


def test_install_all_includes_prepare_commit_msg(git_repo: GitRepo, install: Install) -> None:
    install(git_repo.path, "all")
    hook = git_repo.path / ".git" / "hooks" / "prepare-commit-msg"
    assert hook.is_file() and os.access(hook, os.X_OK)
    removed = jirahooks("uninstall", cwd=git_repo.path)
    assert removed.returncode == 0 and not hook.exists()


def test_husky_gets_a_prepare_commit_msg_block(git_repo: GitRepo, install: Install) -> None:
    stub_dir = git_repo.path / ".husky" / "_"
    write_file(stub_dir / "h", "#!/usr/bin/env sh\n")
    git_repo.git("config", "core.hooksPath", ".husky/_")
    install(git_repo.path, "all")
    script = (git_repo.path / ".husky" / "prepare-commit-msg").read_text("utf-8")
    assert 'jirahooks hook prepare-commit-msg "$@"' in script
    assert "no issue key was added" in script


def test_pre_commit_framework_entry(git_repo: GitRepo) -> None:
    """pre-commit passes the message file only; the source is in its environment."""
    write_file(git_repo.path / ".jirahooks.toml", KEY_RULES_TOML)
    git_repo.git("checkout", "-q", "-b", BRANCH)
    message = write_file(git_repo.path / ".git" / "COMMIT_EDITMSG", "from pre-commit\n")
    args = ("hook", "prepare-commit-msg", "--mode", "local", str(message))
    done = jirahooks(*args, cwd=git_repo.path, env={"PRE_COMMIT_COMMIT_MSG_SOURCE": "message"})
    assert done.returncode == 0, done.stderr
    assert message.read_text("utf-8") == "ABC-123 from pre-commit\n"
    write_file(message, "Merge branch 'x'\n")
    jirahooks(*args, cwd=git_repo.path, env={"PRE_COMMIT_COMMIT_MSG_SOURCE": "merge"})
    assert message.read_text("utf-8") == "Merge branch 'x'\n"


def test_a_broken_rules_file_never_stops_the_commit(git_repo: GitRepo, install: Install) -> None:
    _setup(git_repo, install, "prepare-commit-msg")
    write_file(git_repo.path / ".jirahooks.toml", "[[rules]\nbroken")
    stderr = _commit(git_repo, "-m", "still commits")
    assert _message(git_repo) == "still commits"
    assert "warning: prepare-commit-msg" in stderr


# --- remote mode ----------------------------------------------------------------------------


def test_remote_mode_asks_the_server_for_the_format(
    git_repo: GitRepo, install: Install, real_server: RealServer
) -> None:
    env = {"JIRAHOOKS_ENDPOINT": real_server.endpoint, "JIRAHOOKS_SECRET": real_server.secret}
    install(git_repo.path, "prepare-commit-msg", "--mode", "remote")
    git_repo.git("checkout", "-q", "-b", BRANCH)
    _commit(git_repo, "-m", "Remote", env=env)
    assert _message(git_repo) == "ABC-123 Remote"
    cache = git_repo.path / ".git" / "jirahooks" / "message-format.json"
    assert '"template": "{key} {message}"' in cache.read_text("utf-8")
    assert '"source": "default"' in cache.read_text("utf-8")


def test_remote_mode_against_a_server_without_the_format(
    git_repo: GitRepo, install: Install, stub: ValidationStub
) -> None:
    """A server that does not know ``/message-format`` (the stub answers 400, as another
    product would): the default shape, the commit goes on."""
    install(git_repo.path, "prepare-commit-msg", "--mode", "remote")
    git_repo.git("checkout", "-q", "-b", BRANCH)
    _commit(git_repo, "-m", "Stub", env=stub.env())
    assert _message(git_repo) == "ABC-123 Stub"
    assert [r.path for r in stub.received] == ["/api/validate/acme/message-format"]
    _commit(git_repo, "-m", "Cached", env=stub.env())
    assert len(stub.received) == 1  # cached for ten minutes


def test_remote_mode_server_down_still_commits(git_repo: GitRepo, install: Install) -> None:
    install(git_repo.path, "prepare-commit-msg", "--mode", "remote")
    git_repo.git("checkout", "-q", "-b", BRANCH)
    env = {"JIRAHOOKS_ENDPOINT": "http://127.0.0.1:9/api/validate/acme", "JIRAHOOKS_SECRET": "x"}
    _commit(git_repo, "-m", "Offline", env=env)
    assert _message(git_repo) == "ABC-123 Offline"
