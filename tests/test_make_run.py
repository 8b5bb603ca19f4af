"""``make run`` installs what serving needs, not the test stack; ``make test``'s install adds
the rest; the README's commands after ``make run`` find ``jirahooks`` where it was installed.

The Makefile and scripts run for real on a copy of the repository whose ``.venv`` holds a
stand-in interpreter that records how pip was called (and a stand-in ``jirahooks`` that records
the ``serve`` call), so no package is installed."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RECORDER = """#!/bin/sh
echo "$(basename "$0") $*" >> "$(dirname "$0")/../calls.log"
"""


def _copy(tmp_path: Path) -> Path:
    work = tmp_path / "checkout"
    (work / "scripts").mkdir(parents=True)
    for name in ("Makefile", "pyproject.toml"):
        shutil.copy(ROOT / name, work / name)
    for name in ("venv.sh", "run.sh"):
        shutil.copy(ROOT / "scripts" / name, work / "scripts" / name)
    bin_dir = work / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    for name in ("python", "jirahooks"):
        (bin_dir / name).write_text(RECORDER, encoding="utf-8")
        (bin_dir / name).chmod(0o755)
    return work


def _calls(work: Path) -> list[str]:
    log = work / ".venv" / "calls.log"
    calls = log.read_text(encoding="utf-8").splitlines() if log.exists() else []
    log.unlink(missing_ok=True)
    return calls


def _installs(calls: list[str]) -> list[str]:
    return [c for c in calls if " -e " in c]


def _run(work: Path, *command: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JIRAHOOKS_")}
    done = subprocess.run(
        list(command), cwd=work, env=env, capture_output=True, text=True, check=False, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_make_run_installs_only_the_server_extras(tmp_path: Path) -> None:
    work = _copy(tmp_path)
    _run(work, "make", "-s", "run")
    calls = _calls(work)
    assert _installs(calls) == ["python -m pip install --quiet -e .[server,postgres]"]
    assert any(c.startswith("jirahooks serve --data-dir") for c in calls), calls

    _run(work, "make", "-s", "run")  # nothing changed: no pip at all
    assert not [c for c in _calls(work) if "pip" in c]

    _run(work, "bash", "scripts/venv.sh")  # what make test (scripts/test.sh) runs
    assert _installs(_calls(work)) == ["python -m pip install --quiet -e .[server,postgres,dev]"]

    _run(work, "make", "-s", "run")  # the full set includes the server set
    assert not [c for c in _calls(work) if "pip" in c]


def test_the_test_install_covers_what_the_tests_need() -> None:
    script = (ROOT / "scripts" / "test.sh").read_text(encoding="utf-8")
    assert re.search(r"^bash scripts/venv\.sh$", script, re.M), "make test must install [dev]"


def test_the_readme_puts_the_venv_on_path_before_its_commands() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```sh\n(.*?)```", readme, re.S)
    commands = [(i, line) for i, b in enumerate(blocks) for line in b.splitlines() if line.strip()]
    first_make = next(i for i, line in commands if line.startswith("make run"))
    first_jirahooks = next(i for i, line in commands if re.match(r"jirahooks\s", line))
    on_path = [
        i
        for i, line in commands
        if ".venv/bin:$PATH" in line or "source .venv/bin/activate" in line
    ]
    assert on_path, "README never says that jirahooks lives in .venv/bin"
    assert first_make <= on_path[0] <= first_jirahooks
    assert ".venv/bin/jirahooks" in readme
