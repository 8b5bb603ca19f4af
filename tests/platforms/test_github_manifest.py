"""The GitHub App manifest shipped in deploy/github/app-manifest.json: the permissions the
adapter's requests need, events the adapter reads, every permission valid per GitHub's REST
description (when ../shared/specs is there) and documented in docs/github.md."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.fakes.github_schema import REST, document

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = ROOT / "deploy" / "github" / "app-manifest.json"
DOCS = ROOT / "docs" / "github.md"

# what each adapter request needs (docs/github.md, "Permissions")
NEEDED = {
    "checks": "write",  # POST/PATCH …/check-runs, GET …/commits/{ref}/check-runs
    "pull_requests": "write",  # GET …/pulls…, reviews (approve / request changes / dismiss)
    "contents": "read",  # GET …/commits/{ref}, …/compare/{basehead}
    "statuses": "write",  # POST …/statuses/{sha} (the fallback)
    "metadata": "read",  # every repository endpoint
}
HANDLED_EVENTS = {"pull_request", "push", "merge_group", "check_run", "check_suite"}


def test_manifest_grants_what_the_adapter_needs() -> None:
    manifest = json.loads(MANIFEST.read_text(encoding="utf-8"))
    permissions = manifest["default_permissions"]
    for name, level in NEEDED.items():
        assert permissions.get(name) in ({level} if level == "write" else {"read", "write"}), name
    assert set(manifest["default_events"]) == HANDLED_EVENTS
    assert manifest["hook_attributes"]["url"].startswith("https://")
    assert manifest["public"] is False


def test_manifest_permissions_are_github_permissions() -> None:
    doc = document(REST)
    if doc is None:
        pytest.skip(f"GitHub's REST OpenAPI document is not at {REST} (../shared/specs is absent)")
    known = doc["components"]["schemas"]["app-permissions"]["properties"]
    manifest = json.loads(MANIFEST.read_text(encoding="utf-8"))
    for name, level in manifest["default_permissions"].items():
        assert name in known, name
        assert level in known[name]["enum"], (name, level)


def test_docs_name_every_permission_and_event() -> None:
    text = DOCS.read_text(encoding="utf-8")
    manifest = json.loads(MANIFEST.read_text(encoding="utf-8"))
    for name in manifest["default_permissions"]:
        assert f"`{name}`" in text, name
    for event in manifest["default_events"]:
        assert f"`{event}`" in text, event
