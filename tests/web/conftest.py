"""Fixtures for the web UI tests: the app served by a real uvicorn on 127.0.0.1 (free port,
temporary SQLite data directory), Debian's Chromium driven by Playwright (never a downloaded
browser), API helpers for setting the scene, and screenshots into docs/screenshots/.

Browser tests (marker ``browser``) skip, saying why, when /usr/bin/chromium or the playwright
package is missing (``scripts/services.sh`` installs Chromium on CI).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.cookiejar import CookieJar
from pathlib import Path
from typing import Any

import pytest
from tests.support.live import UvicornThread

from jirahooks.crypto import generate_key
from jirahooks.server import ServerSettings, create_app

# Playwright's wait for a page, a click or a locator: generous, because the whole suite shares a
# machine whose load (other test runs, helpers) can make a page load take many seconds; a test
# that waits this long has found a hang, not slowness.
TIMEOUT_MS = 30_000
CHROMIUM = Path(os.environ.get("JIRAHOOKS_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
WS = "default"
WIDE = {"width": 1280, "height": 860}
NARROW = {"width": 400, "height": 860}


class LiveServer(UvicornThread):
    """``create_app`` on a fresh SQLite data directory, under uvicorn in a thread."""

    def __init__(self, data_dir: Path) -> None:
        settings = ServerSettings(data_dir=data_dir, secret_key=generate_key())
        super().__init__(create_app(settings))

    @property
    def admin_token(self) -> str:
        first = self.app.state.jirahooks.first_start
        assert first is not None
        return str(first.token)


def http(
    method: str, url: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            raw = response.read()
            return response.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        return exc.code, json.loads(raw) if raw else None


@dataclass
class Site:
    """The running server plus helpers that set the scene through the admin API."""

    live: LiveServer
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.live.url

    @property
    def admin_token(self) -> str:
        return self.live.admin_token

    def api(self, method: str, path: str, body: Any = None, token: str | None = None) -> Any:
        headers = {"Authorization": f"Bearer {token or self.admin_token}"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        status, answer = http(method, f"{self.url}/api/v1{path}", data, headers)
        assert status < 300, (method, path, status, answer)
        return answer

    def add_repository(self, slug: str) -> None:
        self.api("POST", f"/workspaces/{WS}/repositories", {"slug": slug})

    def add_user(self, name: str, **roles: Any) -> str:
        self.api("POST", f"/workspaces/{WS}/users", {"name": name, **roles})
        created = self.api("POST", f"/workspaces/{WS}/users/{name}/tokens", {"name": "web"})
        self.tokens[name] = created["token"]
        return str(created["token"])

    def add_connection(self, name: str, url: str, **extra: Any) -> dict[str, Any]:
        body = {"name": name, "url": url, "deployment": "cloud", "email": "bot@example.com"}
        result: dict[str, Any] = self.api(
            "POST",
            f"/workspaces/{WS}/connections",
            {**body, "token": "t0ken", "save_anyway": True, **extra},
        )
        return result

    def validate(self, endpoint: str, secret: str, payload: dict[str, Any]) -> tuple[int, Any]:
        """A signed Validation API call, exactly as the reference hook client makes it."""
        body = json.dumps(payload, separators=(",", ":")).encode("ascii")
        signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        headers = {"Content-Type": "application/json", "x-hub-signature-256": signature}
        return http("POST", endpoint, body, headers)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class Browser:
    """A cookie-keeping HTTP client that does not follow redirects."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.jar = CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.jar), _NoRedirect()
        )

    def request(
        self,
        method: str,
        path: str,
        data: dict[str, str] | list[tuple[str, str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, str], str]:
        """One request; ``data`` is sent as a form (a list of pairs repeats a field)."""
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        req = urllib.request.Request(
            self.base + path, data=body, method=method, headers=headers or {}
        )
        try:
            with self.opener.open(req, timeout=30) as response:
                return response.status, dict(response.headers), response.read().decode()
        except urllib.error.HTTPError as exc:
            with exc:
                return exc.code, dict(exc.headers), exc.read().decode()

    def sign_in(self, token: str, next_url: str = "/ui/") -> tuple[int, dict[str, str], str]:
        _, _, text = self.request("GET", "/ui/login")
        match = re.search(r'name="csrf_token" value="([^"]+)"', text)
        assert match
        return self.request(
            "POST", "/ui/login", {"csrf_token": match.group(1), "token": token, "next": next_url}
        )

    def csrf(self, path: str = f"/ui/w/{WS}") -> str:
        _, _, text = self.request("GET", path)
        match = re.search(r'"X-CSRF-Token": "([0-9a-f]+)"', text)
        assert match, text[:500]
        return match.group(1)


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    with LiveServer(tmp_path / "data") as live:
        yield Site(live)


# Module scope, not session: Playwright's sync API keeps an event loop running in the main
# thread while it is open, and tests collected after the browser tests call asyncio.run().
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip(
            f"{CHROMIUM} is missing: install Debian's chromium "
            "(JIRAHOOKS_INSTALL_BROWSER=1 bash scripts/services.sh) to run the browser tests"
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("the playwright package is missing: pip install -e '.[dev]'")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Any, site: Site) -> Iterator[Any]:
    context = browser.new_context(viewport=WIDE, base_url=site.url)
    context.set_default_timeout(TIMEOUT_MS)
    tab = context.new_page()
    try:
        yield tab
    finally:
        context.close()


def sign_in(page: Any, token: str) -> None:
    page.goto("/ui/login")
    page.get_by_label("API token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/ui/w/**")


def screenshot(page: Any, name: str, *, narrow: bool = False, full_page: bool = True) -> None:
    """Save docs/screenshots/<name>.png (committed, shown in the README)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    if narrow:
        page.set_viewport_size(NARROW)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=full_page)
    if narrow:
        page.set_viewport_size(WIDE)


def confirm_in_page(page: Any, *, accept: bool) -> None:
    """Answer the page's own confirmation dialog (#confirm-dialog; never window.confirm)."""
    from playwright.sync_api import expect

    dialog = page.locator("#confirm-dialog")
    expect(dialog).to_be_visible()
    dialog.locator("#confirm-yes" if accept else "#confirm-no").click()
    expect(dialog).to_be_hidden()
