"""The GitHub Enterprise Server pre-receive recipe (deploy/github-enterprise/pre-receive.sh) as
GitHub runs it: installed as a bare repository's pre-receive hook, fed by a real ``git push``,
with GitHub's GITHUB_REPO_NAME / GITHUB_USER_LOGIN in the environment and a real
``jirahooks serve`` answering. Fail closed within the budget when the server does not answer."""

from __future__ import annotations

import shutil
import socket
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from tests.conftest import GitRepo
from tests.hooks.conftest import RealServer, git_run, write_file

SCRIPT = Path(__file__).resolve().parents[2] / "deploy" / "github-enterprise" / "pre-receive.sh"


@dataclass
class Ghes:
    server: GitRepo
    client: GitRepo
    conf_dir: Path

    def configure(self, *lines: str) -> None:
        write_file(self.conf_dir / "jirahooks.env", "\n".join(lines) + "\n")

    def push(self, *refspecs: str, repo_name: str = "acme/demo") -> tuple[int, str]:
        env = {
            "JIRAHOOKS_CONF_DIR": str(self.conf_dir),
            "JIRAHOOKS_PYTHON": sys.executable,
            "GITHUB_REPO_NAME": repo_name,
            "GITHUB_USER_LOGIN": "octocat",
            "GITHUB_VIA": "git push",
        }
        result = git_run(self.client.path, "push", "origin", *refspecs, env=env)
        return result.returncode, result.stderr


@pytest.fixture
def ghes(make_repo: Callable[..., GitRepo], tmp_path: Path) -> Ghes:
    if shutil.which("sh") is None:
        pytest.skip("no POSIX sh on this machine")
    server = make_repo("server.git", bare=True)
    hook = server.path / "hooks" / "pre-receive"
    shutil.copyfile(SCRIPT, hook)
    hook.chmod(0o755)
    client = make_repo("client")
    client.git("remote", "add", "origin", str(server.path))
    conf_dir = tmp_path / "etc-jirahooks"
    conf_dir.mkdir()
    return Ghes(server, client, conf_dir)


def _workspace_endpoint(real_server: RealServer) -> str:
    return real_server.endpoint.split("?", 1)[0]  # no repoSlug: GITHUB_REPO_NAME supplies it


def test_accepts_and_rejects_with_the_servers_rules(ghes: Ghes, real_server: RealServer) -> None:
    ghes.configure(
        f"JIRAHOOKS_ENDPOINT={_workspace_endpoint(real_server)}",
        f"JIRAHOOKS_SECRET={real_server.secret}",
    )
    ghes.client.commit("ABC-1 first")
    code, err = ghes.push("main")
    assert code == 0, err
    assert "jirahooks: PASS" in err

    ghes.client.commit("no key here")
    code, err = ghes.push("main")
    assert code != 0
    assert "pre-receive hook declined" in err
    assert "Every commit message must reference a Jira issue." in err
    assert real_server.secret not in err


def test_the_repository_comes_from_github(ghes: Ghes, real_server: RealServer) -> None:
    ghes.configure(
        f"JIRAHOOKS_ENDPOINT={_workspace_endpoint(real_server)}",
        f"JIRAHOOKS_SECRET={real_server.secret}",
    )
    ghes.client.commit("ABC-1 first")
    code, err = ghes.push("main", repo_name="acme/unknown-repo")
    assert code != 0  # the server knows no such repository: the push is not let through
    assert "REPOSITORY_NOT_FOUND" in err, err


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A port that accepts connections and never answers (a hung jirahooks server)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/api/validate/acme"
    finally:
        listener.close()


def test_a_hung_server_is_rejected_within_the_budget(ghes: Ghes, silent_server: str) -> None:
    ghes.configure(
        f"JIRAHOOKS_ENDPOINT={silent_server}", "JIRAHOOKS_SECRET=whatever", "JIRAHOOKS_BUDGET=1"
    )
    ghes.client.commit("ABC-1 first")
    code, err = ghes.push("main")
    assert code != 0
    assert "VALIDATION_SERVER_UNREACHABLE" in err or "budget" in err
    assert "Traceback" not in err
    # the refs were not updated
    assert git_run(ghes.server.path, "rev-parse", "-q", "--verify", "main").returncode != 0


def test_fail_open_when_configured(ghes: Ghes, silent_server: str) -> None:
    ghes.configure(
        f"JIRAHOOKS_ENDPOINT={silent_server}",
        "JIRAHOOKS_SECRET=whatever",
        "JIRAHOOKS_BUDGET=1",
        "JIRAHOOKS_FAIL_OPEN=1",
    )
    ghes.client.commit("ABC-1 first")
    code, err = ghes.push("main")
    assert code == 0, err
    assert "letting the change through unchecked" in err


def test_without_configuration_the_push_is_refused(ghes: Ghes) -> None:
    ghes.client.commit("ABC-1 first")
    code, err = ghes.push("main")
    assert code != 0
    assert "JIRAHOOKS_ENDPOINT" in err and "Traceback" not in err
