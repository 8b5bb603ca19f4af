"""Everything jirahooks prints goes through here (no print() elsewhere)."""

from __future__ import annotations

import sys

from jirahooks.errors import ConfigError, JirahooksError

TYPE_CHECKING = False  # on the hook path: importing typing costs more than this module
if TYPE_CHECKING:
    from typing import TextIO


def out(text: str = "", *, stream: TextIO | None = None) -> None:
    print(text, file=stream or sys.stdout)


def err(text: str = "") -> None:
    print(text, file=sys.stderr)


def error(exc: JirahooksError) -> None:
    """``jirahooks: error [CODE]: message`` then the problems and the hint, on stderr."""
    err(f"jirahooks: error [{exc.code}]: {exc.message}")
    if isinstance(exc, ConfigError):
        for problem in exc.problems:
            err(
                f"  - {problem.path}: {problem.message}"
                if problem.path
                else f"  - {problem.message}"
            )
            if problem.hint:
                err(f"      hint: {problem.hint}")
    elif exc.hint:
        err(f"  hint: {exc.hint}")
