"""The Bitbucket Cloud adapter against the fake Bitbucket on a real port."""

from __future__ import annotations

import asyncio
import base64
import json
import time

import pytest
from tests.fakes.fake_bitbucket import (
    API_EMAIL,
    API_TOKEN,
    APP_PASSWORD,
    APP_PASSWORD_GONE,
    APP_USER,
    BOT,
    FakeBitbucket,
    FakeRepo,
)
from tests.platforms.conftest import WORKSPACE, Call, make_adapter
from tests.platforms.payloads import pull_request_event, push_event

from jirahooks.platforms.base import (
    Annotation,
    BuildState,
    BuildStatus,
    DeliveryKind,
    PlatformAuthError,
    PlatformRequestError,
    PlatformUnavailable,
    Report,
    ReviewVerdict,
    WebhookError,
)
from jirahooks.platforms.bitbucket_client import BITBUCKET_RETRY, AuthKind, BitbucketCredentials
from jirahooks.platforms.bitbucket_cloud import parse_delivery, status_url_problem


def test_pull_request_webhook_is_parsed_leniently(bitbucket: FakeBitbucket, repo: FakeRepo) -> None:
    pr = bitbucket.add_pr(repo, "ABC-1 Login form", source="feature/ABC-1-login")
    headers, body = pull_request_event(bitbucket, repo, pr, "pullrequest:updated", attempt=2)
    delivery = parse_delivery(headers, body)
    assert delivery.kind is DeliveryKind.PULL_REQUEST
    assert (delivery.workspace, delivery.repository) == (WORKSPACE, "api-service")
    assert repo.name == "API Service"  # the display name is not used as the slug
    assert delivery.pull_request_id == "1"
    assert delivery.head == pr.head[:12]  # abbreviated, as in real deliveries
    assert delivery.source_branch == "feature/ABC-1-login"
    assert delivery.destination_branch == "main"
    assert delivery.attempt == 2
    assert delivery.request_id == headers["X-Request-UUID"]


@pytest.mark.parametrize(
    ("key", "kind"),
    [
        ("pullrequest:created", DeliveryKind.PULL_REQUEST),
        ("pullrequest:fulfilled", DeliveryKind.PULL_REQUEST_CLOSED),
        ("pullrequest:rejected", DeliveryKind.PULL_REQUEST_CLOSED),
        ("pullrequest:comment_created", DeliveryKind.IGNORED),
        ("repo:fork", DeliveryKind.IGNORED),
    ],
)
def test_event_keys(bitbucket: FakeBitbucket, repo: FakeRepo, key: str, kind: DeliveryKind) -> None:
    pr = bitbucket.add_pr(repo, "ABC-1 x", source="feature/x")
    headers, body = pull_request_event(bitbucket, repo, pr, key)
    assert parse_delivery(headers, body).kind is kind


def test_nulls_and_missing_fields_are_tolerated() -> None:
    body = json.dumps(
        {
            "pullrequest": {
                "id": 7,
                "title": None,
                "description": None,
                "source": {"branch": None, "commit": None},
                "destination": None,
                "author": None,
            },
            "repository": {"full_name": "acme/web", "name": "Web Site", "workspace": None},
            "actor": None,
        }
    ).encode()
    delivery = parse_delivery({"X-Event-Key": "pullrequest:created"}, body)
    assert (delivery.workspace, delivery.repository, delivery.pull_request_id) == (
        "acme",
        "web",
        "7",
    )
    assert delivery.head == delivery.source_branch == delivery.title == ""


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b""])
def test_malformed_bodies_are_webhook_errors(body: bytes) -> None:
    with pytest.raises(WebhookError):
        parse_delivery({"X-Event-Key": "pullrequest:created"}, body)


def test_push_webhook_has_full_hashes_and_truncation(
    bitbucket: FakeBitbucket, repo: FakeRepo
) -> None:
    hashes = [bitbucket.add_commit(repo, f"ABC-2 step {i}").hash for i in range(7)]
    headers, body = push_event(bitbucket, repo, "feature/ABC-2", hashes)
    delivery = parse_delivery(headers, body)
    assert delivery.kind is DeliveryKind.PUSH
    (push,) = delivery.pushes
    assert push.branch == "feature/ABC-2" and push.head == hashes[-1] and push.truncated
    assert len(push.commits) == 5 and all(len(c.hash) == 40 for c in push.commits)


def test_dedupe_key_ignores_the_attempt_number(bitbucket: FakeBitbucket, repo: FakeRepo) -> None:
    pr = bitbucket.add_pr(repo, "ABC-1 x", source="feature/x")
    h1, body = pull_request_event(bitbucket, repo, pr, request_id="r-1", attempt=1)
    h2, _ = pull_request_event(bitbucket, repo, pr, request_id="r-1", attempt=2)
    assert parse_delivery(h1, body).dedupe_key == parse_delivery(h2, body).dedupe_key


def test_fetch_pull_request_resolves_the_full_head_and_pages_commits(
    bitbucket: FakeBitbucket, repo: FakeRepo, call: Call
) -> None:
    messages = [f"ABC-1 step {i}" for i in range(123)]
    pr = bitbucket.add_pr(
        repo,
        "ABC-1 Big change",
        source="feature/ABC-1",
        description="Fixes ABC-1",
        commits=messages,
    )
    details = call(lambda bb: bb.fetch_pull_request("api-service", str(pr.id)))
    assert details.head == pr.head and len(details.head) == 40
    assert [c.message for c in details.commits] == messages  # oldest first
    assert details.description == "Fixes ABC-1"
    assert details.author == "Ada Tester"
    assert details.commits[1].parents == (pr.commits[0],)
    pages = bitbucket.requests_to(f"/pullrequests/{pr.id}/commits")
    assert len(pages) == 3  # 123 commits at pagelen 50
    assert all(int(r.query.get("pagelen", ["50"])[0]) <= bitbucket.max_pagelen for r in pages)
    event = details.event("api-service")
    assert event.pull_request is not None and event.pull_request.title == "ABC-1 Big change"
    assert event.branch == "feature/ABC-1" and event.destination_branch == "main"


def test_head_outside_the_commit_list_is_resolved_through_the_commit_endpoint(
    bitbucket: FakeBitbucket, repo: FakeRepo, call: Call
) -> None:
    pr = bitbucket.add_pr(repo, "ABC-1", source="feature/ABC-1")
    # A source branch that is gone: Bitbucket's commit list is then empty.
    head = pr.head
    pr.commits.clear()
    pr.commits.append(head)
    repo_commits = dict(repo.commits)
    with bitbucket.lock:
        bitbucket.fail(200, path=f"/pullrequests/{pr.id}/commits", method="GET")
        bitbucket.faults[-1].body = {"pagelen": 50, "values": [], "page": 1}
    details = call(lambda bb: bb.fetch_pull_request("api-service", str(pr.id)))
    assert details.head == head and repo_commits
    assert bitbucket.count(f"/commit/{head[:12]}", method="GET") == 1


def test_empty_description_is_an_empty_string(
    bitbucket: FakeBitbucket, repo: FakeRepo, call: Call
) -> None:
    pr = bitbucket.add_pr(repo, "ABC-1", source="feature/ABC-1", description="")
    details = call(lambda bb: bb.fetch_pull_request("api-service", str(pr.id)))
    assert details.description == ""


def test_rate_limit_is_retried_honouring_retry_after(
    bitbucket: FakeBitbucket, repo: FakeRepo, call: Call
) -> None:
    pr = bitbucket.add_pr(repo, "ABC-1", source="feature/ABC-1")
    bitbucket.fail(429, retry_after="0.3", times=1, path="/pullrequests/1")
    started = time.monotonic()
    details = call(lambda bb: bb.fetch_pull_request("api-service", "1"))
    assert details.head == pr.head
    assert time.monotonic() - started >= 0.3
    assert bitbucket.count("/pullrequests/1", method="GET") >= 2


def test_server_errors_past_the_budget_raise_unavailable(
    bitbucket: FakeBitbucket, repo: FakeRepo, call: Call
) -> None:
    pr = bitbucket.add_pr(repo, "ABC-1", source="feature/ABC-1")
    bitbucket.fail(503, times=-1, path="/statuses/build")
    status = BuildStatus("k", BuildState.SUCCESSFUL, "n", "d")
    with pytest.raises(PlatformUnavailable):
        call(lambda bb: bb.publish_status("api-service", pr.head, status))
    assert bitbucket.count("/statuses/build", method="POST") == 4


def test_a_long_retry_after_is_not_slept_through(
    bitbucket: FakeBitbucket, repo: FakeRepo, call: Call
) -> None:
    bitbucket.add_pr(repo, "ABC-1", source="feature/ABC-1")
    bitbucket.fail(429, retry_after="3600", times=1)
    with pytest.raises(PlatformUnavailable):
        call(lambda bb: bb.fetch_pull_request("api-service", "1"))
    assert bitbucket.count() == 1


def test_bad_credentials_are_an_auth_error(bitbucket: FakeBitbucket, repo: FakeRepo) -> None:
    bitbucket.add_pr(repo, "ABC-1", source="feature/ABC-1")
    adapter = make_adapter(bitbucket, BitbucketCredentials(AuthKind.ACCESS_TOKEN, "wrong"))

    async def main() -> None:
        try:
            await adapter.fetch_pull_request("api-service", "1")
        finally:
            await adapter.aclose()

    with pytest.raises(PlatformAuthError) as info:
        asyncio.run(main())
    assert info.value.status == 401 and "Invalid or missing credentials" in info.value.message


def test_api_token_uses_basic_auth_with_the_account_email(
    bitbucket: FakeBitbucket, repo: FakeRepo
) -> None:
    bitbucket.add_pr(repo, "ABC-1", source="feature/ABC-1")
    credentials = BitbucketCredentials(AuthKind.API_TOKEN, API_TOKEN, username=API_EMAIL)
    assert API_TOKEN not in repr(credentials)
    adapter = make_adapter(bitbucket, credentials)

    async def main() -> str:
        try:
            return (await adapter.fetch_pull_request("api-service", "1")).title
        finally:
            await adapter.aclose()

    assert asyncio.run(main()) == "ABC-1"
    sent = bitbucket.requests[-1].headers["authorization"]
    assert sent == "Basic " + base64.b64encode(f"{API_EMAIL}:{API_TOKEN}".encode()).decode()


def _refused(bitbucket: FakeBitbucket, credentials: BitbucketCredentials) -> PlatformAuthError:
    adapter = make_adapter(bitbucket, credentials)

    async def main() -> None:
        try:
            await adapter.fetch_pull_request("api-service", "1")
        finally:
            await adapter.aclose()

    with pytest.raises(PlatformAuthError) as info:
        asyncio.run(main())
    return info.value


def test_app_password_is_refused_as_bitbucket_does_since_their_removal(
    bitbucket: FakeBitbucket, repo: FakeRepo
) -> None:
    """An app password row left by an older jirahooks still goes out as Basic, and Bitbucket
    refuses it: the error says why and what to use instead."""
    bitbucket.add_pr(repo, "ABC-1", source="feature/ABC-1")
    error = _refused(
        bitbucket, BitbucketCredentials(AuthKind.APP_PASSWORD, APP_PASSWORD, username=APP_USER)
    )
    assert error.status == 401 and APP_PASSWORD_GONE in error.message
    assert "no longer accepts" in (error.hint or "") and "api_token" in (error.hint or "")
    assert bitbucket.auth_refusals == ["app_password"]
    assert bitbucket.requests[-1].headers["authorization"].startswith("Basic ")


def test_api_token_with_the_bitbucket_username_is_refused_and_the_hint_says_email(
    bitbucket: FakeBitbucket, repo: FakeRepo
) -> None:
    bitbucket.add_pr(repo, "ABC-1", source="feature/ABC-1")
    error = _refused(
        bitbucket, BitbucketCredentials(AuthKind.API_TOKEN, API_TOKEN, username=APP_USER)
    )
    assert error.status == 401
    assert "not an e-mail address" in (error.hint or "")
    assert "Atlassian account e-mail" in (error.hint or "")
    assert bitbucket.auth_refusals == ["not_email"]


def test_status_same_key_overwrites(bitbucket: FakeBitbucket, repo: FakeRepo, call: Call) -> None:
    pr = bitbucket.add_pr(repo, "ABC-1", source="feature/ABC-1")
    url = "http://127.0.0.1:8080/evaluations/1"

    async def publish(bb: object) -> None:
        from jirahooks.platforms.bitbucket_cloud import BitbucketCloud

        assert isinstance(bb, BitbucketCloud)
        for state in (BuildState.INPROGRESS, BuildState.FAILED):
            await bb.publish_status(
                "api-service",
                pr.head,
                BuildStatus("jh", state, "Guardian", "d", url, "feature/ABC-1"),
            )

    call(publish)
    status = bitbucket.status(repo, pr.head, "jh")
    assert status is not None and status["state"] == "FAILED" and status["url"] == url
    assert status["refname"] == "feature/ABC-1"
    assert len([k for k in repo.statuses if k[0] == pr.head]) == 1


def test_a_status_url_without_a_dotted_host_is_dropped_not_fatal(
    bitbucket: FakeBitbucket, repo: FakeRepo, call: Call
) -> None:
    pr = bitbucket.add_pr(repo, "ABC-1", source="feature/ABC-1")
    assert status_url_problem("http://jenkins:8080/x")
    assert status_url_problem("https://guardian.example.com/e/1") is None
    status = BuildStatus("jh", BuildState.SUCCESSFUL, "n", "d", "http://jirahooks:8000/e/1")
    call(lambda bb: bb.publish_status("api-service", pr.head, status))
    stored = bitbucket.status(repo, pr.head, "jh")
    assert stored is not None and stored["url"] == ""


def test_the_fake_rejects_an_undotted_status_url(
    bitbucket: FakeBitbucket, repo: FakeRepo, call: Call
) -> None:
    pr = bitbucket.add_pr(repo, "ABC-1", source="feature/ABC-1")

    async def raw(bb: object) -> object:
        from jirahooks.platforms.bitbucket_cloud import BitbucketCloud

        assert isinstance(bb, BitbucketCloud)
        return await bb.client.request(
            "POST",
            f"/repositories/{WORKSPACE}/api-service/commit/{pr.head}/statuses/build",
            json={"key": "k", "state": "FAILED", "url": "http://jenkins:8080/job/1"},
        )

    with pytest.raises(PlatformRequestError) as info:
        call(raw)
    assert info.value.status == 400 and "Enter a valid URL" in info.value.message


def test_report_with_many_annotations_is_sent_100_per_call(
    bitbucket: FakeBitbucket, repo: FakeRepo, call: Call
) -> None:
    pr = bitbucket.add_pr(repo, "ABC-1", source="feature/ABC-1")
    notes = tuple(Annotation(f"a-{i}", f"problem {i}") for i in range(250))
    report = Report("jh-report", "Guardian", "3 rules blocked", "FAILED", annotations=notes)
    call(lambda bb: bb.publish_report("api-service", pr.head, report))
    posts = bitbucket.requests_to("/annotations", method="POST")
    assert [len(r.body) for r in posts] == [100, 100, 50]
    assert len(bitbucket.annotations(repo, pr.head, "jh-report")) == 250
    stored = bitbucket.report(repo, pr.head, "jh-report")
    assert stored is not None and stored["result"] == "FAILED"


def test_replacing_a_report_drops_old_annotations(
    bitbucket: FakeBitbucket, repo: FakeRepo, call: Call
) -> None:
    pr = bitbucket.add_pr(repo, "ABC-1", source="feature/ABC-1")
    first = Report("jh", "G", "d", "FAILED", annotations=(Annotation("x", "old"),))
    second = Report("jh", "G", "d", "PASSED")
    call(lambda bb: bb.publish_report("api-service", pr.head, first))
    call(lambda bb: bb.publish_report("api-service", pr.head, second, replace=True))
    assert bitbucket.annotations(repo, pr.head, "jh") == []
    stored = bitbucket.report(repo, pr.head, "jh")
    assert stored is not None and stored["result"] == "PASSED"


def test_the_fake_refuses_more_than_100_annotations_per_call(
    bitbucket: FakeBitbucket, repo: FakeRepo, call: Call
) -> None:
    pr = bitbucket.add_pr(repo, "ABC-1", source="feature/ABC-1")
    call(lambda bb: bb.publish_report("api-service", pr.head, Report("jh", "G", "d", "FAILED")))
    path = f"/repositories/{WORKSPACE}/api-service/commit/{pr.head}/reports/jh/annotations"
    body = [{"external_id": f"a{i}", "summary": "s"} for i in range(101)]
    with pytest.raises(PlatformRequestError) as info:
        call(lambda bb: bb.client.request("POST", path, json=body))
    assert info.value.status == 400


def test_review_verdicts_move_the_bot_state(
    bitbucket: FakeBitbucket, repo: FakeRepo, call: Call
) -> None:
    pr = bitbucket.add_pr(repo, "ABC-1", source="feature/ABC-1")
    call(lambda bb: bb.review("api-service", "1", ReviewVerdict.REQUEST_CHANGES))
    assert bitbucket.review_state(repo, pr) == "changes_requested"
    call(lambda bb: bb.review("api-service", "1", ReviewVerdict.APPROVE))
    assert bitbucket.review_state(repo, pr) == "approved"
    call(lambda bb: bb.review("api-service", "1", ReviewVerdict.APPROVE))  # idempotent
    assert bitbucket.review_state(repo, pr) == "approved"
    call(lambda bb: bb.review("api-service", "1", ReviewVerdict.WITHDRAW))
    assert bitbucket.review_state(repo, pr) is None
    assert BOT["uuid"] not in pr.participants


def test_list_open_pull_requests(bitbucket: FakeBitbucket, repo: FakeRepo, call: Call) -> None:
    for i in range(60):
        bitbucket.add_pr(repo, f"ABC-{i}", source=f"feature/ABC-{i}")
    repo.prs[3].state = "MERGED"
    found = call(lambda bb: bb.list_open_pull_requests("api-service"))
    assert len(found) == 59 and all(len(p.head) == 12 for p in found)
    assert all(r.query["state"] == ["OPEN"] for r in bitbucket.requests_to("/pullrequests"))


def test_list_open_pull_requests_of_a_source_branch(
    bitbucket: FakeBitbucket, repo: FakeRepo, call: Call
) -> None:
    bitbucket.add_pr(repo, "ABC-1", source="feature/ABC-1")
    wanted = bitbucket.add_pr(repo, "ABC-2", source='feature/"quoted"\\x')
    bitbucket.add_pr(repo, "ABC-3", source="feature/ABC-3")
    found = call(lambda bb: bb.list_open_pull_requests("api-service", source_branch=wanted.source))
    assert [p.id for p in found] == [str(wanted.id)]
    (listed,) = bitbucket.requests_to("/pullrequests", method="GET")
    assert listed.query["q"] == ['source.branch.name="feature/\\"quoted\\"\\\\x"']
    assert listed.query["state"] == ["OPEN"]


def test_the_fake_rejects_a_query_it_cannot_parse(
    bitbucket: FakeBitbucket, repo: FakeRepo, call: Call
) -> None:
    path = f"/repositories/{WORKSPACE}/api-service/pullrequests"
    with pytest.raises(PlatformRequestError) as info:
        call(lambda bb: bb.client.request("GET", path, params={"q": "source.branch.name ~ x"}))
    assert info.value.status == 400


def test_too_large_a_pagelen_is_rejected_by_the_fake(
    bitbucket: FakeBitbucket, repo: FakeRepo, call: Call
) -> None:
    bitbucket.add_pr(repo, "ABC-1", source="feature/ABC-1")
    path = f"/repositories/{WORKSPACE}/api-service/pullrequests"
    with pytest.raises(PlatformRequestError) as info:
        call(lambda bb: bb.client.request("GET", path, params={"pagelen": 500}))
    assert info.value.status == 400


def test_pagination_never_follows_a_link_off_the_api_origin(
    bitbucket: FakeBitbucket, repo: FakeRepo, call: Call
) -> None:
    bitbucket.add_pr(repo, "ABC-1", source="feature/ABC-1")
    fault = bitbucket.fail(200, path="/pullrequests/1/commits")
    fault.body = {"values": [], "next": "https://evil.example.com/steal"}
    with pytest.raises(PlatformRequestError, match="refusing to send credentials"):
        call(lambda bb: bb.fetch_pull_request("api-service", "1"))


def test_retry_policy_default_is_bounded() -> None:
    policy = BITBUCKET_RETRY
    assert policy.max_attempts <= 5 and policy.max_wait <= 60
