"""Installing and removing hook scripts, the way pre-commit does it.

* The hook is a tiny ``/bin/sh`` script with the interpreter path baked in
  (``sys.executable`` at install time) and a marker line that identifies it as ours. It runs
  the light entry point ``jirahooks.hooks.entry`` (as ``python -m jirahooks.hooks`` would, the
  same options as ``jirahooks hook``). If that interpreter is gone, it falls back to ``jirahooks hook`` on
  ``PATH``, else fails with exit 4.
* A hook that is not ours is kept: renamed to ``<hook>.legacy`` and run first (``jirahooks hook``
  runs it with the same arguments and stdin; if it fails, ours does not run).
* Installing again rewrites our script (idempotent); uninstalling removes only our script and
  puts the legacy hook back.
* The hooks directory is git's: ``core.hooksPath`` (relative or absolute, e.g. ``.husky``) is
  respected, and a bare repository's ``hooks/`` is used for pre-receive / update.
* Nothing is interactive; git runs with ``GIT_*`` variables stripped (``gitio.git_env``).
"""

from __future__ import annotations

import os
import shlex
import stat
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from jirahooks import gitio
from jirahooks.errors import EnvironmentProblem

MARKER = "# jirahooks-managed-hook"
# what ``python -m jirahooks.hooks`` runs, without runpy and the importlib machinery it loads
ENTRY = "import sys; from jirahooks.hooks.entry import main; sys.exit(main())"
LEGACY_SUFFIX = ".legacy"


@dataclass(frozen=True)
class Location:
    """Where hooks go for the repository at ``cwd``."""

    hooks_dir: Path
    bare: bool
    custom: bool  # core.hooksPath is set


def locate(cwd: str | Path | None = None) -> Location:
    out = gitio.git(
        [
            "rev-parse",
            "--is-bare-repository",
            "--path-format=absolute",
            "--git-path",
            "hooks",
        ],
        cwd=cwd,
        check=False,
    ).splitlines()
    if len(out) != 2:
        raise EnvironmentProblem(
            "not a git repository", hint="run jirahooks install inside the repository"
        )
    custom = bool(gitio.config_value("core.hooksPath", cwd=cwd))
    return Location(Path(out[1]), out[0].strip() == "true", custom)


def is_ours(path: Path) -> bool:
    try:
        with path.open("r", encoding="utf-8", errors="replace") as fh:
            head = fh.read(4096)
    except OSError:
        return False
    return MARKER in head


def script(hook: str, arguments: Sequence[str], *, python: str | None = None) -> str:
    """The hook script: run ``jirahooks.hooks.entry [OPTIONS] HOOK "$@"`` with the baked
    interpreter (what ``jirahooks hook [OPTIONS] HOOK`` does, without the full CLI)."""
    interpreter = python or sys.executable
    command = " ".join(shlex.quote(a) for a in ["--hooks-dir", "HERE", *arguments, hook])
    command = command.replace(" HERE", ' "$HERE"', 1)
    return f"""#!/bin/sh
{MARKER} ({hook}) — written by `jirahooks install`; `jirahooks uninstall` removes it.
# A hook that was here before is kept as {hook}{LEGACY_SUFFIX} and runs first.
INSTALL_PYTHON={shlex.quote(interpreter)}
case "$0" in */*) HERE="${{0%/*}}" ;; *) HERE=. ;; esac
if [ -x "$INSTALL_PYTHON" ]; then
    exec "$INSTALL_PYTHON" -c '{ENTRY}' {command} "$@"
elif command -v jirahooks >/dev/null 2>&1; then
    exec jirahooks hook {command} "$@"
else
    echo "jirahooks: not found ($INSTALL_PYTHON is gone); reinstall it and run 'jirahooks install', or skip once with --no-verify" >&2
    exit 4
fi
"""


def hook_arguments(
    *,
    mode: str | None = None,
    config: str | None = None,
    repo: str | None = None,
    timeout: float | None = None,
) -> list[str]:
    args: list[str] = []
    if mode and mode != "auto":
        args += ["--mode", mode]
    if config:
        args += ["--config", str(Path(config).absolute())]
    if repo:
        args += ["--repo", repo]
    if timeout is not None:
        args += ["--timeout", f"{timeout:g}"]
    return args


@dataclass(frozen=True)
class Change:
    hook: str
    path: Path
    action: str  # installed | reinstalled | installed, kept legacy | removed | …

    def __str__(self) -> str:
        return f"{self.hook}: {self.action} ({self.path})"


def install(hook: str, hooks_dir: Path, arguments: Sequence[str]) -> Change:
    hooks_dir.mkdir(parents=True, exist_ok=True)
    path = hooks_dir / hook
    legacy = hooks_dir / f"{hook}{LEGACY_SUFFIX}"
    action = "installed"
    if path.exists() or path.is_symlink():
        if is_ours(path):
            action = "reinstalled"
        elif legacy.exists() or legacy.is_symlink():
            raise EnvironmentProblem(
                f"{path} is not a jirahooks hook and {legacy.name} exists too",
                hint="move one of them away (or merge them), then install again",
            )
        else:
            path.rename(legacy)
            action = f"installed; the previous hook runs first as {legacy.name}"
    tmp = path.with_name(f".{hook}.jirahooks-tmp")
    tmp.write_text(script(hook, arguments), encoding="utf-8")
    mode = tmp.stat().st_mode
    tmp.chmod(mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    os.replace(tmp, path)
    return Change(hook, path, action)


def uninstall(hook: str, hooks_dir: Path) -> Change:
    path = hooks_dir / hook
    legacy = hooks_dir / f"{hook}{LEGACY_SUFFIX}"
    if path.exists() and not is_ours(path):
        return Change(hook, path, "left alone (not installed by jirahooks)")
    removed = path.exists()
    if removed:
        path.unlink()
    if legacy.exists() or legacy.is_symlink():
        legacy.rename(path)
        return Change(hook, path, "removed; the previous hook is back")
    return Change(hook, path, "removed" if removed else "not installed")
