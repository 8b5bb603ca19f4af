"""Everything jirahooks prints goes through here (no print() elsewhere)."""

from __future__ import annotations

import sys

from jirahooks.errors import ConfigError, JirahooksError

TYPE_CHECKING = False  # on the hook path: importing typing costs more than this module
if TYPE_CHECKING:
    from typing import TextIO


# Characters that must never reach a terminal, a CI log or an XML report raw: C0 controls but
# tab and newline (ESC starts terminal escape sequences, CR overwrites a line, BEL rings), DEL,
# C1 controls, the bidirectional overrides and isolates ("Trojan Source") and the two
# non-characters XML forbids. Each is shown as a visible escape (\u001b, \u202e).
_UNSAFE = [*range(0x00, 0x09), *range(0x0B, 0x20), *range(0x7F, 0xA0)]
_UNSAFE += [0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A), 0xFFFE, 0xFFFF]
# \uXXXX: readable, and the same character again inside a JSON string (--format json)
_VISIBLE = {c: f"\\u{c:04x}" for c in _UNSAFE}
# our marks, for a stream that cannot encode them (cp1252, LC_ALL=C)
_ASCII = str.maketrans({"✔": "+", "✓": "+", "✖": "x", "✗": "x", "—": "-", "…": "...", "·": "."})


# One short form of a commit hash in every output (text, JUnit, hook lines, pre-receive, the
# engine's messages): 12 hex digits, and the commit a commit-msg hook checks, which has no hash
# yet (all zeros), as "(new commit)" — 12 characters too, so the columns line up.
SHORT_HASH_LENGTH = 12
NEW_COMMIT = "(new commit)"
_ZERO_HASH = "0" * 40


def short_hash(ref: str) -> str:
    """``ref`` as every jirahooks output shows it (see ``SHORT_HASH_LENGTH``)."""
    return NEW_COMMIT if ref == _ZERO_HASH else ref[:SHORT_HASH_LENGTH]


def safe(text: str) -> str:
    """``text`` with every control character (but tab and newline), bidirectional override and
    XML-forbidden character shown as a visible escape: what others wrote (commit messages,
    branch names, PR titles, Jira summaries) is printed, never interpreted."""
    return text.translate(_VISIBLE)


def _write(text: str, stream: TextIO) -> None:
    try:
        stream.write(text + "\n")
    except UnicodeEncodeError:
        # a stream that cannot encode the text (PYTHONIOENCODING=cp1252, LC_ALL=C): our marks
        # in ASCII, anything else as \uXXXX — never a crash that would replace the verdict
        encoding = getattr(stream, "encoding", None) or "ascii"
        fallback = text.translate(_ASCII).encode(encoding, "backslashreplace").decode(encoding)
        stream.write(fallback + "\n")


def _detach(stream: TextIO) -> None:
    """The reader went away (``jirahooks check … | head``): drop the rest of the output, but
    keep running so the exit code stays the verdict's (and no error at exit flushes it)."""
    import os

    try:
        fd = stream.fileno()
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, fd)
        os.close(devnull)
    except (OSError, ValueError):
        pass


def _emit(text: str, stream: TextIO) -> None:
    try:
        _write(safe(text), stream)
        if stream.isatty():
            stream.flush()
    except BrokenPipeError:
        _detach(stream)


def out(text: str = "", *, stream: TextIO | None = None) -> None:
    _emit(text, stream or sys.stdout)


def err(text: str = "") -> None:
    _emit(text, sys.stderr)


def flush() -> None:
    """Flush stdout; a reader that went away is no error (see ``out``)."""
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        _detach(sys.stdout)


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
