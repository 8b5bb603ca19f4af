"""Issue-key extraction: find Jira issue keys in free text, with positions.

Decisions (documented in docs/rules.md, "Issue keys"):

* Default pattern: a project key — a letter, then letters, digits or underscores (Jira Cloud
  allows ``[A-Z][A-Z0-9]{1,9}``, Data Center letters and ``_`` in custom patterns) — then ``-`` and
  an issue number. Admins may configure their own pattern; it runs on RE2 (linear time).
* Linear time on every path, whatever the text (a branch name or commit message is attacker
  input): the default pattern runs as ``_HYPHEN_DIGITS`` and ``_key_start`` (below: the Python
  loop runs once per ``-digits``, not once per word), admin patterns on RE2, code spans and the
  ignore globs on patterns whose cost is linear in the text; looking up whether a key lies in a
  code span is a binary search.
* Keys never match inside longer words or numbers: the character before a key and the one after
  it must not be a letter or a digit (``xABC-1`` and ``ABC-1x`` are not keys; ``feature/ABC-1``,
  ``(ABC-1)``, ``ABC-1:`` and ``abc-1_login`` in a branch are).
* Jira never numbers issues with a leading zero, so ``ABC-01`` is not a key.
* Case: keys are upper case. Case-insensitive mode (used for branch names by default) finds
  ``abc-123`` and reports ``ABC-123``. Only ASCII letters are key letters in either mode (Jira
  project keys are ASCII): ``ſ`` or the Kelvin sign are never read as ``S`` or ``K``.
* Escapes: ``\\ABC-123`` (a backslash right before the key) and keys inside backticks — an
  inline code span ``\\`ABC-123\\``` or a fenced block — are *escaped*: found and reported, never
  evaluated.
* Ignore list: shell-style globs on the upper-case key (``CVE-*``, ``UTF-8``, ``ISO-*``).

Standard library only (plus RE2 for admin-supplied patterns, loaded only when one is set). On
the commit-msg hook's path (``jirahooks.hooks.judge``), so it imports neither ``typing`` nor
``dataclasses``: importing those costs more than the whole extraction of a commit message.
"""

from __future__ import annotations

import fnmatch
import re
from bisect import bisect_right

TYPE_CHECKING = False  # the hook path does not import typing
if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Sequence
    from typing import Any, Protocol

    class _Pattern(Protocol):
        def finditer(self, text: str) -> Iterator[Any]: ...


DEFAULT_KEY_PATTERN = r"[A-Z][A-Z0-9_]+-[0-9]+"
DEFAULT_IGNORED_KEYS: tuple[str, ...] = ("CVE-*", "UTF-*", "ISO-*")

# Fenced blocks (to their end, or the end of the text), then ``double`` and `single` code spans.
# Linear: a fence always matches, consuming what it scanned; a ``double`` span that finds no
# closing `` on its line falls back to the empty `single` span "``", and no later "``" can start
# on that line; a `single` one that fails has no backtick after it on its line. So every
# character is scanned a bounded number of times.
_CODE_SPANS = re.compile(r"```.*?(?:```|\Z)|``[^\n]*?``|`[^`\n]*`", re.DOTALL)


# ``-`` and the digits after it: where a key of the default pattern can end. A pattern that
# starts with a literal is searched for by ``re`` at C speed, without trying every position.
_HYPHEN_DIGITS = re.compile(r"-[0-9]++")
_UPPER = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_ANY_CASE = _UPPER | frozenset("abcdefghijklmnopqrstuvwxyz")
_DIGITS_UNDERSCORE = frozenset("0123456789_")


def _key_start(text: str, hyphen: int, letters: frozenset[str]) -> int:
    """Where DEFAULT_KEY_PATTERN's key ending at ``hyphen`` starts, or -1 when none does.

    ``[A-Z][A-Z0-9_]+-[0-9]+`` searched leftmost-first finds in each maximal run of word
    characters (letters of the case mode, digits, ``_``) that is followed by ``-`` and a digit
    exactly one key: from the run's first letter to the run's end, if that is at least two
    characters — no later start can match (same run end), no earlier one exists, and a previous
    key's digits, which may begin the run, are no letters. A run without ``-digits`` after it
    never matches. So the key ending at ``hyphen`` starts at the first letter of the run before
    it, found by walking that run back once: the runs before two hyphens never overlap, so a
    text is walked at most once in all (linear, whatever the text).
    """
    first = -1
    i = hyphen - 1
    while i >= 0:
        c = text[i]
        if c in letters:
            first = i
        elif c not in _DIGITS_UNDERSCORE:
            break
        i -= 1
    return first if first >= 0 and hyphen - first >= 2 else -1


_SET = object.__setattr__


class KeyMatch:
    """One key found in a text: the upper-case key, where it stands, and how to treat it.

    Immutable, compared and hashed by value (what ``@dataclass(frozen=True)`` gave, written out:
    the dataclass machinery is not imported on the hook path)."""

    __slots__ = ("end", "escaped", "ignored", "key", "start")

    key: str
    start: int
    end: int
    escaped: bool
    ignored: bool

    def __init__(
        self, key: str, start: int, end: int, escaped: bool = False, ignored: bool = False
    ) -> None:
        _SET(self, "key", key)
        _SET(self, "start", start)
        _SET(self, "end", end)
        _SET(self, "escaped", escaped)
        _SET(self, "ignored", ignored)

    def _fields(self) -> tuple[str, int, int, bool, bool]:
        return (self.key, self.start, self.end, self.escaped, self.ignored)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"cannot assign to field {name!r}: KeyMatch is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"cannot delete field {name!r}: KeyMatch is immutable")

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        assert isinstance(other, KeyMatch)
        return self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash(self._fields())

    def __repr__(self) -> str:
        return (
            f"KeyMatch(key={self.key!r}, start={self.start!r}, end={self.end!r}, "
            f"escaped={self.escaped!r}, ignored={self.ignored!r})"
        )

    @property
    def project(self) -> str:
        return project_of(self.key)

    @property
    def evaluated(self) -> bool:
        return not self.escaped and not self.ignored


def project_of(key: str) -> str:
    """``ABC-123`` → ``ABC``."""
    return key.rsplit("-", 1)[0]


def compile_user_regex(pattern: str, *, ignore_case: bool = False) -> Any:
    """Compile an admin-supplied regular expression on RE2 (linear time: no catastrophic
    backtracking). Raises ``ValueError`` with RE2's message when the pattern is invalid or uses
    a feature RE2 does not have (backreferences, lookaround)."""
    import re2  # google-re2; imported only when an admin pattern is used

    options = re2.Options()
    options.case_sensitive = not ignore_case
    options.log_errors = False
    try:
        return re2.compile(pattern, options)
    except re2.error as exc:
        detail = exc.args[0] if exc.args else ""
        if isinstance(detail, bytes):
            detail = detail.decode("utf-8", "replace")
        raise ValueError(str(detail) or "invalid regular expression") from exc


class KeyExtractor:
    """Finds issue keys. Build one per settings object and reuse it: compilation is cached here."""

    def __init__(
        self,
        pattern: str = DEFAULT_KEY_PATTERN,
        *,
        ignored: Sequence[str] = DEFAULT_IGNORED_KEYS,
        backslash_escape: bool = True,
        backtick_escape: bool = True,
    ) -> None:
        self.pattern = pattern
        self.backslash_escape = backslash_escape
        self.backtick_escape = backtick_escape
        self._sensitive: _Pattern
        self._insensitive: _Pattern
        self._default = False
        if pattern == DEFAULT_KEY_PATTERN:
            # _HYPHEN_DIGITS and _key_start: faster per call than RE2 and linear too.
            self._default = True
        else:
            self._sensitive = compile_user_regex(pattern)
            self._insensitive = compile_user_regex(pattern, ignore_case=True)
        globs = [g.upper() for g in ignored if g]
        # fnmatch.translate writes each ``*`` as an atomic group on Python >= 3.11 (no
        # catastrophic backtracking): matching a key costs its length times the globs' size.
        self._ignored = re.compile("|".join(fnmatch.translate(g) for g in globs)) if globs else None

    def find(self, text: str, *, case_insensitive: bool = False) -> list[KeyMatch]:
        """Every key in ``text`` in order of appearance, escaped and ignored ones included."""
        if not text:
            return []
        if not self._default:
            return self._find_any(text, case_insensitive)
        letters = _ANY_CASE if case_insensitive else _UPPER
        n = len(text)
        # once, not per match: `"`" in text` scans the whole text
        backticks = self.backtick_escape and "`" in text
        backslash = self.backslash_escape
        ignored = self._ignored
        spans: tuple[list[int], list[int]] | None = None
        found: list[KeyMatch] = []
        for match in _HYPHEN_DIGITS.finditer(text):
            hyphen, end = match.span()
            start = _key_start(text, hyphen, letters)
            if start < 0:
                continue
            if (start > 0 and text[start - 1].isalnum()) or (end < n and text[end].isalnum()):
                continue
            if text[hyphen + 1] == "0":  # Jira never numbers an issue with a leading zero
                continue
            key = text[start:end].upper()
            escaped = False
            if backslash and start > 0 and text[start - 1] == "\\":
                escaped = True
            elif backticks:
                if spans is None:
                    spans = _code_spans(text)
                escaped = _inside(spans, start, end)
            found.append(KeyMatch(key, start, end, escaped, bool(ignored and ignored.match(key))))
        return found

    def _find_any(self, text: str, case_insensitive: bool) -> list[KeyMatch]:
        """``find`` with an administrator's pattern (RE2): every match is a candidate."""
        pattern = self._insensitive if case_insensitive else self._sensitive
        spans: tuple[list[int], list[int]] | None = None
        backticks = self.backtick_escape and "`" in text
        found: list[KeyMatch] = []
        for match in pattern.finditer(text):
            start, end = match.start(), match.end()
            if start == end:
                continue
            if (start > 0 and text[start - 1].isalnum()) or (
                end < len(text) and text[end].isalnum()
            ):
                continue
            raw = match.group(0)
            _, sep, number = raw.rpartition("-")
            if not sep or not number.isdigit() or number.startswith("0"):
                continue
            key = raw.upper()
            escaped = False
            if self.backslash_escape and start > 0 and text[start - 1] == "\\":
                escaped = True
            elif backticks:
                if spans is None:
                    spans = _code_spans(text)
                escaped = _inside(spans, start, end)
            ignored = bool(self._ignored and self._ignored.match(key))
            found.append(KeyMatch(key, start, end, escaped, ignored))
        return found

    def keys(self, text: str, *, case_insensitive: bool = False) -> list[str]:
        """The distinct keys to evaluate (not escaped, not ignored), in order of appearance."""
        seen: dict[str, None] = {}
        for m in self.find(text, case_insensitive=case_insensitive):
            if m.evaluated:
                seen.setdefault(m.key)
        return list(seen)


def _code_spans(text: str) -> tuple[list[int], list[int]]:
    """The code spans of ``text``: their starts and ends, in order (they never overlap)."""
    starts: list[int] = []
    ends: list[int] = []
    for m in _CODE_SPANS.finditer(text):
        starts.append(m.start())
        ends.append(m.end())
    return starts, ends


def _inside(spans: tuple[list[int], list[int]], start: int, end: int) -> bool:
    """Whether [start, end) lies inside one code span: a binary search, not a scan of all."""
    starts, ends = spans
    i = bisect_right(starts, start) - 1
    return i >= 0 and end <= ends[i]


def distinct(keys: Iterable[str]) -> list[str]:
    """Distinct keys, first appearance first."""
    return list(dict.fromkeys(keys))
