"""``jirahooks serve --log-format json``: a real server process, a session that touches every
part (Validation API with a commit message body, bad signatures, webhooks, the admin API, the
web UI sign-in, /metrics, /readyz, a Jira with a known token), then every line it logged:

* each line is one JSON object with time, level and event;
* the request id we sent comes back as ``X-Request-Id``, is on the request's log lines with
  workspace, repository, evaluation id and duration, and is stored with the evaluation (admin
  API filter, evaluation page);
* no secret, token or commit message body appears in any line.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.fakes.fake_jira import FakeJira
from tests.server.conftest import WS, compact, sign
from tests.support.live import free_port

from jirahooks.crypto import generate_key

BODY = "BODY-MARKER-7f3a the plan nobody may read"
MESSAGE = f"ABC-1 Fix the login\n\n{BODY}\nSigned-off-by: someone"
METRICS_TOKEN = "metrics-token-9b1c-not-for-logs"
REQUEST_ID = "trace-me-42"


@dataclass
class Served:
    base: str
    admin: str
    process: subprocess.Popen[str]
    stderr: Path
    secret_key: str

    def stop(self) -> tuple[list[str], str]:
        """Stop the server gracefully; its log lines and what it printed on stdout."""
        self.process.send_signal(signal.SIGTERM)
        out, _ = self.process.communicate(timeout=30)
        return self.stderr.read_text(encoding="utf-8").splitlines(), out


@pytest.fixture
def served(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Served]:
    log_format = getattr(request, "param", "json")
    port = free_port()
    key = generate_key()
    command = [sys.executable, "-m", "jirahooks", "serve", "--data-dir", str(tmp_path / "data")]
    command += ["--port", str(port), "--log-level", "debug"]
    if log_format != "text":  # text is the default: the same command as before the option
        command += ["--log-format", log_format]
    env = {
        **os.environ,
        "JIRAHOOKS_SECRET_KEY": key,
        "JIRAHOOKS_METRICS_TOKEN": METRICS_TOKEN,
        "JIRAHOOKS_PR_WORKER": "1",
    }
    stderr = tmp_path / "stderr.log"
    with stderr.open("w") as err:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=err, text=True, env=env)
    try:
        assert process.stdout is not None
        admin = ""
        for line in process.stdout:
            found = re.search(r"Authorization: Bearer ([^'\s]+)", line)
            if found:
                admin = found.group(1)
                break
        assert admin, "serve printed no first-start token"
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.05)
        yield Served(base, admin, process, stderr, key)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)
        if process.stdout is not None:
            process.stdout.close()


def test_json_lines_trace_a_request_and_hold_no_secret(served: Served) -> None:
    with FakeJira("cloud") as jira:
        jira.add_issue("ABC-1", status="In Progress")
        secrets = _session(served, jira)
        lines, stdout = served.stop()
    assert lines, "the server logged nothing"
    records = []
    for line in lines:
        record = json.loads(line)  # every line is one JSON object
        assert isinstance(record, dict)
        assert {"time", "level", "event", "message"} <= record.keys(), record
        records.append(record)

    traced = [r for r in records if r.get("request_id") == REQUEST_ID]
    access = [r for r in traced if r["event"] == "http.request"]
    assert len(access) == 1, traced
    line = access[0]
    assert line["route"] == "/api/validate/{workspace}" and line["status"] == 200
    assert line["workspace"] == WS and line["repository"] == "api"
    # the row is written by the background writer after the answer: the request id is the
    # link (stored with it, asserted in _session), not an evaluation id on the line
    assert isinstance(line["duration_ms"], float)
    evaluated = [r for r in traced if r["event"] == "evaluation"]
    assert len(evaluated) == 1 and evaluated[0]["result"] == "PASS"
    assert evaluated[0]["workspace"] == WS and evaluated[0]["repository"] == "api"
    assert set(evaluated[0]["stages_ms"]) >= {"plan", "jira", "checks"}

    everything = "\n".join(lines)
    for name, value in secrets.items():
        if isinstance(value, str):
            assert value not in everything, f"{name} appears in the log"
    for part in (BODY, "Signed-off-by", served.secret_key, served.admin, METRICS_TOKEN):
        assert part not in everything
    # stdout holds only the first-start announcement (the admin token, once, by design)
    for part in (BODY, served.secret_key, METRICS_TOKEN, secrets["validation_secret"]):
        assert part not in stdout


@pytest.mark.parametrize("served", ["text"], indirect=True)
def test_debug_level_never_logs_sql_parameters(served: Served) -> None:
    """The default (text) format at --log-level debug, with nothing but a push: b9f4856 logged
    aiosqlite's statements with their bound parameters — the commit message among them."""
    admin = {"Authorization": f"Bearer {served.admin}"}
    api = f"{served.base}/api/v1/workspaces/{WS}"
    with httpx.Client(timeout=30) as http:
        assert http.post(f"{api}/repositories", json={"slug": "api"}, headers=admin).is_success
        rule = {"template": "commit-key-required"}
        assert http.post(f"{api}/rules/from-template", json=rule, headers=admin).is_success
        made = http.post(
            f"{api}/validation-tokens", json={"name": "ci", "repository": "api"}, headers=admin
        )
        secret = made.json()["secret"]
        body = compact({"triggerType": "PUSH", "commits": [{"hash": "a" * 40, "message": MESSAGE}]})
        answer = http.post(
            f"{served.base}/api/validate/{WS}?repoSlug=api",
            content=body,
            headers={"x-hub-signature-256": sign(secret, body), "X-Request-Id": REQUEST_ID},
        )
        assert answer.status_code == 200 and answer.json()["result"] == "PASS"
    lines, _ = served.stop()
    everything = "\n".join(lines)
    for part in (BODY, "Signed-off-by", secret, served.secret_key, served.admin):
        assert part not in everything
    # the per-evaluation line (text: only at DEBUG) carries the request id
    assert f"[request {REQUEST_ID}]" in everything


def _session(served: Served, jira: FakeJira) -> dict[str, Any]:
    """Exercise the server; returns what must never be logged (and the evaluation's id)."""
    admin = {"Authorization": f"Bearer {served.admin}"}
    api = f"{served.base}/api/v1/workspaces/{WS}"
    with httpx.Client(timeout=30) as http:
        assert http.post(f"{api}/repositories", json={"slug": "api"}, headers=admin).is_success
        rule = {
            "id": "valid-keys",
            "title": "Keys must exist",
            "targets": ["COMMIT"],
            "checks": {"key_present": True, "keys_valid": "ALL"},
        }
        assert http.post(f"{api}/rules", json=rule, headers=admin).is_success
        connection = {
            "name": "jira",
            "url": jira.url,
            "deployment": "cloud",
            "email": jira.user.email,
            "token": jira.token,
        }
        assert http.post(f"{api}/connections", json=connection, headers=admin).is_success
        made = http.post(
            f"{api}/validation-tokens", json={"name": "ci", "repository": "api"}, headers=admin
        )
        secret = made.json()["secret"]
        body = compact(
            {
                "triggerType": "PUSH",
                "branchName": "main",
                "commits": [{"hash": "a" * 40, "message": MESSAGE}],
            }
        )
        url = f"{served.base}/api/validate/{WS}?repoSlug=api"
        answer = http.post(
            url,
            content=body,
            headers={
                "Content-Type": "application/json",
                "x-hub-signature-256": sign(secret, body),
                "X-Request-Id": REQUEST_ID,
            },
        )
        assert answer.status_code == 200 and answer.json()["result"] == "PASS"
        assert answer.headers["x-request-id"] == REQUEST_ID
        # a bad signature, a broken body, an unknown repository, a non-sane request id
        bad = http.post(url, content=body, headers={"x-hub-signature-256": sign("wrong", body)})
        assert bad.status_code == 401
        broken = b'{"triggerType": "PUSH", "commits": [' + BODY.encode()
        assert (
            http.post(
                url, content=broken, headers={"x-hub-signature-256": sign(secret, broken)}
            ).status_code
            == 400
        )
        weird = http.get(f"{served.base}/healthz", headers={"X-Request-Id": "a b\tc<script>"})
        assert weird.headers["x-request-id"] != "a b\tc<script>"
        assert len(weird.headers["x-request-id"]) == 32
        # the web UI sign-in with a token, the admin API with a wrong one, metrics, readiness
        ui = httpx.Client(base_url=served.base, timeout=30)
        _sign_in(ui, served.admin)
        http.get(f"{api}/rules", headers={"Authorization": "Bearer jh_wrong_token_0123456789"})
        scraped = http.get(
            f"{served.base}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}
        )
        assert scraped.status_code == 200
        assert http.get(f"{served.base}/readyz").status_code == 200
        # the request id is stored with the evaluation and shown on its page
        found = http.get(f"{api}/evaluations", params={"request_id": REQUEST_ID}, headers=admin)
        items = found.json()["items"]
        assert len(items) == 1 and items[0]["request_id"] == REQUEST_ID
        evaluation_id = items[0]["id"]
        detail = http.get(f"{api}/evaluations/{evaluation_id}", headers=admin).json()
        assert detail["request_id"] == REQUEST_ID
        page = ui.get(f"/ui/w/{WS}/evaluations/{evaluation_id}")
        ui.close()
        assert page.status_code == 200 and REQUEST_ID in page.text
    return {
        "validation_secret": secret,
        "jira_token": jira.token,
        "message_body": BODY,
        "evaluation_id": evaluation_id,
    }


def _sign_in(ui: httpx.Client, token: str) -> None:
    form = ui.get("/ui/login").text
    nonce = re.search(r'name="csrf_token" value="([^"]+)"', form)
    assert nonce is not None
    signed = ui.post("/ui/login", data={"csrf_token": nonce.group(1), "token": token})
    assert signed.status_code in (200, 303), signed.status_code
