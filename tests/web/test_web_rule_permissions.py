"""Every rule-editor screen and endpoint of the web UI, for every role (docs/web-ui.md, Roles).

Everyone in the workspace reads rules (the lists, one rule read-only, without "Try it"). The
new-rule form, "Try it", saving, the switches, deleting, the templates gallery and using a
template need the right to change rules at that scope: workspace admin for workspace rules,
that repository's admin for its rules. Denied roles get 403; without a session, the sign-in page.

"Try it" runs the typed JQL against Jira as the connection's technical user: a member's attempt
must not reach Jira at all (a loopback listener records every request).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
from tests.fakes.loopback import LoopbackServer
from tests.web.conftest import WS, Browser, LiveServer, Site

BASE = f"/ui/w/{WS}"
ROLES = ("anonymous", "member", "repo_admin_elsewhere", "repo_admin", "admin")
READ = frozenset({"member", "repo_admin_elsewhere", "repo_admin", "admin"})
REPO = frozenset({"repo_admin", "admin"})
ANY_ADMIN = frozenset({"repo_admin_elsewhere", "repo_admin", "admin"})
ADMIN = frozenset({"admin"})
_ids = itertools.count()

TRY = {
    "title": "Key required",
    "targets": "COMMIT",
    "triggers": "PUSH",
    "key_present": "on",
    "jql": 'status = "In Progress"',
    "try_trigger": "PUSH",
    "try_branch": "feature/ABC-1",
    "try_commits": "ABC-1 Fix",
}


def _rule(site: Site, repository: str | None) -> str:
    rule_id = f"r{next(_ids)}"
    scope = f"/workspaces/{WS}" + (f"/repositories/{repository}" if repository else "")
    body = {"id": rule_id, "title": "T", "checks": {"key_present": True}}
    site.api("POST", f"{scope}/rules", body)
    return rule_id


@dataclass(frozen=True)
class Case:
    method: str
    path: str  # {rule} is filled with a fresh rule of the scope
    allowed: frozenset[str]
    form: Callable[[], dict[str, str]] = dict

    @property
    def id(self) -> str:
        return f"{self.method} {self.path.removeprefix(BASE)}"

    @property
    def repository(self) -> str | None:
        return "api" if "/r/api/" in self.path and "/inherited/" not in self.path else None


def _new() -> dict[str, str]:
    n = next(_ids)
    return {
        "title": f"New {n}",
        "id": f"new-{n}",
        "targets": "COMMIT",
        "triggers": "PUSH",
        "key_present": "on",
    }


CASES = (
    Case("GET", f"{BASE}/rules", READ),
    Case("GET", f"{BASE}/r/api/rules", READ),
    Case("GET", f"{BASE}/rules/{{rule}}", READ),
    Case("GET", f"{BASE}/r/api/rules/{{rule}}", READ),
    # the five screens that answered 200 to members before
    Case("GET", f"{BASE}/rules/-/new", ADMIN),
    Case("GET", f"{BASE}/r/api/rules/-/new", REPO),
    Case("POST", f"{BASE}/rules/-/try", ADMIN, lambda: dict(TRY)),
    Case("POST", f"{BASE}/r/api/rules/-/try", REPO, lambda: dict(TRY)),
    Case("GET", f"{BASE}/templates", ANY_ADMIN),
    # writes
    Case("POST", f"{BASE}/rules/-/new", ADMIN, _new),
    Case("POST", f"{BASE}/r/api/rules/-/new", REPO, _new),
    Case(
        "POST",
        f"{BASE}/rules/{{rule}}",
        ADMIN,
        lambda: {"title": "Saved", "targets": "COMMIT", "triggers": "PUSH", "key_present": "on"},
    ),
    Case(
        "POST",
        f"{BASE}/r/api/rules/{{rule}}",
        REPO,
        lambda: {"title": "Saved", "targets": "COMMIT", "triggers": "PUSH", "key_present": "on"},
    ),
    Case("POST", f"{BASE}/rules/{{rule}}/toggle", ADMIN, lambda: {"enabled": "false"}),
    Case("POST", f"{BASE}/r/api/rules/{{rule}}/toggle", REPO, lambda: {"enabled": "false"}),
    Case("POST", f"{BASE}/rules/{{rule}}/delete", ADMIN),
    Case("POST", f"{BASE}/r/api/rules/{{rule}}/delete", REPO),
    Case("POST", f"{BASE}/r/api/inherited/{{rule}}", REPO, lambda: {"enabled": "false"}),
    Case("POST", f"{BASE}/templates/commit-key-required/use", ADMIN, lambda: {"scope": ""}),
    Case("POST", f"{BASE}/templates/commit-key-required/use", REPO, lambda: {"scope": "api"}),
)


@dataclass
class Scene:
    site: Site
    browsers: dict[str, Browser]
    csrf: dict[str, str]


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scene]:
    with LiveServer(Path(tmp_path_factory.mktemp("rules")) / "data") as live:
        site = Site(live)
        site.add_repository("api")
        site.add_repository("web")
        browsers: dict[str, Browser] = {"anonymous": Browser(site.url)}
        csrf: dict[str, str] = {"anonymous": "0" * 64}
        tokens = {
            "admin": site.admin_token,
            "member": site.add_user("member", role="MEMBER"),
            "repo_admin": site.add_user("repo_admin", role="MEMBER", repository_admin=["api"]),
            "repo_admin_elsewhere": site.add_user(
                "repo_admin_elsewhere", role="MEMBER", repository_admin=["web"]
            ),
        }
        for role, token in tokens.items():
            b = Browser(site.url)
            assert b.sign_in(token)[0] == 303
            browsers[role], csrf[role] = b, b.csrf()
        yield Scene(site, browsers, csrf)


MATRIX = [pytest.param(c, r, id=f"{c.id} as {r}") for c in CASES for r in ROLES]


@pytest.mark.parametrize(("case", "role"), MATRIX)
def test_rule_editor_screens_follow_the_roles(scene: Scene, case: Case, role: str) -> None:
    path = case.path
    if "{rule}" in path:
        path = path.replace("{rule}", _rule(scene.site, case.repository))
    data = None
    if case.method == "POST":
        data = {**case.form(), "csrf_token": scene.csrf[role]}
    status, headers, text = scene.browsers[role].request(case.method, path, data)
    if role == "anonymous":
        assert status == 303 and headers["location"].startswith("/ui/login"), (status, headers)
    elif role in case.allowed:
        assert status in (200, 303), (status, text[:800])
    else:
        assert status == 403, (status, text[:300])
        assert "Not allowed" in text


def test_only_editors_see_try_it_and_the_templates_link(scene: Scene) -> None:
    rule = _rule(scene.site, None)
    for role in ("member", "repo_admin", "admin"):
        _, _, text = scene.browsers[role].request("GET", f"{BASE}/rules/{rule}")
        editor = role == "admin"
        assert ('id="try-button"' in text) is editor, role
        assert ("Read only" in text) is not editor, role
        _, _, text = scene.browsers[role].request("GET", f"{BASE}/rules")
        assert (f'href="{BASE}/templates"' in text) is (role != "member"), role


class JiraListener:
    """A loopback "Jira" that records every request and answers 401."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        requests = self.requests

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                requests.append(f"{self.command} {self.path}")
                body = json.dumps({"errorMessages": ["no"]}).encode()
                self.send_response(401)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _answer

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = LoopbackServer(Handler).start()
        self.url = f"http://127.0.0.1:{self.server.port}"


def test_a_member_cannot_run_jql_as_the_technical_user(site: Site) -> None:
    jira = JiraListener()
    try:
        site.add_repository("api")
        site.add_connection("Jira", jira.url, deployment="datacenter")
        jira.requests.clear()  # saving tested the connection; what counts is the member's Try it
        member = Browser(site.url)
        member.sign_in(site.add_user("max", role="MEMBER"))
        for scope in (BASE, f"{BASE}/r/api"):
            form = {**TRY, "csrf_token": member.csrf()}
            status, _, _ = member.request("POST", f"{scope}/rules/-/try", form)
            assert status == 403
        assert jira.requests == []
        # the control: the administrator's Try it does reach the listener
        admin = Browser(site.url)
        admin.sign_in(site.admin_token)
        status, _, text = admin.request(
            "POST", f"{BASE}/rules/-/try", {**TRY, "csrf_token": admin.csrf()}
        )
        assert status == 200, text[:500]
        assert jira.requests
    finally:
        jira.server.stop()
