"""The evaluations page's evidence download in a real browser (issue 16): an auditor signs in,
chooses a period and a format, and downloads the CSV and the printable summary page of the
evaluations a real, signed Validation API call stored; a member sees no download, and the
download URL refuses them."""

from __future__ import annotations

import csv
import io
import re
import urllib.request
from datetime import UTC, datetime
from typing import Any

import pytest
from tests.web.conftest import WS, Site, sign_in

pytestmark = pytest.mark.browser

PUSH = {
    "triggerType": "PUSH",
    "branchName": "feature/ABC-1-login",
    "commits": [{"hash": "e" * 40, "message": "fix the login", "authorDisplayName": "Ada"}],
}


def scene(site: Site) -> int:
    site.add_repository("api")
    site.api("POST", f"/workspaces/{WS}/rules/from-template", {"template": "commit-key-required"})
    token = site.api("POST", f"/workspaces/{WS}/validation-tokens", {"name": "ci"})
    [endpoint] = [e["endpoint"] for e in token["endpoints"] if e["repository"] == "api"]
    status, body = site.validate(endpoint, token["secret"], PUSH)
    assert status == 200 and body["result"] == "BLOCK"
    items = site.api("GET", f"/workspaces/{WS}/evaluations")["items"]
    assert len(items) == 1
    return int(items[0]["id"])


def download(page: Any, form: Any, fmt: str) -> tuple[str, str]:
    form.get_by_label("Format").select_option(fmt)
    with page.expect_download() as info:
        form.get_by_role("button", name="Download evidence").click()
    done = info.value
    return done.suggested_filename, done.path().read_text(encoding="utf-8")


def test_an_auditor_downloads_the_evidence(page: Any, site: Site) -> None:
    evaluation_id = scene(site)
    auditor = site.add_user("audrey", role="AUDITOR")
    today = datetime.now(UTC).date().isoformat()
    sign_in(page, auditor)
    page.goto(f"/ui/w/{WS}/evaluations")
    form = page.get_by_role("form", name="Evidence download")
    form.get_by_label("From", exact=True).fill(today)
    form.get_by_label("To", exact=True).fill(today)

    page.goto(f"/ui/w/{WS}/evaluations/{evaluation_id}")
    assert page.locator("#chain-link").inner_text().startswith("link 1 · ")
    page.goto(f"/ui/w/{WS}/evaluations")
    form = page.get_by_role("form", name="Evidence download")
    form.get_by_label("From", exact=True).fill(today)
    form.get_by_label("To", exact=True).fill(today)
    name, text = download(page, form, "csv")
    assert name == f"evidence-{WS}-{today}-{today}.csv"
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["id"] for r in rows] == [str(evaluation_id)]
    assert rows[0]["result"] == "BLOCK" and rows[0]["who"] == "Ada"
    assert rows[0]["rules"] == "commit-key-required=BLOCK (enforce)"
    assert rows[0]["token"] == "ci" and rows[0]["chain_seq"] == "1"

    name, text = download(page, form, "html")
    assert name.endswith(".html")
    assert 'changes evaluated</td><td class="num">1</td>' in text
    assert "<script" not in text and "src=" not in text
    # the summary page opened in the browser, as someone would print it
    page.goto(f"/ui/w/{WS}/evaluations")  # leave the download page state behind
    summary = page.context.new_page()
    summary.set_content(text)
    assert re.search("Evidence: workspace default", summary.inner_text("h1"))
    assert summary.locator("table").count() >= 5
    summary.close()


def test_a_member_has_no_download(page: Any, site: Site) -> None:
    scene(site)
    member = site.add_user("mia", role="MEMBER")
    sign_in(page, member)
    page.goto(f"/ui/w/{WS}/evaluations")
    assert page.locator("#evaluations tbody tr").count() == 1  # members read the history
    assert page.get_by_role("button", name="Download evidence").count() == 0
    today = datetime.now(UTC).date().isoformat()
    response = page.request.get(f"/ui/w/{WS}/evidence?since={today}&until={today}")
    assert response.status == 403
    assert "AUDITOR" in response.text()
    # the API says the same to the member's token
    request = urllib.request.Request(
        f"{site.url}/api/v1/workspaces/{WS}/evidence?from={today}&to={today}",
        headers={"Authorization": f"Bearer {member}"},
    )
    try:
        urllib.request.urlopen(request, timeout=30)
        raise AssertionError("the member's export was not refused")
    except urllib.error.HTTPError as exc:
        assert exc.code == 403
