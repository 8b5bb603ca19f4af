"""The one boundary check for text that enters jirahooks (standard library only, cheap).

Every entry point uses it: the Validation API (``server.validation.parse_payload``), the admin
API and web UI (``server.boundary``), Bitbucket webhooks, and the rule / configuration reader
(``rules.schema.Reader``, so ``apply``, ``rules validate``, local hooks and the rule forms).

What is rejected, and why:

* **lone surrogates** (U+D800–U+DFFF): JSON's ``"\\ud800"`` decodes to a Python string that
  cannot be encoded as UTF-8, so it could be stored but never rendered again;
* **NUL** (U+0000): PostgreSQL cannot store it in text, git cannot hold it in a commit message;
* other **C0 control characters** and DEL, depending on the kind of field: ``LINE`` (names,
  slugs, branch names, URLs) allows none; ``TEXT`` (titles, descriptions, hints, JQL) allows
  tab, line feed and carriage return; ``MESSAGE`` (commit messages, which git stores verbatim)
  allows every control character except NUL;
* **excessive nesting** of JSON: ``nesting_exceeds`` measures the bracket depth of the raw bytes
  before ``json.loads`` runs, so a body like ``[[[[…`` is answered without deep recursion;
* **oversize** values: each caller passes the field's maximum length.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from enum import Enum
from typing import Any

MAX_JSON_DEPTH = 32
"""Deepest JSON nesting accepted anywhere (the deepest real document — a rule with its checks
and conditions — nests 4 levels)."""


class Kind(Enum):
    """Which control characters a field may hold."""

    LINE = "line"  # no control character at all
    TEXT = "text"  # tab, line feed, carriage return
    MESSAGE = "message"  # every control character except NUL


_SURROGATE = "\ud800-\udfff"
_BAD = {
    Kind.LINE: re.compile(f"[\x00-\x1f\x7f{_SURROGATE}]"),
    Kind.TEXT: re.compile(f"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f{_SURROGATE}]"),
    Kind.MESSAGE: re.compile(f"[\x00{_SURROGATE}]"),
}


class TextError(ValueError):
    """Invalid text at ``path`` (dotted, ``commits.0.message``; empty for the whole body)."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path
        self.message = message


def describe(char: str) -> str:
    """What is wrong with one rejected character, for error messages."""
    code = ord(char)
    if code == 0:
        return "contains a NUL character (U+0000)"
    if 0xD800 <= code <= 0xDFFF:
        return f"contains an unpaired surrogate (U+{code:04X}), which is not valid Unicode"
    return f"contains the control character U+{code:04X}"


def text_problem(value: str, kind: Kind = Kind.TEXT, max_length: int | None = None) -> str | None:
    """Why ``value`` may not enter as text of this kind; None when it may."""
    bad = _BAD[kind].search(value)
    if bad is not None:
        return describe(bad.group())
    if max_length is not None and len(value) > max_length:
        return f"is longer than {max_length} characters"
    return None


def all_acceptable(values: Iterable[str], kind: Kind = Kind.TEXT) -> bool:
    """Whether every one of ``values`` may enter as text of this kind (lengths aside): one
    regex search per value, for callers that check many fields and, only when this is False,
    look for the first bad one with ``text_problem``."""
    search = _BAD[kind].search
    if kind is Kind.MESSAGE:
        # An ASCII string (a flag CPython keeps: no scan) holds no surrogate, so only NUL can
        # be wrong, and ``in`` finds a character far faster than a character-class search.
        return not any(
            "\x00" in value if value.isascii() else search(value) is not None for value in values
        )
    return not any(search(value) for value in values)


def check_text(value: str, path: str, kind: Kind = Kind.TEXT, max_length: int | None = None) -> str:
    """``value`` when it is acceptable, else TextError."""
    problem = text_problem(value, kind, max_length)
    if problem is not None:
        raise TextError(path, problem)
    return value


def _join(path: str, key: object) -> str:
    return f"{path}.{key}" if path else str(key)


def _strings(data: Any, path: str) -> Iterator[tuple[str, str]]:
    """Every string of parsed JSON (keys included) with its path; iterative, any depth."""
    stack: list[tuple[Any, str]] = [(data, path)]
    while stack:
        value, where = stack.pop()
        if isinstance(value, str):
            yield where, value
        elif isinstance(value, Mapping):
            for key, item in value.items():
                sub = _join(where, key if _BAD[Kind.TEXT].search(str(key)) is None else "?")
                yield sub, str(key)
                stack.append((item, sub))
        elif isinstance(value, list | tuple):
            stack.extend((item, _join(where, i)) for i, item in enumerate(value))


def check_tree(data: Any, path: str = "", kind: Kind = Kind.TEXT) -> None:
    """Raise TextError for the first string in parsed JSON that is not acceptable as ``kind``
    (``Kind.MESSAGE`` to reject only what can never be stored: NUL and lone surrogates)."""
    for where, value in _strings(data, path):
        problem = text_problem(value, kind)
        if problem is not None:
            raise TextError(where, problem)


# Only quotes and brackets matter: escaped backslashes and escaped quotes are dropped first (two
# ``bytes.replace``, left to right as JSON reads them), then everything but quotes and brackets
# (``bytes.translate``); what lies between quotes is inside a string. All linear and in C — about
# as fast as ``json.loads`` on a typical payload, and never recursive.
_KEPT = b'"[]{}'
_NOT_KEPT = bytes(b for b in range(256) if b not in _KEPT)


def nesting_exceeds(raw: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether the JSON text ``raw`` nests arrays and objects deeper than ``limit``, measured
    without parsing (so without recursion): strings removed, then bracket depth."""
    if b"\\" in raw:
        raw = raw.replace(b"\\\\", b"").replace(b'\\"', b"")
    brackets = b"".join(raw.translate(None, _NOT_KEPT).split(b'"')[::2])
    # Each round removes the innermost pairs, so a balanced document loses exactly one level per
    # round: still there after ``limit`` rounds means deeper than ``limit``. Text that stops
    # shrinking is unbalanced, so not JSON at all: with more than ``limit`` brackets left it is
    # reported as too deep (json.loads could recurse on it), else json.loads reports the error.
    remaining = brackets
    for _ in range(limit):
        if not remaining:
            return False
        # a placeholder, so a pair that becomes innermost in this round waits for the next
        reduced = remaining.replace(b"[]", b"x").replace(b"{}", b"x").replace(b"x", b"")
        if reduced == remaining:
            return len(remaining) > limit
        remaining = reduced
    return bool(remaining)


def load_json(raw: bytes | str, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """``json.loads`` that cannot recurse deeply: ValueError (with a plain message) for invalid
    JSON, invalid UTF-8, or nesting deeper than ``max_depth``."""
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
    if nesting_exceeds(data, max_depth):
        raise ValueError(f"the JSON nests deeper than {max_depth} levels")
    try:
        return json.loads(data)
    except RecursionError as exc:  # not reachable after the depth check; kept as a safety net
        raise ValueError(f"the JSON nests deeper than {max_depth} levels") from exc


def scrub(value: Any) -> Any:
    """A copy of plain data with every character that could not be rendered (lone surrogates,
    NUL) replaced by U+FFFD: for *showing* a bad row stored by an older version, never for
    accepting input."""
    if isinstance(value, str):
        return _BAD[Kind.MESSAGE].sub("\ufffd", value)
    if isinstance(value, Mapping):
        return {scrub(str(k)): scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub(v) for v in value]
    return value
