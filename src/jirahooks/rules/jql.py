"""A structural check of a rule's JQL, without asking Jira.

On Data Center a rule's JQL runs spliced into ``(jql) AND id in (…)``. A JQL that is not one
closed expression could escape that group: ``status = Done) OR (1=1`` would match every issue,
an ``ORDER BY`` would end the condition early. Jira's own validation is not enough, because a
rule can be saved while Jira is down. So every rule JQL is checked here — when a rule is saved
(schema field check: admin API, web form, ``apply``, ``rules validate``) and again before it
is sent (``engine.evaluate``: a stored JQL that fails is never sent; the rule fails closed).

The check is one linear pass over the text (no recursion, no regular expressions), so input of
any length is answered in time proportional to its length. It checks:

* quotes (``"`` and ``'``) are closed; ``\\`` escapes the next character inside them;
* parentheses are balanced and never close more than they opened; none is empty;
* no ``ORDER BY`` (jirahooks only asks whether issues match; ordering means nothing there);
* the query neither starts nor ends with an operator (``AND``, ``OR``, ``NOT``, ``=``, ``IN`` …)
  and has no two ``AND``/``OR`` in a row;
* outside quotes, ``\\`` does not escape a parenthesis or a quote (Jira's and our reading of such
  text could differ); no control characters.

It is not a JQL parser: Jira still validates fields, functions and values (``jirahooks rules
validate --jira``, and the admin API when a connection answers).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

MAX_LENGTH = 10_000
HINT = (
    'write one condition, e.g. status = "In Progress" AND fixVersion is not EMPTY: balanced '
    "parentheses, closed quotes, no ORDER BY"
)

_CONNECTIVES = frozenset({"AND", "OR"})
_DANGLING = frozenset({"AND", "OR", "NOT", "IN", "IS", "WAS"})
_OPERATOR_CHARS = frozenset("=!~<>")
_DANGLING_SYMBOLS = frozenset({"=", "!=", "~", "!~", "<", ">", "<=", ">=", ","})
_NOT_A_NAME = _DANGLING | _DANGLING_SYMBOLS | {"(", ")", ""}
_NO_CONDITION = frozenset({"", "(", "AND", "OR", "NOT"})


@dataclass(frozen=True, slots=True)
class JqlProblem:
    """Why a JQL is refused; ``position`` is a 0-based character offset."""

    message: str
    position: int = 0
    hint: str = HINT


def _tokens(text: str) -> tuple[list[tuple[str, int]], JqlProblem | None]:
    """(token, offset) pairs: words, operators, ``(``, ``)``, ``,`` and quoted strings
    (as the single token ``"…"``); or the first lexical problem."""
    tokens: list[tuple[str, int]] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c in " \t\r\n":
            i += 1
        elif c < " " or c == "\x7f":
            return tokens, JqlProblem(f"control character U+{ord(c):04X} at {i}", i)
        elif c in "\"'":
            start, i = i, i + 1
            while i < n and text[i] != c:
                i += 2 if text[i] == "\\" else 1
            if i >= n:
                return tokens, JqlProblem(f"the quote opened at {start} is never closed", start)
            tokens.append(('"…"', start))
            i += 1
        elif c in "(),":
            tokens.append((c, i))
            i += 1
        elif c in _OPERATOR_CHARS:
            start = i
            while i < n and text[i] in _OPERATOR_CHARS:
                i += 1
            tokens.append((text[start:i], start))
        else:
            start = i
            while i < n and text[i] not in " \t\r\n\"'(),=!~<>" and text[i] >= " ":
                if text[i] == "\\":
                    if i + 1 >= n:
                        return tokens, JqlProblem(f"'\\' at {i} escapes nothing", i)
                    if text[i + 1] in "()\"'":
                        return tokens, JqlProblem(
                            f"'\\{text[i + 1]}' at {i}: escape parentheses and quotes only "
                            "inside a quoted value",
                            i,
                        )
                    i += 2
                else:
                    i += 1
            tokens.append((text[start:i].upper(), start))
    return tokens, None


def check(jql: str) -> JqlProblem | None:
    """The first structural problem of ``jql``, or ``None`` when it is one closed condition."""
    if len(jql) > MAX_LENGTH:
        return JqlProblem(f"the JQL is {len(jql)} characters long; at most {MAX_LENGTH}")
    return _check(jql)


@lru_cache(maxsize=256)
def _check(jql: str) -> JqlProblem | None:
    tokens, problem = _tokens(jql)
    if problem is not None:
        return problem
    if not tokens:
        return JqlProblem("the JQL is empty")
    depth = 0
    previous = before_previous = ""
    if tokens[0][0] in _DANGLING_SYMBOLS:
        return JqlProblem(f"the JQL starts with '{tokens[0][0]}'", 0)
    for index, (token, at) in enumerate(tokens):
        if token == "(":
            depth += 1
        elif token == ")":
            if depth == 0:
                return JqlProblem(f"')' at {at} closes a parenthesis that was never opened", at)
            if previous == "(" and before_previous in _NOT_A_NAME | _CONNECTIVES:
                # "currentUser()" is a function call; "()" elsewhere is an empty group or list
                return JqlProblem(f"empty parentheses at {at}", at)
            if previous in _DANGLING or previous in _DANGLING_SYMBOLS:
                return JqlProblem(f"'{previous}' before ')' at {at} has nothing to act on", at)
            depth -= 1
        elif token == "ORDER" and index + 1 < len(tokens) and tokens[index + 1][0] == "BY":
            return JqlProblem(
                f"ORDER BY at {at}: a rule's JQL is a condition; remove the ordering", at
            )
        elif token in _CONNECTIVES and previous in _NO_CONDITION:
            return JqlProblem(f"'{token}' at {at} has no condition before it", at)
        before_previous, previous = previous, token
    if depth:
        return JqlProblem(f"{depth} parenthesis(es) opened but never closed", len(jql))
    if previous in _DANGLING or previous in _DANGLING_SYMBOLS:
        return JqlProblem(f"the JQL ends with '{previous}': the condition is incomplete", len(jql))
    return None


def error(jql: str) -> str | None:
    """The schema's field check: a message, or ``None`` (an empty JQL means "no condition")."""
    if not jql:
        return None
    problem = check(jql)
    return None if problem is None else f"unsafe JQL: {problem.message}"
