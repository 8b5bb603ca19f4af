"""The hook path stays light (STYLE.md §1): a commit-msg hook in remote mode imports only the
standard library and jirahooks' stdlib-only modules — checked on a real ``git commit`` through
the installed hook with ``PYTHONPROFILEIMPORTTIME``, and by dumping ``sys.modules``."""

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
