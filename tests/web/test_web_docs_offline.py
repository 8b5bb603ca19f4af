"""``/docs`` works on a server without internet, and can send the admin token (issue 14).

On b9f4856 ``/docs`` loaded Swagger UI from a CDN — blank without internet — and the document
declared no auth scheme, so there was no "Authorize" to send a token with. Here Chromium loads
``/docs`` with every request to another host aborted, and Swagger UI renders the operations,
takes the API token through "Authorize" and a "Try it out" of ``GET /api/v1/me`` answers 200.
"""

from __future__ import annotations

import re
from typing import Any

from tests.web.conftest import Site


def test_docs_render_offline_and_send_the_token(page: Any, site: Site) -> None:
    from playwright.sync_api import expect

    elsewhere: list[str] = []

    def only_this_server(route: Any) -> None:
        if route.request.url.startswith(site.url):
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    page.route("**/*", only_this_server)
    page.goto("/docs")
    expect(page.locator(".opblock").first).to_be_visible()
    page.get_by_role("button", name=re.compile("Authorize")).first.click()
    page.locator(".modal-ux input[type=text], .modal-ux input[type=password]").first.fill(
        site.admin_token
    )
    page.locator(".modal-ux button.modal-btn.authorize").click()
    page.locator(".modal-ux button.btn-done").click()
    me = page.locator(".opblock-get", has=page.locator('[data-path="/api/v1/me"]')).first
    me.locator(".opblock-summary").click()
    me.get_by_role("button", name="Try it out").click()
    me.get_by_role("button", name="Execute").click()
    expect(
        me.locator(".live-responses-table td.response-col_status:not(.col_header)")
    ).to_contain_text("200")
    assert elsewhere == []
