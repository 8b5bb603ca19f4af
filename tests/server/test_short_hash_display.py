"""The web UI shows an evaluation's commits (from the Validation API or the rule editor's "Try
it") with the same short hash as every other output: 12 digits, and "(new commit)" for the
commit a commit-msg hook checks (all zeros on the wire)."""

from __future__ import annotations

from typing import Any

from jirahooks.event import ZERO_HASH
from jirahooks.server.web.common import make_environment
from jirahooks.server.web.ruleform import group_facts

REAL = "c0ffeec0ffee1234567890abcdef1234567890ab"


def _validation(ref: str) -> dict[str, Any]:
    return {
        "rule": {"id": "commit-key-required", "title": "Issue key required", "error": "No key."},
        "ruleStatus": "BLOCK",
        "conditionFacts": [],
        "checkFacts": [
            {
                "message": "Commit does not contain any issue keys.",
                "code": "NOT_FOUND",
                "status": "ERROR",
                "source": "ISSUE_KEY",
                "group": "COMMIT",
                "qualifier": "DETAIL",
                "contexts": ["COMMIT"],
                "ref": ref,
            }
        ],
        "commitsUnderReview": {ref: {"hash": ref, "message": "no key"}},
    }


def _render(ref: str) -> str:
    env = make_environment()  # the UI's own environment (autoescape, translations)
    rv = _validation(ref)
    return env.get_template("facts.html").render(rv={**rv, "sections": group_facts(rv)})


def test_a_real_commit_shows_twelve_digits() -> None:
    html = _render(REAL)
    assert f'<div class="commit-ref">{REAL[:12]} <span>no key</span>' in html
    assert REAL[:13] not in html


def test_the_commit_msg_commit_shows_as_new_commit() -> None:
    html = _render(ZERO_HASH)
    assert '<div class="commit-ref">(new commit) <span>no key</span>' in html
    assert "000000000000" not in html
