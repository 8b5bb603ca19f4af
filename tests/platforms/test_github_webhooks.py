"""GitHub webhook deliveries: the signature (accepted, refused, missing), every event kind the
adapter reads, and every payload the tests send validated against GitHub's webhook schemas
(../shared/specs/github-webhooks.json; those checks skip, saying so, without it)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from jsonschema import Draft7Validator
from tests.fakes.fake_github import FakeGitHub, FakeRepo
from tests.fakes.github_schema import WEBHOOKS, document, to_json_schema
from tests.platforms import github_payloads as payloads
from tests.platforms.github_support import gh_repo, github, make_adapter

from jirahooks.platforms.base import DeliveryKind, WebhookError
from jirahooks.platforms.github import is_merge_group, parse_delivery, verify_signature

__all__ = ["gh_repo", "github"]  # fixtures

needs_spec = pytest.mark.skipif(
    not WEBHOOKS.exists(),
    reason=f"GitHub's webhook OpenAPI document is not at {WEBHOOKS} (../shared/specs is absent)",
)


def all_payloads(fake: FakeGitHub, repo: FakeRepo) -> list[tuple[str, str, dict[str, Any]]]:
    """(event header, schema name, payload) for every delivery kind the tests use."""
    pr = fake.add_pr(
        repo, "ABC-1 Login", source="feature/ABC-1", body="ABC-1", commits=["ABC-1 a", "ABC-1 b"]
    )
    out: list[tuple[str, str, dict[str, Any]]] = [
        (
            "pull_request",
            f"webhook-pull-request-{action}",
            payloads.pull_request(fake, repo, pr, action),
        )
        for action in ("opened", "edited", "synchronize", "reopened")
    ]
    closed = fake.add_pr(repo, "ABC-2", source="feature/ABC-2")
    closed.state, closed.merged = "closed", True
    out += [
        (
            "pull_request",
            "webhook-pull-request-closed",
            payloads.pull_request(fake, repo, closed, "closed"),
        ),
        ("push", "webhook-push", payloads.push(fake, repo, pr.source, pr.commits)),
        (
            "merge_group",
            "webhook-merge-group-checks-requested",
            payloads.merge_group(fake, repo, pr),
        ),
        (
            "check_run",
            "webhook-check-run-rerequested",
            payloads.check_run_rerequested(fake, repo, pr, pr.head, pr.source),
        ),
        (
            "check_suite",
            "webhook-check-suite-rerequested",
            payloads.check_suite_rerequested(fake, repo, pr, pr.head),
        ),
        ("installation", "webhook-installation-created", payloads.installation("created")),
        ("ping", "webhook-ping", payloads.ping()),
    ]
    return out


@needs_spec
def test_payloads_validate_against_the_webhook_schemas(
    github: FakeGitHub, gh_repo: FakeRepo
) -> None:
    doc = document(WEBHOOKS)
    assert doc is not None
    components = to_json_schema(doc["components"])
    for event, name, payload in all_payloads(github, gh_repo):
        validator = Draft7Validator(
            {"$ref": f"#/components/schemas/{name}", "components": components}
        )
        errors = sorted(validator.iter_errors(payload), key=lambda e: list(e.path))
        assert not errors, f"{event} ({name}): " + "; ".join(
            f"{'/'.join(map(str, e.path))}: {e.message[:150]}" for e in errors[:5]
        )


@needs_spec
def test_the_documents_own_examples_parse(github: FakeGitHub) -> None:
    doc = document(WEBHOOKS)
    assert doc is not None
    examples = doc["components"]["examples"]
    rerun = examples["check-run-rerequested"]["value"]
    headers = {"X-GitHub-Event": "check_run", "X-GitHub-Delivery": "d-1"}
    delivery = parse_delivery(headers, json.dumps(rerun).encode())
    run = rerun["check_run"]
    if run.get("pull_requests"):
        assert delivery.kind is DeliveryKind.RECHECK
        assert delivery.pull_request_id == str(run["pull_requests"][0]["number"])
    else:
        assert delivery.kind in (DeliveryKind.PUSH, DeliveryKind.IGNORED)
    assert delivery.head in ("", run["head_sha"]) or delivery.pushes[0].head == run["head_sha"]
    ping = parse_delivery(
        {"X-GitHub-Event": "ping"}, json.dumps(examples["ping"]["value"]).encode()
    )
    assert ping.kind is DeliveryKind.IGNORED and ping.event_key == "ping"
    created = examples["check-run-created"]["value"]
    ignored = parse_delivery({"X-GitHub-Event": "check_run"}, json.dumps(created).encode())
    assert ignored.kind is DeliveryKind.IGNORED and ignored.event_key == "check_run.created"


def test_signature_accepted(github: FakeGitHub, gh_repo: FakeRepo) -> None:
    pr = github.add_pr(gh_repo, "ABC-1", source="feature/ABC-1")
    headers, body = payloads.deliver("pull_request", payloads.pull_request(github, gh_repo, pr))
    adapter = make_adapter(github, webhook_secret=payloads.SECRET)
    delivery = adapter.parse_webhook(headers, body)
    assert delivery.kind is DeliveryKind.PULL_REQUEST and delivery.pull_request_id == str(pr.number)
    lowered = {k.lower(): v for k, v in headers.items()}
    assert adapter.parse_webhook(lowered, body).request_id == headers["X-GitHub-Delivery"]


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ("secret", "WEBHOOK_SIGNATURE_INVALID"),
        ("body", "WEBHOOK_SIGNATURE_INVALID"),
        ("missing", "WEBHOOK_SIGNATURE_MISSING"),
        ("sha1", "WEBHOOK_SIGNATURE_INVALID"),
    ],
)
def test_signature_refused(github: FakeGitHub, gh_repo: FakeRepo, change: str, code: str) -> None:
    pr = github.add_pr(gh_repo, "ABC-1", source="feature/ABC-1")
    secret = "other-secret" if change == "secret" else payloads.SECRET
    headers, body = payloads.deliver(
        "pull_request", payloads.pull_request(github, gh_repo, pr), secret=secret
    )
    if change == "body":
        body = body.replace(b"ABC-1", b"ABC-9")
    if change == "missing":
        del headers["X-Hub-Signature-256"]
    if change == "sha1":  # the legacy X-Hub-Signature value is not accepted in its place
        headers["X-Hub-Signature-256"] = "sha1=" + headers["X-Hub-Signature-256"][7:47]
    with pytest.raises(WebhookError) as caught:
        verify_signature(payloads.SECRET, headers, body)
    assert caught.value.code == code and caught.value.status == 401 and caught.value.hint
    with pytest.raises(WebhookError):
        make_adapter(github, webhook_secret=payloads.SECRET).parse_webhook(headers, body)
    assert payloads.SECRET not in caught.value.message + caught.value.hint


def _parse(event: str, payload: dict[str, Any]) -> Any:
    headers, body = payloads.deliver(event, payload)
    return parse_delivery(headers, body)


def test_every_event_kind(github: FakeGitHub, gh_repo: FakeRepo) -> None:
    kinds = {}
    for event, name, payload in all_payloads(github, gh_repo):
        kinds[name] = _parse(event, payload)
    for action in ("opened", "edited", "synchronize", "reopened"):
        d = kinds[f"webhook-pull-request-{action}"]
        assert d.kind is DeliveryKind.PULL_REQUEST and d.event_key == f"pull_request.{action}"
        assert (d.workspace, d.repository, d.pull_request_id) == ("acme", "api-service", "1")
        assert d.source_branch == "feature/ABC-1" and d.destination_branch == "main"
        assert d.title == "ABC-1 Login" and d.description == "ABC-1" and d.state == "OPEN"
        assert len(d.head) == 40 and d.author == "ada" and d.url.endswith("/pull/1")
    closed = kinds["webhook-pull-request-closed"]
    assert closed.kind is DeliveryKind.PULL_REQUEST_CLOSED and closed.state == "MERGED"
    push = kinds["webhook-push"]
    assert push.kind is DeliveryKind.PUSH and push.pushes[0].branch == "feature/ABC-1"
    assert [c.message for c in push.pushes[0].commits] == ["ABC-1 a", "ABC-1 b"]
    assert push.pushes[0].head == push.pushes[0].commits[-1].hash and not push.pushes[0].truncated
    group = kinds["webhook-merge-group-checks-requested"]
    assert is_merge_group(group) and group.kind is DeliveryKind.PUSH and len(group.head) == 40
    assert group.destination_branch == "main"
    assert group.source_branch.startswith("gh-readonly-queue/main/pr-1-")
    for name in ("webhook-check-run-rerequested", "webhook-check-suite-rerequested"):
        rerun = kinds[name]
        assert rerun.kind is DeliveryKind.RECHECK and rerun.pull_request_id == "1"
        assert len(rerun.head) == 40 and rerun.source_branch == "feature/ABC-1"
    installed = kinds["webhook-installation-created"]
    assert installed.kind is DeliveryKind.IGNORED and installed.event_key == "installation.created"
    assert installed.workspace == "acme"
    assert kinds["webhook-ping"].kind is DeliveryKind.IGNORED
    # the dedupe key tells two deliveries apart and a redelivery of one the same
    assert len({d.dedupe_key for d in kinds.values()}) == len(kinds)


def test_actions_not_acted_on(github: FakeGitHub, gh_repo: FakeRepo) -> None:
    pr = github.add_pr(gh_repo, "ABC-1", source="feature/ABC-1")
    labeled = payloads.pull_request(github, gh_repo, pr)
    labeled["action"] = "labeled"
    assert _parse("pull_request", labeled).kind is DeliveryKind.IGNORED
    rerun = payloads.check_run_rerequested(github, gh_repo, pr, pr.head, pr.source)
    rerun["action"] = "completed"
    assert _parse("check_run", rerun).kind is DeliveryKind.IGNORED
    assert _parse("issues", {"action": "opened"}).kind is DeliveryKind.IGNORED


def test_rerun_without_a_pr_re_evaluates_the_branch(github: FakeGitHub, gh_repo: FakeRepo) -> None:
    pr = github.add_pr(gh_repo, "ABC-1", source="feature/ABC-1")
    d = _parse(
        "check_run", payloads.check_run_rerequested(github, gh_repo, None, pr.head, pr.source)
    )
    assert d.kind is DeliveryKind.PUSH
    assert [(p.branch, p.head) for p in d.pushes] == [("feature/ABC-1", pr.head)]


def test_push_of_a_tag_or_a_deletion_has_no_branch(github: FakeGitHub, gh_repo: FakeRepo) -> None:
    pr = github.add_pr(gh_repo, "ABC-1", source="feature/ABC-1")
    tag = payloads.push(github, gh_repo, pr.source, pr.commits)
    tag["ref"] = "refs/tags/v1"
    assert _parse("push", tag).pushes == ()
    deleted = payloads.push(github, gh_repo, pr.source, pr.commits)
    deleted.update(deleted=True, after="0" * 40)
    assert _parse("push", deleted).pushes == ()


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[1, 2]",
        json.dumps({"action": "opened", "pull_request": {"number": 1}}).encode(),
    ],
)
def test_malformed_deliveries(body: bytes) -> None:
    with pytest.raises(WebhookError) as caught:
        parse_delivery({"X-GitHub-Event": "pull_request"}, body)
    assert caught.value.code == "WEBHOOK_INVALID" and caught.value.message
