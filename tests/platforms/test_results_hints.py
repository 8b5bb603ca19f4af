"""PR annotations carry the "did you mean …?" hints of the commit they are about and the
command that fixes a pull request (engine/suggest.py through platforms/results.py)."""

from __future__ import annotations

import asyncio

from jirahooks.engine import InMemoryResolver, IssueData, evaluate
from jirahooks.event import Commit, Event, PullRequest, Trigger
from jirahooks.platforms.results import failed_checks
from jirahooks.rules import templates
from jirahooks.rules.config import parse_rule


def test_annotation_details_name_the_suggestion_and_the_rebase() -> None:
    rule = parse_rule(
        {
            "id": "keys",
            "title": "Keys exist",
            "targets": ["COMMIT"],
            "checks": {"key_present": True, "keys_valid": "ALL"},
        }
    )
    commits = (
        Commit("a" * 40, "KAFKA-7 base", parents=("9" * 40,)),
        Commit("b" * 40, "KAKFA-123 typo", parents=("a" * 40,)),
        Commit("c" * 40, "KAFKA-7 tip", parents=("b" * 40,)),
    )
    pr = PullRequest(
        "1", "KAFKA-7 work", source_branch="feature/KAFKA-7", destination_branch="main"
    )
    event = Event(Trigger.PULL_REQUEST, "feature/KAFKA-7", commits, pull_request=pr)
    resolver = InMemoryResolver([IssueData("KAFKA-7")])
    evaluation = asyncio.run(evaluate(event, [rule], resolver))
    (annotation,) = [a for a in failed_checks(evaluation) if "KAKFA-123 was not" in a.summary]
    assert "[bbbbbbbbbbbb]" in annotation.summary
    assert "Did you mean KAFKA-123? Project KAFKA exists." in annotation.details
    assert f"git rebase -i {'a' * 12}" in annotation.details
    assert "--force-with-lease" in annotation.details


def test_a_failing_title_says_edit_the_title() -> None:
    rule = parse_rule(dict(templates.get("pr-title-convention").rule))  # type: ignore[union-attr]
    pr = PullRequest("1", "no key here", source_branch="feature/ABC-1", destination_branch="main")
    event = Event(Trigger.PULL_REQUEST, "feature/ABC-1", (), pull_request=pr)
    evaluation = asyncio.run(evaluate(event, [rule]))
    annotations = failed_checks(evaluation)
    assert annotations and all("Edit the pull request's title" in a.details for a in annotations)
