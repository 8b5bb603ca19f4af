"""Hook managers that own a repository's hooks: jirahooks joins them instead of replacing them.

**Husky 9** sets ``core.hooksPath`` to ``.husky/_`` and writes one stub per hook there; every
stub sources ``.husky/_/h``, which derives the hook's name from its own file name and runs the
team's script ``.husky/<hook>``. ``.husky/_`` is regenerated (``npx husky``, the ``prepare``
script of every ``npm install``). So a hook written into ``.husky/_`` is deleted on the next
``npm install``, and renaming Husky's stub to ``<hook>.legacy`` makes it look for
``.husky/<hook>.legacy`` — nothing — and the team's hooks silently stop. What Husky expects
instead is a line in the team's script: jirahooks appends a marked block to ``.husky/commit-msg``,
``.husky/pre-push`` and ``.husky/prepare-commit-msg`` (creating them if needed), rewrites that block when installed again and
removes only it on uninstall. The block calls ``jirahooks`` on ``PATH`` (the file is
versioned, shared by everyone; no interpreter path of one laptop is baked in).

**Husky 5–8** set ``core.hooksPath`` to ``.husky`` itself and the team's scripts are the hooks
(each sources ``.husky/_/husky.sh``): the same block goes into them.

Husky is also recognised before its ``prepare`` script has run (a fresh clone: ``.husky/`` and
``package.json`` naming husky, ``core.hooksPath`` not set yet): a hook in ``.git/hooks`` would
stop working the moment Husky sets ``core.hooksPath``.

Any **other** ``core.hooksPath`` whose hook is a file tracked by git belongs to the team (e.g.
``.githooks``): jirahooks does not rename it, and says which line to add (``refusal``).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from jirahooks import gitio
from jirahooks.errors import EnvironmentProblem

BEGIN = (
    "# >>> jirahooks {hook} >>> (written by `jirahooks install`; `jirahooks uninstall` removes it)"
)
END = "# <<< jirahooks {hook} <<<"
HUSKY_8_HEADER = '#!/usr/bin/env sh\n. "$(dirname -- "$0")/_/husky.sh"\n'


@dataclass(frozen=True)
class Manager:
    """A hook manager found in the repository: its name and where the team's scripts live."""

    name: str
    scripts_dir: Path
    executable_scripts: bool  # git runs the scripts itself (Husky 5–8) rather than sh (Husky 9)


def _is_husky9_hooks_dir(path: Path) -> bool:
    return (path / "h").is_file() and path.name == "_"


def detect(hooks_dir: Path, root: Path | None) -> Manager | None:
    """The hook manager that owns ``hooks_dir`` (git's hooks directory), if any."""
    if _is_husky9_hooks_dir(hooks_dir):
        return Manager("Husky 9", hooks_dir.parent, executable_scripts=False)
    if (hooks_dir / "_" / "husky.sh").is_file() and not (hooks_dir / "_" / "h").is_file():
        return Manager("Husky 5–8", hooks_dir, executable_scripts=True)
    if root is not None and (root / ".husky").is_dir() and _names_husky(root / "package.json"):
        # Husky's prepare script has not run yet (a fresh clone before npm install)
        return Manager("Husky 9", root / ".husky", executable_scripts=False)
    return None


def _names_husky(package_json: Path) -> bool:
    try:
        return '"husky"' in package_json.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False


def hook_line(hook: str, arguments: Sequence[str], root: Path | None) -> str:
    """The command for a team's hook script: ``jirahooks hook [OPTIONS] HOOK "$@"``, with a
    ``--config`` inside the work tree made relative (hooks run at the work tree's root)."""
    import shlex

    args = list(arguments)
    for i, arg in enumerate(args[:-1]):
        if arg == "--config" and root is not None:
            inside = Path(args[i + 1]).resolve()
            if inside.is_relative_to(root.resolve()):
                args[i + 1] = str(inside.relative_to(root.resolve()))
    command = " ".join(shlex.quote(a) for a in ["jirahooks", "hook", *args, hook])
    return command + ' "$@" || exit $?'


def block(hook: str, arguments: Sequence[str], root: Path | None) -> str:
    line = hook_line(hook, arguments, root)
    missing = {
        "commit-msg": "this commit message was not checked",
        "prepare-commit-msg": "no issue key was added to this commit message",
    }.get(hook, "this push was not checked")
    return "\n".join(
        [
            BEGIN.format(hook=hook),
            "if command -v jirahooks >/dev/null 2>&1; then",
            f"  {line}",
            "else",
            f'  echo "jirahooks is not on PATH: {missing} (README: Installing)" >&2',
            "fi",
            END.format(hook=hook),
            "",
        ]
    )


def _without_block(text: str, hook: str) -> tuple[str, bool]:
    begin, end = BEGIN.format(hook=hook), END.format(hook=hook)
    lines = text.splitlines(keepends=True)
    out: list[str] = []
    inside = found = False
    for line in lines:
        stripped = line.rstrip("\n")
        if stripped == begin:
            inside = found = True
            continue
        if inside:
            if stripped == end:
                inside = False
            continue
        out.append(line)
    return "".join(out), found


def integrate(hook: str, manager: Manager, arguments: Sequence[str], root: Path | None) -> str:
    """Add (or rewrite) jirahooks' block in the team's script for ``hook``; what was done."""
    path = manager.scripts_dir / hook
    existed = path.is_file()
    text = path.read_text(encoding="utf-8") if existed else ""
    rest, found = _without_block(text, hook)
    if not existed and manager.executable_scripts:
        rest = HUSKY_8_HEADER
    if rest and not rest.endswith("\n"):
        rest += "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{hook}.jirahooks-tmp")
    tmp.write_text(rest + block(hook, arguments, root), encoding="utf-8")
    if existed:
        tmp.chmod(stat.S_IMODE(path.stat().st_mode))
    elif manager.executable_scripts:
        tmp.chmod(0o755)
    os.replace(tmp, path)
    verb = "updated jirahooks' lines in" if found else ("added to" if existed else "created")
    return f"{verb} {manager.name}'s script {path} (commit it to share it with the team)"


def remove(hook: str, manager: Manager) -> str:
    """Remove jirahooks' block from the team's script; the file goes when nothing else is left."""
    path = manager.scripts_dir / hook
    if not path.is_file():
        return "not installed"
    rest, found = _without_block(path.read_text(encoding="utf-8"), hook)
    if not found:
        return "not installed"
    if not rest.strip() or rest == HUSKY_8_HEADER:
        path.unlink()
        return f"removed {path} (it held only jirahooks' lines)"
    path.write_text(rest, encoding="utf-8")
    return f"removed jirahooks' lines from {manager.name}'s script {path}"


def refusal(hook: str, path: Path, arguments: Sequence[str], root: Path | None) -> None:
    """Raise when ``path`` (a hook in ``core.hooksPath``) is tracked by git: it is the team's,
    and renaming it would change every clone's hooks. Says which line to add instead."""
    if root is None:
        return
    code, _, _ = gitio.run_git(["ls-files", "--error-unmatch", "--", str(path)], cwd=root)
    if code != 0:
        return
    raise EnvironmentProblem(
        f"{path} is the repository's own hook (tracked by git; core.hooksPath points at its "
        "directory): jirahooks does not rename or replace it",
        hint=f"add this line to it instead: {hook_line(hook, arguments, root)}",
        code="HOOK_MANAGED",
    )
