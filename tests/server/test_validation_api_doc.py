"""docs/validation-api.md is the project's own description of the wire protocol: its tables of
error codes, fact fields and issue fields must be what the implementation does."""

from __future__ import annotations

import re
from pathlib import Path

from jirahooks.engine.facts import (
    DEVELOPER_ISSUE_FIELDS,
    Code,
    Context,
    Fact,
    FactStatus,
    Group,
    Source,
)
from jirahooks.engine.resolver import IssueData

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "validation-api.md").read_text(encoding="utf-8")
SERVER = ROOT / "src" / "jirahooks" / "server"


def _section(title: str) -> str:
    start = DOC.index(f"\n{title}\n")
    end = DOC.find("\n#", start + len(title) + 2)
    return DOC[start : end if end != -1 else None]


def _row(table_text: str, field: str) -> list[str]:
    for line in table_text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells and cells[0] == f"`{field}`":
            return re.findall(r"`([A-Za-z_]+)`", cells[1])
    raise AssertionError(f"no row for {field}")


def _fields(table_text: str) -> set[str]:
    return {
        m.group(1) for m in re.finditer(r"^\| `([A-Za-z]+)` \|", table_text, flags=re.MULTILINE)
    }


def test_every_documented_error_code_is_the_implementation_s() -> None:
    documented = set(re.findall(r"^\| (\d{3}) \| `([A-Z_]+)` \|", DOC, flags=re.MULTILINE))
    source = "".join(
        (SERVER / name).read_text(encoding="utf-8")
        for name in ("validation.py", "validation_request.py")
    )
    raised = set(re.findall(r'Rejection\(\s*(\d{3}),\s*"([A-Z_]+)"', source))
    raised.add(("500", "INTERNAL_ERROR"))  # the app-wide handler, server/errors.py
    assert '"INTERNAL_ERROR"' in (SERVER / "errors.py").read_text(encoding="utf-8")
    assert documented == raised


def test_the_fact_vocabulary() -> None:
    facts = _section("### Facts")
    assert _row(facts, "code") == [c.value for c in Code]
    assert _row(facts, "status") == [s.value for s in FactStatus]
    assert _row(facts, "source") == [s.value for s in Source]
    assert _row(facts, "contexts") == [c.value for c in Context]
    # every (group, qualifier) the facts can carry is documented
    groups, qualifiers = set(), set()
    for group in Group:
        for context in Context:
            for source in Source:
                fact = Fact(Code.CHECKED, FactStatus.INFO, source, group, (context,), "x")
                g, q = fact.wire_group()
                groups.add(g)
                qualifiers.add(q)
    assert set(_row(facts, "group")) == groups
    assert set(_row(facts, "qualifier")) == qualifiers
    wire = Fact(
        Code.NO_KEYS, FactStatus.ERROR, Source.ISSUE_KEY, Group.MAIN, (Context.COMMIT,), "x"
    )
    assert set(wire.to_dict()) <= _fields(facts) | {"message"}


def test_the_issue_fields() -> None:
    issues = _section("### Issues under review")
    developer, shared = issues.split("share_issue_details", 1)
    assert _fields(developer) == set(DEVELOPER_ISSUE_FIELDS)
    assert _fields(shared) == set(IssueData("ABC-1").to_dict()) - DEVELOPER_ISSUE_FIELDS


def test_the_docs_link_the_protocol_inside_the_repository() -> None:
    for path in (ROOT / "docs").glob("*.md"):
        text = path.read_text(encoding="utf-8")
        assert "shared/docs/validation-api.md" not in text, path
