"""A JQL subset for the fake Jira: parse once, evaluate per issue, validate like Jira does.

Supported: ``key``/``issuekey``/``issue``/``id``, ``project``, ``status``, ``statusCategory``,
``assignee`` (incl. ``currentUser()``), ``fixVersion``, ``issuetype``/``type``, ``summary ~``,
``updated >= "-5m"`` (relative dates: ``m``, ``h``, ``d``, ``w``; ``>=``, ``>``, ``<=``, ``<``);
operators ``=``, ``!=``, ``in``, ``not in``, ``is [not] EMPTY|NULL``, ``~``, ``!~``; ``AND``,
``OR``, ``NOT``, parentheses, quoted strings; a trailing ``ORDER BY …`` is accepted and ignored.
Anything else is a JQL error, as Jira would report it.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any, Protocol


class JqlError(Exception):
    """The query is invalid; ``messages`` are Jira-style error messages."""

    def __init__(self, messages: list[str]) -> None:
        super().__init__("; ".join(messages))
        self.messages = messages


class IssueView(Protocol):
    key: str
    id: str
    summary: str
    status: str
    status_category: str
    issue_type: str
    assignee: str | None
    fix_versions: list[str]
    old_keys: list[str]

    @property
    def project(self) -> str: ...


FIELDS = {
    "key": "key",
    "issuekey": "key",
    "issue": "key",
    "id": "key",
    "project": "project",
    "status": "status",
    "statuscategory": "statusCategory",
    "assignee": "assignee",
    "fixversion": "fixVersion",
    "issuetype": "issuetype",
    "type": "issuetype",
    "summary": "summary",
    "updated": "updated",
    "updateddate": "updated",
}
_RELATIVE = re.compile(r"^([-+]?)(\d+)([mhdw])$")
_UNIT = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
# "now" for relative dates (a benchmark that compresses time replaces it with its clock)
CLOCK: Callable[[], float] = time.time

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
      | (?P<op>!=|!~|>=|<=|=|~|>|<|\(|\)|,)
      | (?P<word>[A-Za-z0-9_.\-@]+)
    )""",
    re.VERBOSE,
)


@dataclass(frozen=True)
class Value:
    text: str
    kind: str = "literal"  # literal | function | empty


@dataclass(frozen=True)
class Clause:
    field: str
    op: str  # = != in not_in is is_not ~ !~
    values: tuple[Value, ...]
    wanted: dict[str | None, frozenset[str]] = field(
        default_factory=dict, compare=False, repr=False
    )  # literal values per current user, computed once


Node = tuple[str, Any]


def tokenize(jql: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    pos = 0
    text = jql.rstrip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise JqlError(
                [
                    "Error in the JQL Query: The character "
                    f"'{text[pos:].strip()[:1]}' is a reserved "
                    f"JQL character. (line 1, character {pos + 1})"
                ]
            )
        pos = match.end()
        if match.group("string") is not None:
            raw = match.group("string")[1:-1]
            tokens.append(("string", re.sub(r"\\(.)", r"\1", raw)))
        elif match.group("op") is not None:
            tokens.append(("op", match.group("op")))
        else:
            tokens.append(("word", match.group("word")))
    return tokens


class _Parser:
    def __init__(self, jql: str) -> None:
        self.tokens = tokenize(jql)
        self.pos = 0

    def peek(self, offset: int = 0) -> tuple[str, str] | None:
        i = self.pos + offset
        return self.tokens[i] if i < len(self.tokens) else None

    def is_word(self, word: str, offset: int = 0) -> bool:
        token = self.peek(offset)
        return token is not None and token[0] == "word" and token[1].lower() == word

    def is_op(self, op: str) -> bool:
        token = self.peek()
        return token is not None and token == ("op", op)

    def take(self) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise JqlError(
                ["Error in the JQL Query: Expecting more input at the end of the query."]
            )
        self.pos += 1
        return token

    def parse(self) -> Node | None:
        if not self.tokens or self.is_word("order"):
            return None
        node = self.or_expr()
        if self.is_word("order") and self.is_word("by", 1):
            self.pos = len(self.tokens)
        if self.peek() is not None:
            raise JqlError(
                [f"Error in the JQL Query: Expecting end of query but got '{self.peek()[1]}'."]
            )  # type: ignore[index]
        return node

    def or_expr(self) -> Node:
        nodes = [self.and_expr()]
        while self.is_word("or"):
            self.pos += 1
            nodes.append(self.and_expr())
        return nodes[0] if len(nodes) == 1 else ("or", nodes)

    def and_expr(self) -> Node:
        nodes = [self.not_expr()]
        while self.is_word("and"):
            self.pos += 1
            nodes.append(self.not_expr())
        return nodes[0] if len(nodes) == 1 else ("and", nodes)

    def not_expr(self) -> Node:
        if self.is_word("not") or self.is_op("!"):
            self.pos += 1
            return ("not", self.not_expr())
        if self.is_op("("):
            self.pos += 1
            node = self.or_expr()
            if not self.is_op(")"):
                raise JqlError(
                    ["Error in the JQL Query: Expecting ')' before the end of the query."]
                )
            self.pos += 1
            return node
        return ("clause", self.clause())

    def clause(self) -> Clause:
        kind, name = self.take()
        if kind == "op":
            raise JqlError([f"Error in the JQL Query: Expecting a field name but got '{name}'."])
        field = FIELDS.get(name.lower())
        if field is None:
            raise JqlError(
                [f"Field '{name}' does not exist or you do not have permission to view it."]
            )
        if self.is_word("not") and self.is_word("in", 1):
            self.pos += 2
            return Clause(field, "not_in", self.list_operand())
        if self.is_word("in"):
            self.pos += 1
            return Clause(field, "in", self.list_operand())
        if self.is_word("is"):
            self.pos += 1
            op = "is"
            if self.is_word("not"):
                self.pos += 1
                op = "is_not"
            kind, word = self.take()
            if word.lower() not in ("empty", "null"):
                raise JqlError([f"Error in the JQL Query: Expecting 'EMPTY' but got '{word}'."])
            return Clause(field, op, (Value("", "empty"),))
        kind, op = self.take()
        if field == "updated":
            if kind != "op" or op not in (">=", ">", "<=", "<"):
                raise JqlError([f"Error in the JQL Query: Expecting operator but got '{op}'."])
            value = self.value()
            if not _RELATIVE.match(value.text):
                raise JqlError(
                    [
                        f"Date value '{value.text}' for field 'updated' is invalid (this fake "
                        'knows relative dates such as "-5m", "-2h", "-1d").'
                    ]
                )
            return Clause(field, op, (value,))
        if kind != "op" or op not in ("=", "!=", "~", "!~"):
            raise JqlError([f"Error in the JQL Query: Expecting operator but got '{op}'."])
        return Clause(field, op, (self.value(),))

    def list_operand(self) -> tuple[Value, ...]:
        if not self.is_op("("):
            return (self.value(),)
        self.pos += 1
        values = [self.value()]
        while self.is_op(","):
            self.pos += 1
            values.append(self.value())
        if not self.is_op(")"):
            raise JqlError(["Error in the JQL Query: Expecting ')' or ',' in the list."])
        self.pos += 1
        return tuple(values)

    def value(self) -> Value:
        kind, text = self.take()
        if kind == "op":
            raise JqlError([f"Error in the JQL Query: Expecting a value but got '{text}'."])
        if kind == "word" and self.is_op("("):
            self.pos += 1
            if not self.is_op(")"):
                raise JqlError(
                    [f"Error in the JQL Query: Function '{text}' takes no arguments here."]
                )
            self.pos += 1
            if text.lower() != "currentuser":
                raise JqlError([f"Unable to find JQL function '{text}()'."])
            return Value(text, "function")
        if kind == "word" and text.lower() in ("empty", "null"):
            return Value("", "empty")
        return Value(text)


@dataclass
class Query:
    """A parsed query: ``matches(issue, user)`` and ``problems(known)`` for validation."""

    jql: str
    root: Node | None

    def clauses(self) -> list[Clause]:
        found: list[Clause] = []

        def walk(node: Node | None) -> None:
            if node is None:
                return
            kind, payload = node
            if kind == "clause":
                found.append(payload)
            elif kind == "not":
                walk(payload)
            else:
                for child in payload:
                    walk(child)

        walk(self.root)
        return found

    def problems(self, key_exists: Callable[[str], bool], projects: Collection[str]) -> list[str]:
        """What Jira's validation reports: unknown issue keys and projects, one message each."""
        messages: list[str] = []
        upper_projects = {p.upper() for p in projects}
        for clause in self.clauses():
            for value in clause.values:
                if value.kind != "literal":
                    continue
                if (
                    clause.field == "key"
                    and not value.text.isdigit()
                    and not key_exists(value.text)
                ):
                    messages.append(
                        f"An issue with key '{value.text}' does not exist for field 'key'."
                    )
                if clause.field == "project" and value.text.upper() not in upper_projects:
                    messages.append(
                        f"The value '{value.text}' does not exist for the field 'project'."
                    )
        return messages

    def matches(self, issue: IssueView, user: str | None) -> bool:
        return self.root is None or _eval(self.root, issue, user)


def parse(jql: str) -> Query:
    return Query(jql, _Parser(jql).parse())


def _values_of(field: str, issue: IssueView) -> list[str]:
    if field == "key":
        return [issue.key.upper(), issue.id, *(k.upper() for k in issue.old_keys)]
    if field == "project":
        return [issue.project.upper()]
    if field == "status":
        return [issue.status.lower()]
    if field == "statusCategory":
        return [issue.status_category.lower()]
    if field == "assignee":
        return [issue.assignee.lower()] if issue.assignee else []
    if field == "fixVersion":
        return [v.lower() for v in issue.fix_versions]
    if field == "issuetype":
        return [issue.issue_type.lower()]
    return [issue.summary.lower()]


def _literal(field: str, value: Value, user: str | None) -> str:
    if value.kind == "function":
        return (user or "").lower()
    return value.text.upper() if field in ("key", "project") else value.text.lower()


def _wanted(clause: Clause, user: str | None) -> frozenset[str]:
    if user not in clause.wanted:
        clause.wanted[user] = frozenset(
            _literal(clause.field, v, user) for v in clause.values if v.kind != "empty"
        )
    return clause.wanted[user]


def _eval(node: Node, issue: IssueView, user: str | None) -> bool:
    kind, payload = node
    if kind == "and":
        return all(_eval(n, issue, user) for n in payload)
    if kind == "or":
        return any(_eval(n, issue, user) for n in payload)
    if kind == "not":
        return not _eval(payload, issue, user)
    clause: Clause = payload
    if clause.field == "updated":
        match = _RELATIVE.match(clause.values[0].text)
        assert match is not None
        sign = 1 if match.group(1) == "+" else -1
        bound = CLOCK() + sign * int(match.group(2)) * _UNIT[match.group(3)]
        updated = float(getattr(issue, "updated", 0.0))
        return {
            ">=": updated >= bound,
            ">": updated > bound,
            "<=": updated <= bound,
            "<": updated < bound,
        }[clause.op]
    have = _values_of(clause.field, issue)
    if clause.op in ("is", "is_not"):
        return (not have) == (clause.op == "is")
    wanted = _wanted(clause, user)
    if clause.op in ("~", "!~"):
        hit = any(w in h for w in wanted for h in have)
        return hit == (clause.op == "~")
    hit = any(h in wanted for h in have)
    if not have and any(v.kind == "empty" for v in clause.values):
        hit = True
    return hit if clause.op in ("=", "in") else not hit
