"""Helpers for the "Jira changed after the check" tests: a Bitbucket PR-comment delivery and the
Jira webhook of a stored connection (URL and secret from the admin API), signed as Jira does."""

from __future__ import annotations

import json
from typing import Any

import httpx
from tests.fakes.fake_bitbucket import FakeBitbucket, FakePullRequest, FakeRepo, account
from tests.platforms.harness import SECRET, WS, Guardian
from tests.platforms.payloads import headers, pull_request_body


def comment_event(
    fake: FakeBitbucket,
    repo: FakeRepo,
    pr: FakePullRequest,
    text: str,
    *,
    secret: str = SECRET,
    request_id: str = "",
    comment_id: int = 1,
) -> tuple[dict[str, str], bytes]:
    """``pullrequest:comment_created`` as Bitbucket sends it: actor, pullrequest, repository and
    the ``comment`` (``content.raw`` is what the author typed)."""
    payload = pull_request_body(fake, repo, pr)
    payload["comment"] = {
        "type": "pullrequest_comment",
        "id": comment_id,
        "content": {
            "type": "rendered",
            "raw": text,
            "markup": "markdown",
            "html": f"<p>{text}</p>",
        },
        "user": account("Ada Tester"),
        "deleted": False,
        "pending": False,
        "inline": None,
        "created_on": "2026-01-01T12:00:00.000000+00:00",
        "links": {},
    }
    body = json.dumps(payload).encode()
    return headers("pullrequest:comment_created", body, secret=secret, request_id=request_id), body


def post_comment(g: Guardian, pr: FakePullRequest, text: str, **options: Any) -> httpx.Response:
    hdrs, body = comment_event(g.bitbucket, g.repo, pr, text, **options)
    return g.http.post(f"/webhooks/bitbucket/{WS}", content=body, headers=hdrs)


def jira_webhook(g: Guardian) -> dict[str, Any]:
    """``{"url", "secret", …}`` for the guardian's one Jira connection."""
    connections = g.api("GET", f"/workspaces/{WS}/connections")
    items = connections["items"] if isinstance(connections, dict) else connections
    connection_id = items[0]["id"]
    settings: dict[str, Any] = g.api(
        "GET", f"/workspaces/{WS}/connections/{connection_id}/jira-webhook"
    )
    return settings
