"""A hook-only install (no ``server`` extra): the server's commands say which extra to install,
with the environment exit code, instead of an internal error; ``db status`` only looks.

The missing extra is simulated in a subprocess by a meta-path finder that refuses the server
stack's modules, as an install without them would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BLOCKER = """
import sys
BLOCKED = set(sys.argv[1].split(","))

class NotInstalled:
    def find_spec(self, name, path=None, target=None):
        if name.split(".", 1)[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, NotInstalled())
from jirahooks.cli import main
sys.exit(main(sys.argv[2:]))
"""
SERVER_STACK = "fastapi,starlette,uvicorn,sqlalchemy,alembic,cryptography,jinja2,aiosqlite,redis"


def _without(blocked: str, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JIRAHOOKS_")}
    return subprocess.run(
        [sys.executable, "-c", BLOCKER, blocked, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


@pytest.mark.parametrize(
    "command",
    [
        ["serve", "--port", "0"],
        ["db", "status"],
        ["db", "upgrade"],
        ["serve", "--help"],
        ["apply", "x.yml"],
    ],
    ids=lambda c: " ".join(c),
)
def test_server_commands_without_the_server_extra(tmp_path: Path, command: list[str]) -> None:
    result = _without(SERVER_STACK, *command, "--data-dir", str(tmp_path / "d"), cwd=tmp_path)
    assert result.returncode == 4, result.stderr
    assert "internal error" not in result.stderr
    assert "this is a bug" not in result.stderr
    assert "Traceback" not in result.stderr
    assert "needs the 'server' extra" in result.stderr
    assert "install jirahooks[server]" in result.stderr
    assert not (tmp_path / "d").exists()


def test_hook_commands_work_without_the_server_extra(tmp_path: Path) -> None:
    result = _without(SERVER_STACK, "templates", "list", cwd=tmp_path)
    assert result.returncode == 0, result.stderr


def test_postgres_without_its_extra(tmp_path: Path) -> None:
    result = _without(
        "psycopg",
        "db",
        "status",
        "--database-url",
        "postgresql://nobody@127.0.0.1:1/none",
        cwd=tmp_path,
    )
    assert result.returncode == 4, result.stderr
    assert "install jirahooks[postgres]" in result.stderr


def test_only_the_extras_modules_are_reported_as_a_missing_extra() -> None:
    from jirahooks.cli import missing_extra

    assert missing_extra(ModuleNotFoundError("x", name="yaml")) is None  # a core dependency
    assert missing_extra(ModuleNotFoundError("x", name="nonexistent_thing")) is None
    problem = missing_extra(ModuleNotFoundError("x", name="sqlalchemy.ext.asyncio"))
    assert problem is not None
    assert problem.exit_code == 4
    assert "'server' extra" in problem.message


def test_db_status_does_not_create_the_data_directory(tmp_path: Path) -> None:
    data = tmp_path / "new-data"
    result = subprocess.run(
        [sys.executable, "-m", "jirahooks", "db", "status", "--data-dir", str(data)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env={k: v for k, v in os.environ.items() if not k.startswith("JIRAHOOKS_")},
    )
    assert result.returncode == 0, result.stderr
    assert "schema: empty" in result.stdout
    assert not data.exists()

    upgraded = subprocess.run(
        [sys.executable, "-m", "jirahooks", "db", "upgrade", "--data-dir", str(data)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert upgraded.returncode == 0, upgraded.stderr
    status = subprocess.run(
        [sys.executable, "-m", "jirahooks", "db", "status", "--data-dir", str(data)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert "schema: current" in status.stdout, status.stdout + status.stderr
