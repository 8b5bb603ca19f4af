"""``GET /metrics`` during a run that exercises every family against the fakes: a live server
(uvicorn, PR worker running), a fake Jira and a fake Bitbucket. Each figure is read before and
after what should move it, and must move exactly as that says (a duplicate webhook is a
duplicate, not a second delivery received; a Jira that answers 503 makes the policy decide)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from tests.fakes.fake_bitbucket import FakeBitbucket
from tests.fakes.fake_jira import FakeJira
from tests.platforms.harness import PR_RULES, WS, Guardian, LiveServer, configure, settings_for
from tests.server.conftest import compact, sign

TOKEN = "scrape-me-0123456789"
PUSH_RULE = {
    "id": "push-keys",
    "title": "Pushed commits name a valid issue",
    "triggers": ["PUSH"],
    "targets": ["COMMIT"],
    "checks": {"key_present": True, "keys_valid": "ALL"},
}

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(g: Guardian) -> Samples:
    response = g.http.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200, response.text
    out: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            out[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return out


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum of ``name`` over every series whose labels include ``labels``."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= ls)


def moved(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return total(after, name, **labels) - total(before, name, **labels)


@pytest.fixture
def guardian(tmp_path: Path, database_url: str) -> Iterator[Guardian]:
    """A live server on SQLite and on PostgreSQL (the queue figures are read from either)."""
    settings = dataclasses.replace(settings_for(tmp_path, database_url), metrics_token=TOKEN)
    server = LiveServer(settings).start()
    with FakeBitbucket() as bitbucket, FakeJira("cloud") as jira:
        try:
            made = configure(
                server,
                bitbucket,
                jira,
                admin_token=server.state.first_start.token,
                rules=[*PR_RULES, PUSH_RULE],
            )
            jira.add_issue("ABC-3", status="In Progress")
            made.api("POST", f"/workspaces/{WS}/repositories", json={"slug": "api-service"})
            made.api("PUT", f"/workspaces/{WS}/settings", json={"time_budget_seconds": 3})
            yield made
            made.http.close()
        finally:
            server.stop()


def push(g: Guardian, secret: str, message: str, sha: str) -> httpx.Response:
    body = compact(
        {
            "triggerType": "PUSH",
            "branchName": "main",
            "commits": [{"hash": sha, "message": message}],
        }
    )
    return g.http.post(
        f"/api/validate/{WS}?repoSlug=api-service",
        content=body,
        headers={"Content-Type": "application/json", "x-hub-signature-256": sign(secret, body)},
    )


def test_metrics_need_the_token(guardian: Guardian) -> None:
    assert guardian.http.get("/metrics").status_code == 401
    wrong = guardian.http.get("/metrics", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and wrong.json()["code"] == "METRICS_TOKEN_INVALID"
    assert "jirahooks_" not in wrong.text


def test_metrics_are_off_without_a_token(tmp_path: Path) -> None:
    server = LiveServer(settings_for(tmp_path)).start()
    try:
        answer = httpx.get(server.url + "/metrics", headers={"Authorization": "Bearer x"})
        assert answer.status_code == 404 and answer.json()["code"] == "METRICS_DISABLED"
    finally:
        server.stop()


def test_every_family_moves_as_it_must(guardian: Guardian) -> None:
    g = guardian
    secret = g.api(
        "POST",
        f"/workspaces/{WS}/validation-tokens",
        json={"name": "ci", "repository": "api-service"},
    )["secret"]
    start = scrape(g)

    # -- Validation API, Jira ok, cache miss then hit ------------------------------------------
    assert push(g, secret, "ABC-1 login", "a" * 40).json()["result"] == "PASS"
    assert push(g, secret, "ABC-1 login again", "b" * 40).json()["result"] == "PASS"
    assert push(g, secret, "no key at all", "c" * 40).json()["result"] == "BLOCK"
    one = scrape(g)
    assert (
        moved(
            start,
            one,
            "jirahooks_evaluations_total",
            source="validation-api",
            trigger="PUSH",
            repository="api-service",
            result="PASS",
        )
        == 2
    )
    assert moved(start, one, "jirahooks_evaluations_total", result="BLOCK") == 1
    assert moved(start, one, "jirahooks_evaluation_blocking_rules_total", rule="push-keys") == 1
    assert moved(start, one, "jirahooks_jira_requests_total", connection="jira", outcome="ok") >= 1
    assert moved(start, one, "jirahooks_jira_cache_lookups_total", kind="issue", result="miss") >= 1
    assert moved(start, one, "jirahooks_jira_cache_lookups_total", kind="issue", result="hit") >= 1
    for stage in ("plan", "jira", "checks", "store"):
        assert (
            moved(
                start,
                one,
                "jirahooks_evaluation_stage_duration_seconds_count",
                source="validation-api",
                stage=stage,
            )
            >= 2
        ), stage
    assert (
        moved(start, one, "jirahooks_evaluation_duration_seconds_count", source="validation-api")
        == 3
    )
    route = "/api/validate/{workspace}"
    assert (
        moved(
            start,
            one,
            "jirahooks_http_requests_total",
            api="validation",
            route=route,
            method="POST",
            status="200",
        )
        == 3
    )
    assert (
        moved(
            start,
            one,
            "jirahooks_http_request_duration_seconds_count",
            api="validation",
            route=route,
        )
        == 3
    )
    assert moved(start, one, "jirahooks_jira_policy_decisions_total") == 0

    # -- Jira rate-limits once (Retry-After honoured), then answers --------------------------
    g.jira.fail(429, times=1, retry_after="0")
    assert push(g, secret, "ABC-3 rate limited", "d" * 40).json()["result"] == "PASS"
    two = scrape(g)
    assert moved(one, two, "jirahooks_jira_requests_total", outcome="429") == 1
    assert moved(one, two, "jirahooks_jira_retry_waits_total", reason="retry_after") == 1
    assert moved(one, two, "jirahooks_jira_policy_decisions_total") == 0

    # -- Jira down: 503s until the deadline; the policy decides (BLOCK by default) -------------
    g.jira.fail(503, times=-1)
    assert push(g, secret, "ABC-2 while Jira is down", "e" * 40).json()["result"] == "BLOCK"
    g.jira.clear_faults()
    three = scrape(g)
    assert moved(two, three, "jirahooks_jira_requests_total", outcome="5xx") >= 1
    assert moved(two, three, "jirahooks_jira_policy_decisions_total", decision="blocked") == 1
    assert moved(two, three, "jirahooks_jira_undetermined_keys_total") >= 1
    assert moved(two, three, "jirahooks_jira_retry_waits_total", reason="backoff") >= 1

    # -- webhooks: received, duplicate, rejected; processed and published ----------------------
    pr = g.bitbucket.add_pr(g.repo, "ABC-1 Login", source="feature/ABC-1", commits=["ABC-1 x"])
    assert g.deliver(pr, request_id="delivery-1").status_code == 202
    assert g.deliver(pr, request_id="delivery-1").json()["status"] == "duplicate"
    assert g.deliver(pr, request_id="delivery-2", secret="not-the-secret").status_code == 401
    g.final_status(pr.head)
    four = scrape(g)
    assert moved(three, four, "jirahooks_webhook_deliveries_total", outcome="received") == 1
    assert moved(three, four, "jirahooks_webhook_deliveries_total", outcome="duplicate") == 1
    assert moved(three, four, "jirahooks_webhook_deliveries_total", outcome="rejected") == 1
    assert moved(three, four, "jirahooks_webhook_processing_attempts_total", outcome="done") == 1
    assert (
        moved(
            three,
            four,
            "jirahooks_evaluations_total",
            source="bitbucket-cloud",
            trigger="PULL_REQUEST",
            result="PASS",
        )
        == 1
    )
    assert (
        moved(
            three,
            four,
            "jirahooks_evaluation_stage_duration_seconds_count",
            source="bitbucket-cloud",
            stage="store",
        )
        == 1
    )
    host = urlsplit(g.bitbucket.url).netloc
    # a first evaluation of a head posts one status, the result (no INPROGRESS before it)
    statuses = [
        moved(
            three,
            four,
            "jirahooks_platform_requests_total",
            host=host,
            operation="status",
            outcome=code,
        )
        for code in ("200", "201")
    ]
    assert sum(statuses) == 1
    assert moved(three, four, "jirahooks_platform_requests_total", operation="report") >= 1

    # -- the queue, read when scraped: the worker stopped, two deliveries waiting -------------
    g.server.run(g.server.worker.stop())
    g.server.run(_waiting_deliveries(g.server))
    five = scrape(g)
    assert total(five, "jirahooks_webhook_queue_depth", state="pending") == 2
    assert total(five, "jirahooks_webhook_queue_depth", state="due") == 1
    assert 3600 <= total(five, "jirahooks_webhook_queue_oldest_age_seconds") < 7200
    assert total(five, "jirahooks_metrics_database_up") == 1
    assert (
        total(five, "jirahooks_db_pool_connections", state="idle")
        + total(five, "jirahooks_db_pool_connections", state="in_use")
        >= 1
    )


def test_labels_are_bounded(guardian: Guardian) -> None:
    """Route templates, never raw paths; no commit hash or branch name in any label."""
    g = guardian
    secret = g.api(
        "POST",
        f"/workspaces/{WS}/validation-tokens",
        json={"name": "ci", "repository": "api-service"},
    )["secret"]
    push(g, secret, "ABC-1 feature/secret-branch-name", "f" * 40)
    g.http.get(
        "/api/v1/workspaces/no-such-workspace-4711/rules", headers={"Authorization": "Bearer x"}
    )
    g.http.get("/no/such/path/4711")
    text = g.http.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).text
    assert 'route="/api/v1/workspaces/{workspace}/rules"' in text
    assert 'route="unmatched"' in text
    for leaked in (
        "no-such-workspace-4711",
        "/no/such/path",
        "f" * 12,
        "secret-branch-name",
        f"/api/validate/{WS}",
    ):
        assert leaked not in text, leaked


async def _waiting_deliveries(server: LiveServer) -> None:
    """One delivery due since an hour ago, one received two hours ago but not due yet."""
    from jirahooks.store.deliveries import DeliveryRow
    from jirahooks.store.models import utcnow

    now = utcnow()
    async with server.state.database.session() as session:
        for key, received, due in (
            ("metrics-test-due", now - timedelta(hours=1), now - timedelta(minutes=1)),
            ("metrics-test-later", now - timedelta(hours=2), now + timedelta(hours=1)),
        ):
            session.add(
                DeliveryRow(
                    workspace_id=1,
                    platform="bitbucket-cloud",
                    origin="recheck",
                    dedupe_key=key,
                    repository="api-service",
                    pull_request_id="999",
                    received_at=received,
                    next_attempt_at=due,
                )
            )
        await session.commit()
