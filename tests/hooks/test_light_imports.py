"""The hook path stays light (STYLE.md §1): a commit-msg hook in remote mode imports only the
standard library and jirahooks' stdlib-only modules — checked on a real ``git commit`` through
the installed hook with ``PYTHONPROFILEIMPORTTIME`` (``python -X importtime``), and by dumping
``sys.modules``.

The module lists come from the import profile, never from timings: a heavy module on the
remote or local format-only path fails the test on any machine."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from tests.conftest import GitRepo
from tests.hooks.conftest import KEY_RULES_TOML, ValidationStub, git_run, stage, write_file

Install = Callable[..., object]

HEAVY = (
    "pydantic",
    "httpx",
    "httpcore",
    "sqlalchemy",
    "alembic",
    "fastapi",
    "starlette",
    "uvicorn",
    "anyio",
    "jinja2",
    "yaml",
    "re2",
    "cryptography",
    "redis",
    "prometheus_client",  # the server's metrics, never a hook's
)
# the remote path does not even need the engine or the rule model
NOT_ON_REMOTE_PATH = (*HEAVY, "asyncio", "jirahooks.engine", "jirahooks.rules", "jirahooks.jira")


def _top_level(names: set[str]) -> set[str]:
    return names | {n.split(".")[0] for n in names}


def _imported_by_profile(stderr: str) -> set[str]:
    names = set()
    for line in stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            name = line.rsplit("|", 1)[1].strip()
            if name != "imported package":
                names.add(name)
    return names


def test_remote_commit_msg_hook_imports_no_heavy_module(
    git_repo: GitRepo, install: Install, stub: ValidationStub
) -> None:
    install(git_repo.path, "commit-msg", "--mode", "remote")
    stage(git_repo.path)
    result = git_run(
        git_repo.path,
        "commit",
        "-m",
        "ABC-1 light",
        env=stub.env(PYTHONPROFILEIMPORTTIME="1"),
    )
    assert result.returncode == 0, result.stderr
    assert len(stub.received) == 1  # the hook really ran and asked the server
    imported = _imported_by_profile(result.stderr)
    assert "jirahooks.hooks.remote" in imported
    heavy = sorted(n for n in NOT_ON_REMOTE_PATH if n in imported)
    assert heavy == [], heavy


def _modules_after(code: str, cwd: Path, env: dict[str, str] | None = None) -> set[str]:
    import os

    script = (
        f"import sys, json\n{code}\nsys.stdout.write('\\n' + json.dumps(sorted(sys.modules)))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.stdout, proc.stderr
    modules: list[str] = json.loads(proc.stdout.strip().splitlines()[-1])
    return set(modules)


def test_importing_the_cli_is_light(tmp_path: Path) -> None:
    modules = _modules_after("import jirahooks.cli", tmp_path)
    assert not _top_level(modules) & set(NOT_ON_REMOTE_PATH)


def test_remote_pre_push_and_commit_msg_in_process(git_repo: GitRepo, stub: ValidationStub) -> None:
    message = write_file(git_repo.path.parent / "msg", "ABC-1 x\n")
    code = (
        "from jirahooks.cli import main\n"
        f"rc = main(['hook', '--mode', 'remote', 'commit-msg', {str(message)!r}])\n"
        "assert rc == 0, rc\n"
        "import io\n"
        "sys.stdin = io.TextIOWrapper(io.BytesIO(b''))\n"
        "assert main(['hook', '--mode', 'remote', 'pre-push', 'origin', 'url']) == 0\n"
    )
    modules = _modules_after(code, git_repo.path, stub.env())
    assert len(stub.received) == 1
    assert "jirahooks.hooks.remote" in modules
    assert not _top_level(modules) & set(NOT_ON_REMOTE_PATH), sorted(
        _top_level(modules) & set(NOT_ON_REMOTE_PATH)
    )


def test_local_format_only_mode_with_toml_loads_no_third_party_module(git_repo: GitRepo) -> None:
    write_file(git_repo.path / ".jirahooks.toml", KEY_RULES_TOML)
    message = write_file(git_repo.path.parent / "msg", "ABC-1 x\n")
    code = (
        "from jirahooks.cli import main\n"
        f"assert main(['hook', '--mode', 'local', 'commit-msg', {str(message)!r}]) == 0\n"
    )
    modules = _modules_after(code, git_repo.path)
    assert "jirahooks.engine" in modules
    assert not _top_level(modules) & set(HEAVY), sorted(_top_level(modules) & set(HEAVY))


# What the installed hook must not import (issue 12): each of these costs a good part of a bare
# interpreter start, and none is needed to ask the Validation API or to match a key pattern.
HEAVY_ON_HOOK_PATH = (
    *HEAVY,
    "asyncio",
    "ssl",
    "email",
    "http",
    "urllib.request",
    "argparse",
    "subprocess",
    "tomllib",
    "jirahooks.cli",
    "jirahooks.jira",
)
# remote mode does not even need the engine, the rule model, or the dataclass machinery; for
# an http endpoint not the socket module's enums, nor OpenSSL (hashlib), nor the idna codec
HEAVY_ON_REMOTE_PATH = (
    *HEAVY_ON_HOOK_PATH,
    "dataclasses",
    "typing",
    "pathlib",
    "socket",
    "selectors",
    "hashlib",
    "_hashlib",
    "hmac",
    "encodings.idna",
    "jirahooks.engine",
    "jirahooks.rules",
    "jirahooks.event",
)


def _heavy(imported: set[str], forbidden: tuple[str, ...]) -> list[str]:
    return sorted(
        name for name in imported if any(name == f or name.startswith(f + ".") for f in forbidden)
    )


def test_installed_commit_msg_hook_in_remote_mode_imports_nothing_heavy(
    git_repo: GitRepo, install: Install, stub: ValidationStub
) -> None:
    install(git_repo.path, "commit-msg", "--mode", "remote")
    assert (
        "jirahooks.hooks.entry import main"
        in (git_repo.path / ".git" / "hooks" / "commit-msg").read_text()
    )
    stage(git_repo.path)
    profile = {"PYTHONPROFILEIMPORTTIME": "1"}
    result = git_run(git_repo.path, "commit", "-m", "ABC-1 light", env=stub.env(**profile))
    assert result.returncode == 0, result.stderr
    assert len(stub.received) == 1  # the hook really ran and asked the server
    imported = _imported_by_profile(result.stderr)
    # the request went out through _socket, the C module under socket (see below)
    assert {"jirahooks.hooks.entry", "jirahooks.hooks.remote", "json", "_socket"} <= imported
    assert _heavy(imported, HEAVY_ON_REMOTE_PATH) == []


def test_installed_pre_push_hook_in_remote_mode_imports_nothing_heavy(
    git_repo: GitRepo, install: Install, stub: ValidationStub, tmp_path: Path
) -> None:
    origin = tmp_path / "origin.git"
    subprocess.run(["git", "init", "-q", "--bare", str(origin)], check=True)
    git_repo.git("remote", "add", "origin", str(origin))
    install(git_repo.path, "pre-push", "--mode", "remote")
    git_repo.commit("ABC-1 first")
    profile = {"PYTHONPROFILEIMPORTTIME": "1"}
    result = git_run(
        git_repo.path, "push", "origin", "HEAD:refs/heads/main", env=stub.env(**profile)
    )
    assert result.returncode == 0, result.stderr
    assert len(stub.received) == 1 and len(stub.received[0].body["commits"]) == 1
    imported = _imported_by_profile(result.stderr)
    assert "jirahooks.hooks.entry" in imported
    assert _heavy(imported, HEAVY_ON_REMOTE_PATH) == []


# local format-only mode with an unchanged rules file judges from the compiled rules under
# .git/jirahooks/ (jirahooks.hooks.compiled): no engine, no rule model, no dataclass machinery
HEAVY_ON_FORMAT_ONLY_PATH = (
    *HEAVY_ON_HOOK_PATH,
    "dataclasses",
    "typing",
    "pathlib",
    "hashlib",
    "socket",
    "jirahooks.engine",
    "jirahooks.rules",
    "jirahooks.event",
    "jirahooks.hooks.local",
    "jirahooks.hooks.remote",
)


def test_installed_commit_msg_hook_in_local_format_only_mode_imports_nothing_heavy(
    git_repo: GitRepo, install: Install
) -> None:
    """The rules file is YAML: the first commit parses it with the engine (and so imports yaml
    and the engine — which shows that the profile would see them), the next ones judge from
    the compiled form under .git/: neither YAML nor the engine."""
    write_file(git_repo.path / ".jirahooks.yml", "rules:\n  - template: commit-key-required\n")
    install(git_repo.path, "commit-msg", "--mode", "local")
    profile = {"PYTHONPROFILEIMPORTTIME": "1"}
    stage(git_repo.path)
    first = git_run(git_repo.path, "commit", "-m", "ABC-1 first", env=profile)
    assert first.returncode == 0, first.stderr
    assert {"yaml", "jirahooks.engine", "dataclasses"} <= _imported_by_profile(first.stderr)
    stage(git_repo.path)
    second = git_run(git_repo.path, "commit", "-m", "ABC-2 second", env=profile)
    assert second.returncode == 0, second.stderr
    assert "Issue key required in every commit" in second.stderr
    imported = _imported_by_profile(second.stderr)
    judged = {"jirahooks.hooks.entry", "jirahooks.hooks.compiled", "jirahooks.hooks.judge"}
    assert judged <= imported
    assert _heavy(imported, HEAVY_ON_HOOK_PATH) == []
    assert _heavy(imported, HEAVY_ON_FORMAT_ONLY_PATH) == []
    stage(git_repo.path)
    blocked = git_run(git_repo.path, "commit", "-m", "no key", env=profile)
    assert blocked.returncode != 0 and "BLOCK" in blocked.stderr
    assert _heavy(_imported_by_profile(blocked.stderr), HEAVY_ON_FORMAT_ONLY_PATH) == []


LOCAL_JIRA_TOML = """\
[[connections]]
name = "fake"
url = "{url}"
deployment = "cloud"
email = "bot@example.com"
token = "${{HOOK_JIRA_TOKEN}}"

[[rules]]
template = "commit-key-required"

[[rules]]
template = "all-keys-valid"
"""


def test_local_mode_with_jira_loads_the_jira_client_only_when_jira_is_asked(
    git_repo: GitRepo, install: Install
) -> None:
    from tests.fakes.fake_jira import FakeJira

    with FakeJira("cloud") as jira:
        jira.add_issues("ABC", 3, status="In Progress")
        write_file(git_repo.path / ".jirahooks.toml", LOCAL_JIRA_TOML.format(url=jira.url))
        install(git_repo.path, "commit-msg", "--mode", "local")
        env = {"PYTHONPROFILEIMPORTTIME": "1", "HOOK_JIRA_TOKEN": jira.token}
        # a key: Jira is asked, through the Jira client on asyncio (the rules get cached)
        stage(git_repo.path)
        keyed = git_run(git_repo.path, "commit", "-m", "ABC-1 with a key", env=env)
        assert keyed.returncode == 0, keyed.stderr
        assert list(jira.paths()) != []
        assert {"asyncio", "httpx", "jirahooks.jira"} <= _imported_by_profile(keyed.stderr)
        # no key: blocked by the format rule, nothing to ask Jira, nothing heavy loaded
        jira.reset_log()
        stage(git_repo.path)
        keyless = git_run(git_repo.path, "commit", "-m", "no key at all", env=env)
        assert keyless.returncode != 0 and "BLOCK" in keyless.stderr, keyless.stderr
        assert list(jira.paths()) == []
        assert _heavy(_imported_by_profile(keyless.stderr), HEAVY_ON_HOOK_PATH) == []
        # an unknown key is found invalid by the real lookup
        stage(git_repo.path)
        unknown = git_run(git_repo.path, "commit", "-m", "ABC-99 not there", env=env)
        assert unknown.returncode != 0 and "BLOCK" in unknown.stderr


def _prepare_profile(repo: GitRepo, env: dict[str, str]) -> set[str]:
    stage(repo.path)
    profile = {"PYTHONPROFILEIMPORTTIME": "1", **env}
    result = git_run(repo.path, "commit", "-m", "light", env=profile)
    assert result.returncode == 0, result.stderr
    assert repo.git("log", "-1", "--format=%s") == "ABC-1 light"  # the hook really inserted
    return _imported_by_profile(result.stderr)


def test_prepare_commit_msg_local_mode_cached_needs_no_engine(
    git_repo: GitRepo, install: Install
) -> None:
    write_file(git_repo.path / ".jirahooks.toml", KEY_RULES_TOML)
    install(git_repo.path, "prepare-commit-msg", "--mode", "local")
    git_repo.git("checkout", "-q", "-b", "feature/ABC-1-light")
    git_repo.commit("ABC-1 first: the form is derived and cached")  # --no-verify: no hook
    _prepare_profile(git_repo, {})  # derives and caches the form
    git_repo.git("reset", "-q", "--soft", "HEAD~1")
    imported = _prepare_profile(git_repo, {})
    assert "jirahooks.hooks.prepare" in imported
    assert _heavy(imported, (*HEAVY_ON_HOOK_PATH, "jirahooks.engine", "jirahooks.rules")) == []


def test_prepare_commit_msg_remote_mode_imports_nothing_heavy(
    git_repo: GitRepo, install: Install, stub: ValidationStub
) -> None:
    install(git_repo.path, "prepare-commit-msg", "--mode", "remote")
    git_repo.git("checkout", "-q", "-b", "feature/ABC-1-light")
    imported = _prepare_profile(git_repo, stub.env())
    assert [r.path for r in stub.received] == ["/api/validate/acme/message-format"]
    assert "jirahooks.hooks.prepare" in imported and "jirahooks.hooks.remote" in imported
    assert _heavy(imported, HEAVY_ON_REMOTE_PATH) == []
