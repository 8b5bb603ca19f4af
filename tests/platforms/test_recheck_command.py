"""``/jirahooks recheck`` in a Bitbucket PR comment (``pullrequest:comment_created``): which
comments are the command, and what the parsed delivery carries (pure parsing, no server)."""

from __future__ import annotations

import json

import pytest
from tests.fakes.fake_bitbucket import FakeBitbucket
from tests.platforms.rechecks_support import comment_event

from jirahooks.platforms.base import DeliveryKind, WebhookError
from jirahooks.platforms.bitbucket_cloud import is_recheck_command, parse_delivery


@pytest.mark.parametrize(
    ("text", "command"),
    [
        ("/jirahooks recheck", True),
        ("  /JiraHooks   RECHECK please\nmoved ABC-1 to review", True),
        ("/jirahooks recheck.", True),
        ("/jirahooks rechecking", False),
        ("please /jirahooks recheck", False),
        ("> /jirahooks recheck", False),  # quoted from another comment
        ("first line\n/jirahooks recheck", False),  # only the first line counts
        ("/jirahooks", False),
        ("", False),
    ],
)
def test_which_comments_are_the_command(text: str, command: bool) -> None:
    assert is_recheck_command(text) is command


def test_the_command_is_a_recheck_of_that_pull_request() -> None:
    with FakeBitbucket() as fake:
        repo = fake.add_repo("acme", "api-service")
        pr = fake.add_pr(repo, "ABC-1 Login", source="feature/ABC-1")
        headers, body = comment_event(fake, repo, pr, "/jirahooks recheck", secret="s")
        delivery = parse_delivery(headers, body)
        assert delivery.kind is DeliveryKind.RECHECK
        assert (delivery.workspace, delivery.repository) == ("acme", "api-service")
        assert delivery.pull_request_id == str(pr.id)
        assert delivery.source_branch == "feature/ABC-1"
        assert delivery.request_id == headers["X-Request-UUID"]

        headers, body = comment_event(fake, repo, pr, "LGTM", secret="s")
        assert parse_delivery(headers, body).kind is DeliveryKind.IGNORED

        data = json.loads(body)
        data["comment"]["content"]["raw"] = "/jirahooks recheck"
        del data["pullrequest"]["id"]
        with pytest.raises(WebhookError, match=r"pullrequest\.id"):
            parse_delivery(headers, json.dumps(data).encode())
