"""pre-receive in remote mode: a bare repository's hook asks a real ``jirahooks serve`` (whose
central rules apply) once per pushed ref; the push is rejected when the server blocks, fails
closed when the server cannot be asked, and deletions never ask."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from tests.conftest import GitRepo
from tests.hooks.conftest import RealServer, git_run, jirahooks, write_file
from tests.support.live import free_port


@dataclass
class Remote:
    server: GitRepo
    client: GitRepo

    def push(self, *refspecs: str) -> tuple[int, str]:
        result = git_run(self.client.path, "push", "origin", *refspecs)
        return result.returncode, result.stderr

    def env_file(self, endpoint: str, secret: str, *extra: str) -> None:
        lines = [f"JIRAHOOKS_ENDPOINT={endpoint}", f"JIRAHOOKS_SECRET={secret}", *extra]
        write_file(self.server.path / "hooks" / "jirahooks.env", "\n".join(lines) + "\n")


@pytest.fixture
def remote(make_repo: Callable[..., GitRepo], real_server: RealServer) -> Remote:
    server = make_repo("server.git", bare=True)
    installed = jirahooks("install", "pre-receive", "--mode", "remote", cwd=server.path)
    assert installed.returncode == 0, installed.stderr
    client = make_repo("client")
    client.git("remote", "add", "origin", str(server.path))
    setup = Remote(server, client)
    setup.env_file(real_server.endpoint, real_server.secret)
    return setup


def test_the_servers_rules_accept_and_reject_pushes(remote: Remote) -> None:
    remote.client.commit("ABC-1 first")
    code, err = remote.push("main")
    assert code == 0, err
    assert "jirahooks: PASS" in err

    remote.client.commit("no key here")
    code, err = remote.push("main")
    assert code != 0
    assert "pre-receive hook declined" in err
    assert "refs/heads/main, 1 new commit" in err
    assert "Every commit message must reference a Jira issue." in err
    assert "push rejected" in err


def test_each_ref_is_asked_with_its_own_branch(remote: Remote) -> None:
    remote.client.commit("ABC-1 first")
    remote.client.git("branch", "feature/login")  # no key in the branch name
    remote.client.git("branch", "feature/ABC-1-login")
    code, err = remote.push("main", "feature/ABC-1-login", "feature/login")
    assert code != 0
    assert "refs/heads/feature/login" in err
    assert "Branch must reference an issue [BLOCK]" in err
    # the rejection is for the whole push: nothing was updated
    assert git_run(remote.server.path, "rev-parse", "-q", "--verify", "main").returncode != 0


def test_deleting_a_branch_asks_nothing(remote: Remote, real_server: RealServer) -> None:
    remote.client.commit("ABC-1 first")
    remote.client.git("branch", "feature/ABC-2-x")
    assert remote.push("main", "feature/ABC-2-x")[0] == 0
    remote.env_file(f"http://127.0.0.1:{free_port()}/api/validate/acme", "unused")  # server gone
    code, err = remote.push(":feature/ABC-2-x")
    assert code == 0, err


def test_an_unreachable_server_fails_closed_unless_told_otherwise(remote: Remote) -> None:
    remote.client.commit("ABC-1 first")
    endpoint = f"http://127.0.0.1:{free_port()}/api/validate/acme?repoSlug=demo"
    remote.env_file(endpoint, "whatever")
    code, err = remote.push("main")
    assert code != 0
    assert "VALIDATION_SERVER_UNREACHABLE" in err

    remote.env_file(endpoint, "whatever", "JIRAHOOKS_FAIL_OPEN=1")
    code, err = remote.push("main")
    assert code == 0, err
    assert "letting the change through unchecked" in err


def test_install_without_config_or_remote_mode_is_a_usage_error(
    make_repo: Callable[..., GitRepo],
) -> None:
    server = make_repo("server.git", bare=True)
    result = jirahooks("install", "pre-receive", cwd=server.path)
    assert result.returncode == 2
    assert "--mode remote" in result.stderr
