"""Freshness guarantees through the real server (uvicorn on 127.0.0.1) and the fake Jira, which
sends its webhooks over HTTP as Jira does (signed with ``X-Hub-Signature``):

* a status change + ``jira:issue_updated`` → the next evaluation sees it, although the rule
  allows an hour-old answer;
* an issue created after a "not found" passes within the negative lifetime — and at once with
  ``jira:issue_created``;
* forged or unsigned deliveries are refused and change nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from tests.fakes.fake_jira import FakeJira
from tests.jira.support import FakeTime
from tests.server.conftest import WS, make_settings
from tests.support.live import UvicornThread

from jirahooks.jira.cache import JiraCache, MemoryBackend
from jirahooks.server import create_app


def http(
    method: str, url: str, body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


@dataclass
class Wired:
    server: UvicornThread
    admin: str
    jira: FakeJira
    time: FakeTime
    connection_id: int
    token: str
    webhook: dict[str, Any]

    def admin_call(self, method: str, path: str, body: Any = None) -> Any:
        headers = {"Authorization": f"Bearer {self.admin}", "Content-Type": "application/json"}
        status, answer = http(
            method, f"{self.server.url}/api/v1/workspaces/{WS}{path}", body, headers
        )
        assert status < 300, (method, path, status, answer)
        return answer

    def validate(self, message: str) -> str:
        payload = {
            "triggerType": "PUSH",
            "branchName": "main",
            "commits": [{"hash": "c" * 40, "message": message}],
        }
        body = json.dumps(payload, separators=(",", ":")).encode()
        signature = "sha256=" + hmac.new(self.token.encode(), body, hashlib.sha256).hexdigest()
        status, answer = http(
            "POST",
            f"{self.server.url}/api/validate/{WS}?repoSlug=api",
            body,
            {"Content-Type": "application/json", "x-hub-signature-256": signature},
        )
        assert status == 200, answer
        return str(answer["result"])

    def deliver(self, event: str, key: str, **options: Any) -> tuple[int, Any]:
        payload = self.jira.webhook_payload(event, key)
        return self.jira.send_webhook(
            self.webhook["url"],
            payload,
            secret=options.get("secret", self.webhook["secret"]),
            signature=options.get("signature", ""),
        )


@pytest.fixture
def sweep_seconds() -> float:
    return 0.0


@pytest.fixture
def wired(tmp_path: Path, database_url: str, sweep_seconds: float) -> Iterator[Wired]:
    app = create_app(make_settings(tmp_path, database_url, jira_sweep_seconds=sweep_seconds))
    with FakeJira("cloud") as jira, UvicornThread(app) as live:
        jira.add_issue("ABC-1", status="To Do")
        time = FakeTime(1_000_000.0)
        # the app's Jira cache on a clock the test drives (lifetimes of minutes and hours)
        if not sweep_seconds:
            cache = JiraCache(MemoryBackend(clock=time), clock=time)
            app.state.jirahooks.resolvers.cache = cache
        admin = app.state.jirahooks.first_start.token
        wired = Wired(live, admin, jira, time, 0, "", {})
        wired.admin_call("POST", "/repositories", {"slug": "api"})
        connection = wired.admin_call(
            "POST",
            "/connections",
            {
                "name": "jira",
                "url": jira.url,
                "deployment": "cloud",
                "email": jira.user.email,
                "token": jira.token,
            },
        )
        wired.connection_id = connection["id"]
        wired.admin_call(
            "POST",
            "/rules",
            {
                "id": "in-progress",
                "title": "Issues must be In Progress",
                "targets": ["COMMIT"],
                "checks": {
                    "key_present": True,
                    "keys_valid": "ALL",
                    "jql": 'status = "In Progress"',
                    "jql_freshness_seconds": 3600,
                },
            },
        )
        wired.token = wired.admin_call(
            "POST", "/validation-tokens", {"name": "ci", "repository": "api"}
        )["secret"]
        wired.webhook = wired.admin_call("GET", f"/connections/{connection['id']}/jira-webhook")
        yield wired


def test_status_change_and_webhook_reach_the_next_evaluation(wired: Wired) -> None:
    assert wired.webhook["url"] == (
        f"{wired.server.url}/api/jira/webhook/{WS}/{wired.connection_id}"
    )
    assert "jira:issue_updated" in wired.webhook["events"]
    assert wired.validate("ABC-1 login") == "BLOCK"  # To Do
    wired.jira.set_status("ABC-1", "In Progress")
    wired.time.advance(60)
    sent = wired.jira.count()
    assert wired.validate("ABC-1 login") == "BLOCK"  # the rule allows an hour-old answer …
    assert wired.jira.count() == sent  # … and Jira was not asked
    status, answer = wired.deliver("jira:issue_updated", "ABC-1")
    assert (status, answer["cache"]) == (200, "replaced")
    wired.time.advance(1)
    assert wired.validate("ABC-1 login") == "PASS"  # the next evaluation sees the change
    assert wired.jira.count("/rest/api/3/jql/match") == 2
    assert wired.jira.count("/rest/api/3/issue/bulkfetch") == 1  # existence stayed cached


def test_a_created_issue_passes_within_the_negative_lifetime(wired: Wired) -> None:
    wired.jira.set_status("ABC-1", "In Progress")
    assert wired.validate("ABC-2 login") == "BLOCK"  # not found
    wired.jira.add_issue("ABC-2", status="In Progress")
    wired.time.advance(31)  # the negative lifetime (30 s) is over: asked again
    assert wired.validate("ABC-2 login") == "PASS"
    assert wired.validate("ABC-3 login") == "BLOCK"
    wired.jira.add_issue("ABC-3", status="In Progress")
    status, answer = wired.deliver("jira:issue_created", "ABC-3")
    assert (status, answer["cache"]) == (200, "replaced")
    assert wired.validate("ABC-3 login") == "PASS"  # at once, without waiting


def test_a_deleted_issue_is_not_found_at_once(wired: Wired) -> None:
    wired.jira.set_status("ABC-1", "In Progress")
    assert wired.validate("ABC-1 login") == "PASS"
    payload = wired.jira.webhook_payload("jira:issue_deleted", "ABC-1")
    wired.jira.delete_issue("ABC-1")
    status, answer = wired.jira.send_webhook(
        wired.webhook["url"], payload, secret=wired.webhook["secret"]
    )
    assert (status, answer["cache"]) == (200, "dropped")
    assert wired.validate("ABC-1 login") == "BLOCK"


@pytest.mark.parametrize(
    ("options", "code"),
    [
        ({"secret": None}, "SIGNATURE_MISSING"),
        ({"secret": "guessed"}, "SIGNATURE_INVALID"),
        ({"signature": "sha256=" + "0" * 64}, "SIGNATURE_INVALID"),
    ],
)
def test_unsigned_or_forged_deliveries_change_nothing(
    wired: Wired, options: dict[str, Any], code: str
) -> None:
    assert wired.validate("ABC-1 login") == "BLOCK"
    wired.jira.set_status("ABC-1", "In Progress")
    status, answer = wired.deliver("jira:issue_updated", "ABC-1", **options)
    assert status == 401 and answer["code"] == code and answer["hint"]
    wired.time.advance(1)
    assert wired.validate("ABC-1 login") == "BLOCK"  # the cached answer stands


def test_bad_deliveries_get_a_clear_error(wired: Wired) -> None:
    url = wired.webhook["url"]
    secret = wired.webhook["secret"]

    def signed(body: bytes, target: str = url) -> tuple[int, Any]:
        digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        return http("POST", target, body, {"X-Hub-Signature": f"sha256={digest}"})

    status, answer = signed(b"{not json")
    assert status == 400 and answer["code"] == "REQUEST_INVALID"
    status, answer = signed(b'{"webhookEvent": "jira:issue_updated", "issue": {}}')
    assert status == 400 and answer["code"] == "JIRA_WEBHOOK_INVALID"
    status, answer = signed(b'{"webhookEvent": "comment_created"}')
    assert (status, answer["cache"]) == (200, "ignored")
    status, answer = signed(b"{}", url.rsplit("/", 1)[0] + "/999999")
    assert status == 404 and answer["code"]


def test_the_webhook_secret_needs_a_signed_in_administrator(wired: Wired) -> None:
    path = f"/api/v1/workspaces/{WS}/connections/{wired.connection_id}/jira-webhook"
    status, answer = http("GET", wired.server.url + path)
    assert status == 401 and "secret" not in answer
    assert wired.webhook["secret"] not in json.dumps(answer)


@pytest.mark.parametrize("sweep_seconds", [0.2])
def test_the_servers_sweep_brings_a_change_without_a_webhook(wired: Wired) -> None:
    """No webhook registered: the server's background sweep (every 0.2 s here) asks Jira
    what changed in the projects it has seen, and the next evaluation sees the change."""
    from tests.fakes.fake_jira import wait_until

    assert wired.validate("ABC-1 login") == "BLOCK"
    wired.jira.set_status("ABC-1", "In Progress")
    changed = len(wired.jira.requests)

    def swept() -> bool:
        later = wired.jira.requests[changed:]
        sweeps = [r for r in later if "updated >=" in str(r.body)]
        return bool(sweeps) and any(r.path.endswith("jql/match") for r in later)

    assert wait_until(swept, timeout=30)  # a sweep after the change, and its re-check
    assert wired.validate("ABC-1 login") == "PASS"
