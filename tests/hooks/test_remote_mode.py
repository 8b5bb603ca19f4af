"""Remote mode against a stdlib Validation API stub that checks the protocol byte for byte:
compact JSON with \\uXXXX escapes, the HMAC over the raw body, the payload of commit-msg and
pre-push as the reference client sends it, and every failure path."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.conftest import GitRepo
from tests.hooks.conftest import (
    ValidationStub,
    git_run,
    jirahooks,
    stage,
    write_file,
)
from tests.support.live import free_port

from jirahooks.hooks import remote

Install = Callable[..., object]
ZERO = "0" * 40


def test_commit_msg_request_is_exactly_the_reference_clients(
    git_repo: GitRepo, install: Install, stub: ValidationStub
) -> None:
    install(git_repo.path, "commit-msg", "--mode", "remote")
    git_repo.git("config", "user.name", "Zoë Entwickler")
    git_repo.checkout("-b", "feature/ABC-1-grüße")
    stage(git_repo.path)
    result = git_run(
        git_repo.path,
        "commit",
        "-m",
        "ABC-1 Grüße, naïve café ✓\n\n# not a comment here",
        env=stub.env(),
    )
    assert result.returncode == 0, result.stderr
    (request,) = stub.received
    assert request.path == "/api/validate/acme"
    assert request.query == {"repoSlug": ["demo"]}
    assert request.headers["content-type"] == "application/json"
    expected = "sha256=" + hmac.new(stub.secret.encode(), request.raw, hashlib.sha256).hexdigest()
    assert request.headers["x-hub-signature-256"] == expected
    # compact, ASCII-only: non-ASCII escaped as \uXXXX
    assert request.raw.isascii()
    assert b"\\u00fc" in request.raw and b"\\u2713" in request.raw
    assert (
        request.raw == json.dumps(request.body, separators=(",", ":"), ensure_ascii=True).encode()
    )
    assert request.body == {
        "triggerType": "COMMIT",
        "branchName": "feature/ABC-1-grüße",
        "commits": [
            {
                "hash": ZERO,
                "message": "ABC-1 Grüße, naïve café ✓",
                "authorDisplayName": "Zoë Entwickler",
            }
        ],
        "locale": "en-US",
    }
    assert "jirahooks: PASS" in result.stderr


def test_blocked_commit_shows_rule_error_fact_and_hint(
    git_repo: GitRepo, install: Install, stub: ValidationStub
) -> None:
    install(git_repo.path, "commit-msg", "--mode", "remote")
    stage(git_repo.path)
    result = git_run(git_repo.path, "commit", "-m", "no key", env=stub.env())
    assert result.returncode != 0
    assert "jirahooks: BLOCK" in result.stderr
    assert "✖ Issue key required in every commit [BLOCK]" in result.stderr
    assert "Every commit message must reference a Jira issue." in result.stderr
    assert "(new commit)  no key" in result.stderr
    assert "Commit does not contain any issue keys." in result.stderr
    assert "hint: Start the commit message" in result.stderr


def test_detached_head_sends_an_empty_branch(git_repo: GitRepo, stub: ValidationStub) -> None:
    git_repo.commit("ABC-1 base")
    git_repo.checkout("--detach")
    message = write_file(git_repo.path.parent / "msg", "ABC-2 detached\n")
    result = jirahooks("hook", "commit-msg", str(message), cwd=git_repo.path, env=stub.env())
    assert result.returncode == 0, result.stderr
    assert stub.received[0].body["branchName"] == ""


def test_locale_is_sent_and_messages_come_back_translated(
    git_repo: GitRepo, stub: ValidationStub
) -> None:
    message = write_file(git_repo.path.parent / "msg", "kein Schlüssel\n")
    result = jirahooks(
        "hook",
        "commit-msg",
        str(message),
        cwd=git_repo.path,
        env=stub.env(JIRAHOOKS_LOCALE="de-DE"),
    )
    assert result.returncode == 1
    assert stub.received[0].body["locale"] == "de-DE"
    assert "Commit does not contain any issue keys." not in result.stderr


@pytest.mark.parametrize("file_name", ["jirahooks.env", "commit-check.env"])
def test_configuration_from_an_env_file_next_to_the_hook(
    git_repo: GitRepo, install: Install, stub: ValidationStub, file_name: str
) -> None:
    install(git_repo.path, "commit-msg")  # auto mode: remote because an endpoint is configured
    write_file(
        git_repo.path / ".git" / "hooks" / file_name,
        f"# reference client names\nJHFB_ENDPOINT={stub.endpoint}\nexport JHFB_SECRET='{stub.secret}'\n",
    )
    stage(git_repo.path)
    assert git_run(git_repo.path, "commit", "-m", "no key").returncode != 0
    assert git_run(git_repo.path, "commit", "-m", "ABC-3 key").returncode == 0
    assert len(stub.received) == 2


def test_environment_wins_over_the_env_file(
    git_repo: GitRepo, install: Install, stub: ValidationStub
) -> None:
    install(git_repo.path, "commit-msg", "--mode", "remote")
    write_file(
        git_repo.path / ".git" / "hooks" / "jirahooks.env",
        f"JIRAHOOKS_ENDPOINT={stub.endpoint}\nJIRAHOOKS_SECRET=wrong-secret\n",
    )
    stage(git_repo.path)
    result = git_run(
        git_repo.path, "commit", "-m", "ABC-1 x", env={"JIRAHOOKS_SECRET": stub.secret}
    )
    assert result.returncode == 0, result.stderr


def test_unconfigured_remote_mode_warns_and_never_blocks(
    git_repo: GitRepo, install: Install
) -> None:
    install(git_repo.path, "commit-msg", "--mode", "remote")
    stage(git_repo.path)
    result = git_run(git_repo.path, "commit", "-m", "no key at all")
    assert result.returncode == 0
    assert "warning: not configured" in result.stderr


def test_wrong_secret_blocks_with_the_servers_error(
    git_repo: GitRepo, install: Install, stub: ValidationStub
) -> None:
    install(git_repo.path, "commit-msg", "--mode", "remote")
    stage(git_repo.path)
    result = git_run(
        git_repo.path, "commit", "-m", "ABC-1 fine", env=stub.env(JIRAHOOKS_SECRET="nope")
    )
    assert result.returncode != 0
    assert "HTTP 401 HMAC_SIGNATURE_INVALID: Signature invalid" in result.stderr
    assert "hint: JIRAHOOKS_SECRET does not match" in result.stderr


@pytest.mark.parametrize(
    ("status", "body", "code", "text"),
    [
        (
            404,
            b'{"error":"No such repository","errorCode":"REPOSITORY_NOT_FOUND"}',
            1,
            "REPOSITORY_NOT_FOUND",
        ),
        (500, b'{"error":"Internal error","errorCode":"INTERNAL_ERROR"}', 1, "INTERNAL_ERROR"),
        (302, b"", 1, "HTTP 302"),
        (200, b"[1, 2]", 4, "not a result document"),
        (200, b"<html>login</html>", 4, "not JSON"),
    ],
)
def test_server_errors_block(
    git_repo: GitRepo, stub: ValidationStub, status: int, body: bytes, code: int, text: str
) -> None:
    stub.answer = (status, body)
    message = write_file(git_repo.path.parent / "msg", "ABC-1 fine\n")
    result = jirahooks(
        "hook", "--mode", "remote", "commit-msg", str(message), cwd=git_repo.path, env=stub.env()
    )
    assert result.returncode == code, result.stderr
    assert text in result.stderr


@pytest.mark.parametrize("result_value", ["PASS", "WARNING", "SKIP", "IGNORE", "block"])
def test_only_an_exact_block_blocks(
    git_repo: GitRepo, stub: ValidationStub, result_value: str
) -> None:
    stub.answer = (200, json.dumps({"result": result_value, "ruleValidations": []}).encode())
    message = write_file(git_repo.path.parent / "msg", "anything\n")
    result = jirahooks("hook", "commit-msg", str(message), cwd=git_repo.path, env=stub.env())
    assert result.returncode == 0, result.stderr


def test_unreachable_server_fails_closed_unless_fail_open(
    git_repo: GitRepo, install: Install
) -> None:
    install(git_repo.path, "commit-msg", "--mode", "remote")
    env = {
        "JIRAHOOKS_ENDPOINT": f"http://127.0.0.1:{free_port()}/api/validate/acme?repoSlug=demo",
        "JIRAHOOKS_SECRET": "s",
        "JIRAHOOKS_TIMEOUT": "5",
    }
    stage(git_repo.path)
    closed = git_run(git_repo.path, "commit", "-m", "ABC-1 x", env=env)
    assert closed.returncode != 0
    assert "VALIDATION_SERVER_UNREACHABLE" in closed.stderr
    hook = jirahooks(
        "hook",
        "commit-msg",
        str(write_file(git_repo.path.parent / "m", "ABC-1\n")),
        cwd=git_repo.path,
        env=env,
    )
    assert hook.returncode == 4
    opened = git_run(
        git_repo.path, "commit", "-m", "ABC-1 x", env={**env, "JIRAHOOKS_FAIL_OPEN": "1"}
    )
    assert opened.returncode == 0, opened.stderr
    assert "letting the change through unchecked" in opened.stderr


def test_repo_slug_variable_is_appended(git_repo: GitRepo, stub: ValidationStub) -> None:
    env = stub.env(JIRAHOOKS_ENDPOINT=stub.endpoint.split("?")[0], JIRAHOOKS_REPO_SLUG="demo")
    message = write_file(git_repo.path.parent / "msg", "ABC-1\n")
    assert jirahooks("hook", "commit-msg", str(message), cwd=git_repo.path, env=env).returncode == 0
    assert stub.received[0].query == {"repoSlug": ["demo"]}


# --- pre-push -------------------------------------------------------------------------------


@pytest.fixture
def pushing(make_repo: Callable[..., GitRepo], install: Install) -> tuple[GitRepo, GitRepo]:
    origin = make_repo("origin.git", bare=True)
    repo = make_repo("work")
    repo.git("remote", "add", "origin", str(origin.path))
    install(repo.path, "pre-push", "--mode", "remote")
    repo.commit("ABC-1 already pushed")
    repo.git("push", "-q", "--no-verify", "origin", "main")
    return origin, repo


def test_pre_push_sends_the_union_of_new_commits_and_the_last_branch(
    pushing: tuple[GitRepo, GitRepo], stub: ValidationStub
) -> None:
    _, repo = pushing
    a1 = repo.commit("ABC-2 on main")
    repo.checkout("-b", "feature/ABC-3")
    b1 = repo.commit("ABC-3 on the feature")
    result = git_run(repo.path, "push", "origin", "main", "feature/ABC-3", env=stub.env())
    assert result.returncode == 0, result.stderr
    (request,) = stub.received
    body = request.body
    assert body["triggerType"] == "PUSH"
    assert body["branchName"] == "feature/ABC-3"
    assert sorted(c["hash"] for c in body["commits"]) == sorted([a1, b1])
    assert {"hash": a1, "message": "ABC-2 on main", "authorDisplayName": "Ada Tester"} in body[
        "commits"
    ]


def test_pre_push_blocks_and_sends_only_commits_not_on_any_remote(
    pushing: tuple[GitRepo, GitRepo], stub: ValidationStub
) -> None:
    _, repo = pushing
    bad = repo.commit("forgot the key")
    blocked = git_run(repo.path, "push", "origin", "main", env=stub.env())
    assert blocked.returncode != 0
    assert f"{bad[:12]}  forgot the key" in blocked.stderr
    assert [c["hash"] for c in stub.received[-1].body["commits"]] == [bad]


def test_pre_push_of_only_a_deletion_sends_nothing(
    pushing: tuple[GitRepo, GitRepo], stub: ValidationStub
) -> None:
    _, repo = pushing
    repo.git("push", "-q", "--no-verify", "origin", "main:refs/heads/old")
    result = git_run(repo.path, "push", "origin", ":old", env=stub.env())
    assert result.returncode == 0, result.stderr
    assert stub.received == []


def test_pre_push_from_a_detached_head_sends_head(
    pushing: tuple[GitRepo, GitRepo], stub: ValidationStub
) -> None:
    _, repo = pushing
    repo.checkout("--detach")
    sha = repo.commit("ABC-9 detached work")
    result = git_run(repo.path, "push", "origin", "HEAD:refs/heads/topic", env=stub.env())
    assert result.returncode == 0, result.stderr
    assert stub.received[0].body["branchName"] == "HEAD"
    assert [c["hash"] for c in stub.received[0].body["commits"]] == [sha]


def test_pre_push_of_an_existing_commit_to_a_new_branch_is_branch_only(
    pushing: tuple[GitRepo, GitRepo], stub: ValidationStub
) -> None:
    _, repo = pushing
    result = git_run(repo.path, "push", "origin", "main:refs/heads/release/1.0", env=stub.env())
    assert result.returncode == 0, result.stderr
    assert stub.received[0].body["commits"] == []
    assert stub.received[0].body["branchName"] == "main"


def test_payload_and_signature_helpers() -> None:
    from jirahooks.event import Commit

    body = remote.payload("COMMIT", "main", [Commit(ZERO, "ABC-1 ü", author_name="A")])
    raw = remote.encode(body)
    assert raw == (
        b'{"triggerType":"COMMIT","branchName":"main","commits":[{"hash":"'
        + ZERO.encode()
        + b'","message":"ABC-1 \\u00fc","authorDisplayName":"A"}],"locale":"en-US"}'
    )
    assert remote.sign("k", raw) == "sha256=" + hmac.new(b"k", raw, hashlib.sha256).hexdigest()
    assert (
        remote.with_repo_slug("http://x/api/validate/w", "r")
        == "http://x/api/validate/w?repoSlug=r"
    )
    assert remote.with_repo_slug("http://x/v?repoSlug=a", "r") == "http://x/v?repoSlug=a"
    assert remote.parse_env_file('A=1\n# c\nexport B="two words"\nC=3 # note\n') == {
        "A": "1",
        "B": "two words",
        "C": "3",
    }


def test_remote_config_resolution(tmp_path: Path) -> None:
    write_file(
        tmp_path / "commit-check.env", "JHFB_ENDPOINT=http://a\nJHFB_SECRET=s1\nJHFB_LOCALE=de-DE\n"
    )
    config = remote.load_config([tmp_path], environ={})
    assert config is not None
    assert (config.endpoint, config.secret, config.locale, config.timeout) == (
        "http://a",
        "s1",
        "de-DE",
        30.0,
    )
    env = {"JIRAHOOKS_ENDPOINT": "http://b", "JIRAHOOKS_FAIL_OPEN": "1"}
    config = remote.load_config([tmp_path], environ=env)
    assert config is not None and (config.endpoint, config.secret, config.fail_open) == (
        "http://b",
        "s1",
        True,
    )
    assert remote.load_config([], environ={}) is None
