"""The Bitbucket Data Center adapter against the fake Data Center on a real port."""

from __future__ import annotations

import asyncio
import socket

import pytest
from tests.fakes.fake_bitbucket_dc import (
    BOT_SLUG,
    HTTP_ACCESS_TOKEN,
    PAT_USER,
    PERSONAL_TOKEN,
    FakeBitbucketDC,
    FakeRepo,
)
from tests.platforms.bitbucket_dc_support import (
    PROJECT,
    SLUG,
    DCCall,
    dc,
    dc_call,
    dc_repo,
    make_adapter,
)

from jirahooks.platforms.base import (
    Annotation,
    BuildState,
    BuildStatus,
    PlatformAuthError,
    PlatformRequestError,
    PlatformUnavailable,
    Report,
    ReviewVerdict,
)
from jirahooks.platforms.bitbucket_dc import BitbucketDataCenter, parse_delivery
from jirahooks.platforms.bitbucket_dc_client import DataCenterAuthKind, DataCenterCredentials

__all__ = ["dc", "dc_call", "dc_repo"]  # fixtures


# -- pull requests and commits ----------------------------------------------------------------


def test_a_500_commit_pull_request_is_read_in_full(
    dc: FakeBitbucketDC, dc_repo: FakeRepo, dc_call: DCCall
) -> None:
    messages = [f"ABC-{i} change {i}" for i in range(1, 501)]
    pr = dc.add_pr(dc_repo, "ABC-1 Big", source="feature/big", commits=messages)
    details = dc_call(lambda a: a.fetch_pull_request(SLUG, str(pr.id)))
    assert [c.message for c in details.commits] == messages  # oldest first, none lost
    assert details.head == pr.head
    assert details.commits[1].parents == (pr.commits[0],)
    pages = dc.requests_to(f"/pull-requests/{pr.id}/commits", method="GET")
    assert len(pages) == 5  # 100 per page (the fake's cap, as an instance caps ``limit``)
    assert [r.query["start"][0] for r in pages] == ["0", "100", "200", "300", "400"]
    assert all(r.response["isLastPage"] is (i == 4) for i, r in enumerate(pages))


def test_paging_follows_next_page_start_when_the_server_caps_limit(
    dc_repo: FakeRepo, dc: FakeBitbucketDC, dc_call: DCCall
) -> None:
    dc.max_limit = 7
    pr = dc.add_pr(dc_repo, "ABC-1 x", source="f", commits=[f"ABC-1 c{i}" for i in range(30)])
    details = dc_call(lambda a: a.fetch_pull_request(SLUG, str(pr.id)))
    assert len(details.commits) == 30
    starts = [r.query["start"][0] for r in dc.requests_to("/commits", method="GET")]
    assert starts == ["0", "7", "14", "21", "28"]


def test_the_webhook_payload_stands_in_for_the_pr(
    dc: FakeBitbucketDC, dc_repo: FakeRepo, dc_call: DCCall
) -> None:
    pr = dc.add_pr(dc_repo, "ABC-1 Login", source="feature/ABC-1", description="d")
    known = parse_delivery(*dc.pr_event(dc_repo, pr, "pr:opened"))
    details = dc_call(lambda a: a.fetch_pull_request(SLUG, str(pr.id), known=known))
    assert (details.title, details.description, details.head) == ("ABC-1 Login", "d", pr.head)
    paths = [r.path for r in dc.requests]
    assert paths and all(p.endswith(f"/pull-requests/{pr.id}/commits") for p in paths)


def test_a_moved_head_fetches_the_pr(
    dc: FakeBitbucketDC, dc_repo: FakeRepo, dc_call: DCCall
) -> None:
    pr = dc.add_pr(dc_repo, "ABC-1 Login", source="feature/ABC-1")
    known = parse_delivery(*dc.pr_event(dc_repo, pr, "pr:opened"))
    pr.title = "ABC-1 Login, renamed"
    dc.push(dc_repo, pr, "ABC-1 more")
    details = dc_call(lambda a: a.fetch_pull_request(SLUG, str(pr.id), known=known))
    assert details.head == pr.head and details.title == "ABC-1 Login, renamed"
    assert len(details.commits) == 2
    assert any(r.path.endswith(f"/pull-requests/{pr.id}") for r in dc.requests)


def test_open_pull_requests_by_source_branch(
    dc: FakeBitbucketDC, dc_repo: FakeRepo, dc_call: DCCall
) -> None:
    one = dc.add_pr(dc_repo, "ABC-1 a", source="feature/ABC-1")
    dc.add_pr(dc_repo, "ABC-2 b", source="feature/ABC-2")
    closed = dc.add_pr(dc_repo, "ABC-1 c", source="feature/ABC-1")
    closed.state = "MERGED"
    found = dc_call(lambda a: a.list_open_pull_requests(SLUG, source_branch="feature/ABC-1"))
    assert [(p.id, p.head, p.source_branch) for p in found] == [
        (str(one.id), one.head, "feature/ABC-1")
    ]
    sent = dc.requests_to("/pull-requests", method="GET")[-1].query
    assert sent["at"] == ["refs/heads/feature/ABC-1"] and sent["direction"] == ["OUTGOING"]
    everything = dc_call(lambda a: a.list_open_pull_requests(SLUG))
    assert sorted(p.source_branch for p in everything) == ["feature/ABC-1", "feature/ABC-2"]


def test_resolve_commit_and_other_projects(
    dc: FakeBitbucketDC, dc_repo: FakeRepo, dc_call: DCCall
) -> None:
    pr = dc.add_pr(dc_repo, "ABC-1 a", source="f")
    assert dc_call(lambda a: a.resolve_commit(SLUG, pr.head[:12])) == pr.head
    other = dc.add_repo("OPS", "deploy")
    pr2 = dc.add_pr(other, "ABC-3 ops", source="g")
    details = dc_call(lambda a: a.fetch_pull_request("OPS/deploy", str(pr2.id)))
    assert details.head == pr2.head
    with pytest.raises(PlatformRequestError) as caught:
        dc_call(lambda a: a.resolve_commit(SLUG, "refs/heads/main"))
    assert "not a commit hash" in caught.value.message


def test_a_missing_pr_is_a_request_error_with_the_dc_message(
    dc_repo: FakeRepo, dc_call: DCCall
) -> None:
    with pytest.raises(PlatformRequestError) as caught:
        dc_call(lambda a: a.fetch_pull_request(SLUG, "99"))
    assert caught.value.status == 404
    assert "Pull request 99 does not exist" in caught.value.message


# -- build status -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "sent"),
    [
        (BuildState.INPROGRESS, "INPROGRESS"),
        (BuildState.SUCCESSFUL, "SUCCESSFUL"),
        (BuildState.FAILED, "FAILED"),
        (BuildState.STOPPED, "CANCELLED"),
    ],
)
def test_build_status_states(
    dc: FakeBitbucketDC, dc_repo: FakeRepo, dc_call: DCCall, state: BuildState, sent: str
) -> None:
    pr = dc.add_pr(dc_repo, "ABC-1 a", source="feature/ABC-1")
    status = BuildStatus(
        "jh", state, "Process Guardian", "Blocked by: x", "https://jh.example.com/e/1", pr.source
    )
    dc_call(lambda a: a.publish_status(SLUG, pr.head, status))
    stored = dc.build(dc_repo, pr.head, "jh")
    assert stored is not None
    assert (stored["state"], stored["url"], stored["ref"]) == (
        sent,
        "https://jh.example.com/e/1",
        "refs/heads/feature/ABC-1",
    )
    assert (stored["name"], stored["description"]) == ("Process Guardian", "Blocked by: x")


def test_the_same_key_replaces_the_status_and_a_link_is_always_sent(
    dc: FakeBitbucketDC, dc_repo: FakeRepo, dc_call: DCCall
) -> None:
    pr = dc.add_pr(dc_repo, "ABC-1 a", source="f")
    dc_call(
        lambda a: a.publish_status(
            SLUG, pr.head, BuildStatus("jh", BuildState.INPROGRESS, "G", "…")
        )
    )
    stored = dc.build(dc_repo, pr.head, "jh")
    assert stored is not None and stored["state"] == "INPROGRESS"
    # no link of its own: the commit's page on Bitbucket (Data Center requires a url)
    assert stored["url"] == f"{dc.url}/projects/{PROJECT}/repos/{SLUG}/commits/{pr.head}"
    dc_call(
        lambda a: a.publish_status(
            SLUG, pr.head, BuildStatus("jh", BuildState.SUCCESSFUL, "G", "ok")
        ),
        status_link="https://jh.example.com/",
    )
    stored = dc.build(dc_repo, pr.head, "jh")
    assert stored is not None and (stored["state"], stored["url"]) == (
        "SUCCESSFUL",
        "https://jh.example.com/",
    )
    assert len([k for k in dc_repo.builds if k[0] == pr.head]) == 1


# -- Code Insights ----------------------------------------------------------------------------


def _report(n: int, prefix: str = "jh") -> Report:
    return Report(
        "jirahooks-process-guardian",
        "Process Guardian",
        "1 rule blocked this change",
        "FAILED",
        link="https://jh.example.com/e/1",
        data=(
            {"title": "Result", "type": "TEXT", "value": "BLOCK"},
            {"title": "Rules evaluated", "type": "NUMBER", "value": 3},
        ),
        annotations=tuple(
            Annotation(f"{prefix}-{i}", f"problem {i}", "Fix: link an issue", severity="CRITICAL")
            for i in range(n)
        ),
    )


def test_report_and_annotations_are_replaced_not_duplicated(
    dc: FakeBitbucketDC, dc_repo: FakeRepo, dc_call: DCCall
) -> None:
    pr = dc.add_pr(dc_repo, "ABC-1 a", source="f")
    key = "jirahooks-process-guardian"
    dc_call(lambda a: a.publish_report(SLUG, pr.head, _report(3, "old")))
    assert len(dc.annotations(dc_repo, pr.head, key)) == 3
    dc_call(lambda a: a.publish_report(SLUG, pr.head, _report(2, "new")))
    notes = dc.annotations(dc_repo, pr.head, key)
    assert sorted(n["externalId"] for n in notes) == ["new-0", "new-1"]
    assert notes[0]["severity"] == "HIGH"  # Data Center has no CRITICAL
    assert notes[0]["message"] == "problem 0\nFix: link an issue"
    stored = dc.report(dc_repo, pr.head, key)
    assert stored is not None and stored["result"] == "FAIL" and stored["reporter"] == "jirahooks"
    # without ``replace`` the report is updated in place and the annotations still not doubled
    dc_call(lambda a: a.publish_report(SLUG, pr.head, _report(2, "new"), replace=False))
    assert len(dc.annotations(dc_repo, pr.head, key)) == 2


def test_a_passing_report_and_a_pending_one(
    dc: FakeBitbucketDC, dc_repo: FakeRepo, dc_call: DCCall
) -> None:
    pr = dc.add_pr(dc_repo, "ABC-1 a", source="f")
    ok = Report("r", "Process Guardian", "all good", "PASSED")
    dc_call(lambda a: a.publish_report(SLUG, pr.head, ok))
    stored = dc.report(dc_repo, pr.head, "r")
    assert stored is not None and stored["result"] == "PASS"
    assert dc.annotations(dc_repo, pr.head, "r") == []
    assert not dc.requests_to("/annotations", method="POST")  # nothing to post
    pending = Report("r", "Process Guardian", "checking", "PENDING")
    dc_call(lambda a: a.publish_report(SLUG, pr.head, pending))
    stored = dc.report(dc_repo, pr.head, "r")
    assert stored is not None and "result" not in stored


def test_at_most_1000_annotations_are_sent(
    dc: FakeBitbucketDC, dc_repo: FakeRepo, dc_call: DCCall
) -> None:
    pr = dc.add_pr(dc_repo, "ABC-1 a", source="f")
    dc_call(lambda a: a.publish_report(SLUG, pr.head, _report(1200)))
    assert len(dc.annotations(dc_repo, pr.head, "jirahooks-process-guardian")) == 1000


def test_an_instance_with_a_lower_limit_refuses_the_whole_request(
    dc: FakeBitbucketDC, dc_repo: FakeRepo, dc_call: DCCall
) -> None:
    dc.max_annotations = 10
    pr = dc.add_pr(dc_repo, "ABC-1 a", source="f")
    with pytest.raises(PlatformRequestError) as caught:
        dc_call(lambda a: a.publish_report(SLUG, pr.head, _report(11)))
    assert caught.value.status == 400 and "more than 10 annotations" in caught.value.message
    assert dc.annotations(dc_repo, pr.head, "jirahooks-process-guardian") == []
    # configured to the instance's limit, the same report goes through
    dc_call(lambda a: a.publish_report(SLUG, pr.head, _report(11)), max_annotations=10)
    assert len(dc.annotations(dc_repo, pr.head, "jirahooks-process-guardian")) == 10


# -- reviewer verdict -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("verdict", "status"),
    [
        (ReviewVerdict.APPROVE, "APPROVED"),
        (ReviewVerdict.REQUEST_CHANGES, "NEEDS_WORK"),
        (ReviewVerdict.WITHDRAW, "UNAPPROVED"),
    ],
)
def test_participant_status_verdicts(
    dc: FakeBitbucketDC,
    dc_repo: FakeRepo,
    dc_call: DCCall,
    verdict: ReviewVerdict,
    status: str,
) -> None:
    pr = dc.add_pr(dc_repo, "ABC-1 a", source="f")
    dc_call(lambda a: a.review(SLUG, str(pr.id), verdict), user_slug=BOT_SLUG)
    assert pr.participants == {BOT_SLUG: status}
    puts = dc.requests_to("/participants/", method="PUT")
    assert len(puts) == 1 and puts[0].body == {"status": status}


def test_a_verdict_replaces_the_previous_one(
    dc: FakeBitbucketDC, dc_repo: FakeRepo, dc_call: DCCall
) -> None:
    pr = dc.add_pr(dc_repo, "ABC-1 a", source="f")

    async def both(a: BitbucketDataCenter) -> None:
        await a.review(SLUG, str(pr.id), ReviewVerdict.REQUEST_CHANGES)
        await a.review(
            SLUG, str(pr.id), ReviewVerdict.APPROVE, previous=ReviewVerdict.REQUEST_CHANGES
        )

    dc_call(both)  # no user_slug: learnt from X-AUSERNAME
    assert pr.participants == {BOT_SLUG: "APPROVED"}
    assert len(dc.requests_to("/participants/", method="PUT")) == 2


def test_personal_access_token_reviews_as_its_user(
    dc: FakeBitbucketDC, dc_repo: FakeRepo, dc_call: DCCall
) -> None:
    pr = dc.add_pr(dc_repo, "ABC-1 a", source="f")
    dc_call(
        lambda a: a.review(SLUG, str(pr.id), ReviewVerdict.REQUEST_CHANGES),
        token=PERSONAL_TOKEN,
        kind=DataCenterAuthKind.PERSONAL_ACCESS_TOKEN,
    )
    assert pr.participants == {PAT_USER: "NEEDS_WORK"}


def test_the_author_cannot_veto_and_is_told_why(
    dc: FakeBitbucketDC, dc_repo: FakeRepo, dc_call: DCCall
) -> None:
    pr = dc.add_pr(dc_repo, "ABC-1 a", source="f", author=BOT_SLUG)
    with pytest.raises(PlatformRequestError) as caught:
        dc_call(lambda a: a.review(SLUG, str(pr.id), ReviewVerdict.REQUEST_CHANGES))
    assert caught.value.status == 400
    assert "author" in caught.value.hint


def test_a_closed_pr_needs_no_verdict(
    dc: FakeBitbucketDC, dc_repo: FakeRepo, dc_call: DCCall
) -> None:
    pr = dc.add_pr(dc_repo, "ABC-1 a", source="f")
    pr.state = "MERGED"
    dc_call(lambda a: a.review(SLUG, str(pr.id), ReviewVerdict.APPROVE))  # 409: fine
    assert pr.participants == {}
    assert dc.requests_to("/participants/", method="PUT")[0].status == 409


# -- failures ---------------------------------------------------------------------------------


def test_rate_limit_beyond_the_budget_carries_retry_after(
    dc: FakeBitbucketDC, dc_repo: FakeRepo, dc_call: DCCall
) -> None:
    pr = dc.add_pr(dc_repo, "ABC-1 a", source="f")
    dc.fail(429, retry_after="120", times=-1, headers={"X-RateLimit-Limit": "60"})
    with pytest.raises(PlatformUnavailable) as caught:
        dc_call(lambda a: a.fetch_pull_request(SLUG, str(pr.id)))
    assert caught.value.retry_after == 120.0
    assert caught.value.status == 429
    assert "rate limited" in caught.value.message
    assert len(dc.requests) == 1  # a 2-minute wait is not slept through


def test_a_short_rate_limit_is_waited_out(
    dc: FakeBitbucketDC, dc_repo: FakeRepo, dc_call: DCCall
) -> None:
    pr = dc.add_pr(dc_repo, "ABC-1 a", source="f")
    dc.fail(429, retry_after="0", times=1)
    details = dc_call(lambda a: a.fetch_pull_request(SLUG, str(pr.id)))
    assert details.head == pr.head
    assert [r.status for r in dc.requests][:2] == [429, 200]


def test_an_outage_is_unavailable_after_the_retries(
    dc: FakeBitbucketDC, dc_repo: FakeRepo, dc_call: DCCall
) -> None:
    pr = dc.add_pr(dc_repo, "ABC-1 a", source="f")
    dc.fail(503, times=-1)
    with pytest.raises(PlatformUnavailable) as caught:
        dc_call(
            lambda a: a.publish_status(SLUG, pr.head, BuildStatus("k", BuildState.FAILED, "n", "d"))
        )
    assert caught.value.status == 503 and caught.value.retry_after is None
    assert len(dc.requests) == 3  # FAST_RETRY's attempts
    assert dc.build(dc_repo, pr.head, "k") is None


def test_an_unreachable_instance_is_unavailable() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again before the request: nothing listens

    async def main() -> None:
        fake = FakeBitbucketDC()  # never started
        adapter = make_adapter(fake, base_url=f"http://127.0.0.1:{port}")
        try:
            await adapter.resolve_commit(SLUG, "abcdef1")
        finally:
            await adapter.aclose()

    with pytest.raises(PlatformUnavailable) as caught:
        asyncio.run(main())
    assert "cannot reach Bitbucket Data Center" in caught.value.message


@pytest.mark.parametrize(
    ("kind", "hint"),
    [
        (DataCenterAuthKind.HTTP_ACCESS_TOKEN, "HTTP access token"),
        (DataCenterAuthKind.PERSONAL_ACCESS_TOKEN, "personal access token"),
    ],
)
def test_a_bad_token_is_an_auth_error_with_a_hint(
    dc: FakeBitbucketDC, dc_repo: FakeRepo, dc_call: DCCall, kind: DataCenterAuthKind, hint: str
) -> None:
    pr = dc.add_pr(dc_repo, "ABC-1 a", source="f")
    secret = "revoked-token-value"
    with pytest.raises(PlatformAuthError) as caught:
        dc_call(lambda a: a.fetch_pull_request(SLUG, str(pr.id)), token=secret, kind=kind)
    error = caught.value
    assert error.status == 401 and error.code == "PLATFORM_AUTH_REJECTED"
    assert hint in error.hint and "Repository read" in error.hint
    assert "Authentication failed" in error.message
    assert secret not in error.message + error.hint + repr(error)
    assert len(dc.requests) == 1  # not retried
    assert dc.requests[0].headers["authorization"] == f"Bearer {secret}"


def test_credentials_never_show_their_secret() -> None:
    creds = DataCenterCredentials(DataCenterAuthKind.HTTP_ACCESS_TOKEN, HTTP_ACCESS_TOKEN)
    assert HTTP_ACCESS_TOKEN not in repr(creds) and "***" in repr(creds)


def test_rate_limit_headers_are_read(dc: FakeBitbucketDC, dc_repo: FakeRepo) -> None:
    pr = dc.add_pr(dc_repo, "ABC-1 a", source="f")
    dc.answer_headers = {"X-RateLimit-Limit": "120", "X-RateLimit-Remaining": "0"}

    async def main() -> tuple[float | None, float | None, str]:
        adapter = make_adapter(dc)
        try:
            await adapter.resolve_commit(SLUG, pr.head[:10])
            limit = adapter.client.rate_limit
            assert limit is not None
            return limit.limit, limit.remaining, adapter.client.user_name
        finally:
            await adapter.aclose()

    assert asyncio.run(main()) == (120.0, 0.0, BOT_SLUG)


@pytest.mark.parametrize("url", ["git.example.com", "ftp://git.example.com", ""])
def test_a_bad_base_url_is_a_clear_error(url: str) -> None:
    with pytest.raises(PlatformRequestError) as caught:
        BitbucketDataCenter(
            url, PROJECT, DataCenterCredentials(DataCenterAuthKind.HTTP_ACCESS_TOKEN, "t")
        )
    assert "not an http(s) URL" in caught.value.message and "base URL" in caught.value.hint


def test_the_adapter_s_repr_keeps_the_token_out(dc: FakeBitbucketDC) -> None:
    async def main() -> str:
        adapter = make_adapter(dc)
        try:
            return repr(adapter) + repr(adapter.client) + repr(adapter.client.credentials)
        finally:
            await adapter.aclose()

    text = asyncio.run(main())
    assert PROJECT in text and HTTP_ACCESS_TOKEN not in text


def test_a_wrong_user_slug_is_named_in_the_hint(
    dc: FakeBitbucketDC, dc_repo: FakeRepo, dc_call: DCCall
) -> None:
    pr = dc.add_pr(dc_repo, "ABC-1 a", source="f")
    with pytest.raises(PlatformAuthError) as caught:
        dc_call(lambda a: a.review(SLUG, str(pr.id), ReviewVerdict.APPROVE), user_slug="someone")
    assert "'someone' is not the token's user" in caught.value.hint
    assert BOT_SLUG in caught.value.hint
    assert pr.participants == {}


def test_many_open_pull_requests_are_listed_over_pages(
    dc: FakeBitbucketDC, dc_repo: FakeRepo, dc_call: DCCall
) -> None:
    made = [dc.add_pr(dc_repo, f"ABC-{i} x", source=f"feature/{i}") for i in range(130)]
    found = dc_call(lambda a: a.list_open_pull_requests(SLUG))
    assert sorted(int(p.id) for p in found) == [pr.id for pr in made]
    assert len(dc.requests_to("/pull-requests", method="GET")) == 2
