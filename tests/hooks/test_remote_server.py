"""Remote mode end to end: installed hooks in a real repository talk to a real ``jirahooks
serve`` (configured by ``jirahooks apply``, with a repository-scoped validation token)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from tests.conftest import GitRepo
from tests.hooks.conftest import RealServer, git_run, stage, write_file

Install = Callable[..., object]


def _env(server: RealServer, **extra: str) -> dict[str, str]:
    return {"JIRAHOOKS_ENDPOINT": server.endpoint, "JIRAHOOKS_SECRET": server.secret, **extra}


def test_commits_pass_and_block_through_the_server(
    git_repo: GitRepo, install: Install, real_server: RealServer
) -> None:
    install(git_repo.path, "--mode", "remote")
    stage(git_repo.path)
    blocked = git_run(git_repo.path, "commit", "-m", "no key, ümlaut", env=_env(real_server))
    assert blocked.returncode != 0
    assert "jirahooks: BLOCK" in blocked.stderr
    assert "Every commit message must reference a Jira issue." in blocked.stderr
    assert "(new commit)  no key, ümlaut" in blocked.stderr
    assert "hint:" in blocked.stderr

    passed = git_run(git_repo.path, "commit", "-m", "ABC-1 Grüße", env=_env(real_server))
    assert passed.returncode == 0, passed.stderr
    assert "jirahooks: PASS" in passed.stderr


def test_env_file_with_the_reference_clients_names(
    git_repo: GitRepo, install: Install, real_server: RealServer
) -> None:
    install(git_repo.path, "commit-msg")
    write_file(
        git_repo.path / ".git" / "hooks" / "commit-check.env",
        f"JHFB_ENDPOINT={real_server.endpoint}\nJHFB_SECRET={real_server.secret}\nJHFB_LOCALE=de-DE\n",
    )
    stage(git_repo.path)
    blocked = git_run(git_repo.path, "commit", "-m", "kein Schlüssel")
    assert blocked.returncode != 0
    assert "jirahooks: BLOCK" in blocked.stderr


@pytest.mark.parametrize(
    ("endpoint_suffix", "secret", "code"),
    [
        ("", "not-the-token", "HMAC_SIGNATURE_INVALID"),
        # a mistyped repoSlug, correctly signed: the repository does not exist (issue 13)
        ("-elsewhere", None, "REPOSITORY_NOT_FOUND"),
    ],
)
def test_server_rejections_block_the_commit(
    git_repo: GitRepo,
    install: Install,
    real_server: RealServer,
    endpoint_suffix: str,
    secret: str | None,
    code: str,
) -> None:
    install(git_repo.path, "commit-msg", "--mode", "remote")
    env = _env(real_server, JIRAHOOKS_ENDPOINT=real_server.endpoint + endpoint_suffix)
    if secret is not None:
        env["JIRAHOOKS_SECRET"] = secret
    stage(git_repo.path)
    result = git_run(git_repo.path, "commit", "-m", "ABC-1 fine", env=env)
    assert result.returncode != 0
    assert code in result.stderr


def test_push_through_the_server(
    make_repo: Callable[..., GitRepo], install: Install, real_server: RealServer
) -> None:
    origin = make_repo("origin.git", bare=True)
    repo = make_repo("work")
    repo.git("remote", "add", "origin", str(origin.path))
    install(repo.path, "pre-push", "--mode", "remote")
    repo.commit("ABC-1 base")
    assert git_run(repo.path, "push", "origin", "main", env=_env(real_server)).returncode == 0

    repo.checkout("-b", "feature/no-key")
    repo.commit("ABC-2 work")
    blocked = git_run(repo.path, "push", "origin", "feature/no-key", env=_env(real_server))
    assert blocked.returncode != 0
    assert "Branch" in blocked.stderr
    assert "The branch name does not reference a valid Jira issue." in blocked.stderr

    repo.git("branch", "-m", "feature/ABC-2-work")
    ok = git_run(repo.path, "push", "origin", "feature/ABC-2-work", env=_env(real_server))
    assert ok.returncode == 0, ok.stderr
    deleted = git_run(repo.path, "push", "origin", ":feature/ABC-2-work", env=_env(real_server))
    assert deleted.returncode == 0, deleted.stderr
