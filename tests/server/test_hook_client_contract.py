"""What the commercial product's published hook client (``jhfb_hooks``) shows a developer when it
talks to our server. docs/validation-api.md ("What the published Python hook client displays")
states its display rules; ``ClientView`` below restates them in our words, so a change of the
document's shape that would hide a failure from that client fails here:

* only facts whose first ``contexts`` entry is ``COMMIT``, ``COMMITS``, ``BRANCH_SOURCE`` or
  ``BRANCH_DESTINATION`` are placed in a section (Commits, Branch);
* a rule heads a section ("Rule: <title>") only when it has, there, a summary fact
  (``source: AGGREGATE`` + ``group: TARGET``) or a detail fact (any ``group`` but ``MAIN`` and
  ``TARGET``); only detail facts are listed, grouped under the commit named by ``ref`` (hex, at
  least 7 characters; the all-zero hash is "(current commit)");
* every text of every ``errorValidations`` entry is printed under "Validation Errors"; a
  non-empty list without any text prints "Validation failed without additional details.";
* the exit code is 1 for a non-200 answer (whose body is printed as markup) and for ``result``
  exactly ``"BLOCK"``; a 200 body that is JSON but not an object crashes the client.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import pytest
from tests.server.conftest import Server

SHOWN = {"COMMIT": "Commits", "COMMITS": "Commits", "BRANCH_SOURCE": "Branch"}
SHOWN["BRANCH_DESTINATION"] = "Branch"
HEX = re.compile(r"[0-9a-fA-F]{7,}")
NO_DETAILS = "Validation failed without additional details."
ZERO = "0" * 40

BAD = {"hash": "a" * 40, "message": "fix the login page", "authorDisplayName": "Ada"}
GOOD = {"hash": "b" * 40, "message": "ABC-1 fix the login page", "authorDisplayName": "Ada"}


@dataclass
class ClientView:
    """The lines the published client prints for one answer, and its exit code."""

    exit_code: int
    sections: dict[str, list[str]] = field(default_factory=dict)
    validation_errors: list[str] | None = None  # None: the heading is not printed
    http_error: str = ""

    @property
    def text(self) -> str:
        lines = [f"{name}: {line}" for name, body in self.sections.items() for line in body]
        return "\n".join([*lines, *(self.validation_errors or [])])


def client_view(status: int, body: Any) -> ClientView:
    if status != 200:
        return ClientView(1, http_error=str(body))
    assert isinstance(body, dict), "a 200 body that is not an object crashes the client"
    view = ClientView(1 if body.get("result") == "BLOCK" else 0)
    for rv in body.get("ruleValidations") or []:
        title = str((rv.get("rule") or {}).get("title") or "?")
        per_section: dict[str, list[dict[str, Any]]] = {}
        headed: set[str] = set()
        for fact in rv.get("checkFacts") or []:
            contexts = fact.get("contexts") or []
            section = SHOWN.get(str(contexts[0]).upper()) if contexts else None
            if section is None:
                continue
            group = str(fact.get("group") or "").upper()
            if str(fact.get("source")).upper() == "AGGREGATE" and group == "TARGET":
                headed.add(section)
            elif group not in ("MAIN", "TARGET"):
                headed.add(section)
                per_section.setdefault(section, []).append(fact)
        for section in sorted(headed):
            lines = view.sections.setdefault(section, [])
            lines.append(f"Rule: {title}")
            by_ref: dict[str, list[dict[str, Any]]] = {}
            for fact in per_section.get(section, []):
                by_ref.setdefault(str(fact.get("ref") or ""), []).append(fact)
            for ref, facts in by_ref.items():
                indent = "  "
                if ref and HEX.fullmatch(ref):
                    lines.append(f"  {'(current commit)' if set(ref) == {'0'} else ref[:8]}")
                    indent = "    "
                mark = {"ERROR": "✗", "WARNING": "!", "SUCCESS": "✓", "INFO": "i"}
                for fact in facts:
                    lines.append(f"{indent}{mark.get(fact['status'], ' ')} {fact['message']}")
    errors = body.get("errorValidations")
    if isinstance(errors, list) and errors:
        texts = [
            str(message.get("text"))
            for entry in errors
            if isinstance(entry, dict)
            for kind in ("errorMessages", "warningMessages", "successMessages", "detailMessages")
            for message in entry.get(kind) or []
            if isinstance(message, dict) and message.get("text")
        ]
        view.validation_errors = texts or [NO_DETAILS]
    return view


def ask(server: Server, payload: Any, secret: str, **kwargs: Any) -> ClientView:
    response = server.validate(payload, secret, **kwargs)
    body = response.json() if response.content else None
    return client_view(response.status_code, body)


@pytest.fixture
def ready(server: Server) -> tuple[Server, str]:
    server.add_repository("api")
    server.add_rule("commit-key-required")
    return server, server.validation_token("ci", "api")["secret"]


def push(*commits: dict[str, str], branch: str = "feature/x") -> dict[str, Any]:
    return {"triggerType": "PUSH", "branchName": branch, "commits": list(commits)}


def test_the_client_shows_which_rule_and_which_commit(ready: tuple[Server, str]) -> None:
    server, secret = ready
    view = ask(server, push(GOOD, BAD), secret)
    assert view.exit_code == 1
    commits = view.sections["Commits"]
    assert commits[0].startswith("Rule: ")
    # the failing commit is named, and the reason is listed under it
    at = commits.index("  " + BAD["hash"][:8])
    assert commits[at + 1] == "    ✗ Commit does not contain any issue keys."
    # the commit that passed is not listed as failing
    assert not any(line.startswith("    ✗") and "ABC-1" in line for line in commits)


def test_the_current_commit_of_commit_msg(ready: tuple[Server, str]) -> None:
    server, secret = ready
    payload = {"triggerType": "COMMIT", "branchName": "main", "commits": [dict(BAD, hash=ZERO)]}
    view = ask(server, payload, secret)
    assert view.exit_code == 1
    commits = view.sections["Commits"]
    assert "  (current commit)" in commits
    assert "    ✗ Commit does not contain any issue keys." in commits


def test_the_rule_error_is_a_validation_error(ready: tuple[Server, str]) -> None:
    server, secret = ready
    view = ask(server, push(BAD), secret)
    assert view.validation_errors and NO_DETAILS not in view.validation_errors


@pytest.mark.parametrize(
    "payload",
    [
        {},  # a branch deletion: the client sends an empty payload
        {"triggerType": "PUSH", "branchName": "", "commits": []},
        push(branch="feature/ABC-1-new"),  # a new branch without new commits
    ],
    ids=["deletion", "nothing", "new-branch"],
)
def test_nothing_to_say_prints_no_validation_errors(
    ready: tuple[Server, str], payload: dict[str, Any]
) -> None:
    server, secret = ready
    view = ask(server, payload, secret)
    assert view.exit_code == 0
    assert view.validation_errors is None, view.validation_errors


def test_a_pass_prints_no_validation_errors(ready: tuple[Server, str]) -> None:
    server, secret = ready
    view = ask(server, push(GOOD), secret)
    assert view.exit_code == 0
    # the rule's success text belongs to the rule, not under "Validation Errors"
    assert view.validation_errors is None, view.validation_errors


def test_a_mistyped_repository_is_not_found(ready: tuple[Server, str]) -> None:
    """A correctly signed request for an unknown ``repoSlug`` gets 404 REPOSITORY_NOT_FOUND,
    also when the signing token is scoped to a repository (it used to be 401)."""
    server, secret = ready
    response = server.validate(push(BAD), secret, repo="apj")
    assert response.status_code == 404, response.text
    assert response.json()["errorCode"] == "REPOSITORY_NOT_FOUND"
    view = client_view(response.status_code, response.json())
    assert view.exit_code == 1 and "[" not in view.http_error


def test_an_unauthenticated_caller_cannot_tell_repositories_apart(
    ready: tuple[Server, str],
) -> None:
    """Without a valid signature, a registered repository and an unknown one answer alike."""
    server, _secret = ready
    server.add_repository("web")  # registered, no token of its own
    answers = {
        slug: server.validate(push(BAD), "not-a-token", repo=slug).json()["errorCode"]
        for slug in ("api", "web", "ghost")
    }
    assert answers == dict.fromkeys(answers, "HMAC_SIGNATURE_INVALID")


def test_a_token_of_another_repository(ready: tuple[Server, str]) -> None:
    server, secret = ready
    server.add_repository("web")
    response = server.validate(push(BAD), secret, repo="web")
    assert response.status_code == 401
    assert response.json()["errorCode"] == "HMAC_SECRET_NOT_CONFIGURED"
    server.validation_token("web-ci", "web")
    response = server.validate(push(BAD), secret, repo="web")
    assert response.json()["errorCode"] == "HMAC_SIGNATURE_INVALID"


def test_error_bodies_print_cleanly(ready: tuple[Server, str]) -> None:
    server, secret = ready
    for response in (
        server.validate(push(BAD), None),
        server.validate(push(BAD), "wrong"),
        server.validate({"triggerType": "PULL_REQUEST"}, secret),
        server.validate(None, secret, raw=b"{not json"),
    ):
        assert response.status_code != 200
        body = response.json()
        assert set(body) == {"error", "errorCode"}
        view = client_view(response.status_code, body)
        assert view.exit_code == 1
        assert "[" not in view.http_error  # rendered as markup by the client
