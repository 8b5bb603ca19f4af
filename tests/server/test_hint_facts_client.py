"""The published hook client shows our hints (issue 19): a "the branch names …" hint is a detail
fact of the commit, so ``ClientView`` (the client's display rules) lists it under that commit,
and the rule's hint names the fix-it command for the trigger."""

from __future__ import annotations

from tests.server.conftest import Server
from tests.server.test_hook_client_contract import ask, push

BAD = {"hash": "a" * 40, "message": "fix the login page", "authorDisplayName": "Ada"}


def test_the_published_client_shows_the_hint_under_the_commit(server: Server) -> None:
    server.add_repository("api")
    server.add_rule("commit-key-required")
    secret = server.validation_token("ci", "api")["secret"]
    view = ask(server, push(BAD, branch="feature/ABC-12-login"), secret)
    assert view.exit_code == 1
    commits = view.sections["Commits"]
    at = commits.index("  " + BAD["hash"][:8])
    assert commits[at + 1] == "    ✗ Commit does not contain any issue keys."
    assert commits[at + 2] == (
        "    i The branch names ABC-12: start the message with it, e.g. "
        "'ABC-12 fix the login page'."
    )
    response = server.validate(push(BAD, branch="feature/ABC-12-login"), secret)
    hint = response.json()["ruleValidations"][0]["rule"]["hint"]
    assert f"correct the last commit ({'a' * 12}) with git commit --amend" in hint
