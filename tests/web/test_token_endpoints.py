"""A workspace-wide validation token: the endpoint a user pastes names the repository, per
repository, in the admin API's answer and on the web UI's token page (issue 13 A.4). The
endpoint without ``?repoSlug=`` answers 400 to every commit, so it is never offered as such."""

from __future__ import annotations

import html
import re
from typing import Any

from tests.web.conftest import WS, Browser, Site

PUSH: dict[str, Any] = {
    "triggerType": "PUSH",
    "branchName": "feature/x",
    "commits": [{"hash": "a" * 40, "message": "ABC-1 fix", "authorDisplayName": "Ada"}],
}


def test_admin_api_gives_an_endpoint_per_repository(site: Site) -> None:
    site.add_repository("api")
    site.add_repository("web")
    created = site.api("POST", f"/workspaces/{WS}/validation-tokens", {"name": "all"})
    endpoints = {e["repository"]: e["endpoint"] for e in created["endpoints"]}
    assert set(endpoints) == {"api", "web"}
    for slug, url in endpoints.items():
        assert url == f"{site.url}/api/validate/{WS}?repoSlug={slug}"
        status, body = site.validate(url, created["secret"], PUSH)
        assert status == 200 and body["result"] in {"PASS", "IGNORE", "SKIP"}, body
    # the single endpoint is visibly a template, never the bare URL that answers 400
    assert created["endpoint"].endswith("?repoSlug=<repository-slug>")
    repo = site.api(
        "POST", f"/workspaces/{WS}/validation-tokens", {"name": "api-only", "repository": "api"}
    )
    assert [e["repository"] for e in repo["endpoints"]] == ["api"]
    assert repo["endpoint"] == endpoints["api"]


def test_token_page_lists_the_endpoint_of_every_repository(site: Site) -> None:
    site.add_repository("api")
    site.add_repository("web")
    b = Browser(site.url)
    b.sign_in(site.admin_token)
    csrf = b.csrf()
    status, _, text = b.request(
        "POST", f"/ui/w/{WS}/tokens", [("csrf_token", csrf), ("name", "all"), ("repository", "")]
    )
    assert status == 200, text[:500]
    shown = [html.unescape(v) for v in re.findall(r'id="endpoint-\d+" [^>]*value="([^"]+)"', text)]
    assert shown == [f"{site.url}/api/validate/{WS}?repoSlug={s}" for s in ("api", "web")]
    secret = re.search(r'id="new-secret" type="text" readonly value="([^"]+)"', text)
    assert secret
    for url in shown:
        assert site.validate(url, secret.group(1), PUSH)[0] == 200
    assert f'value="{site.url}/api/validate/{WS}"' not in text
