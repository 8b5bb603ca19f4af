"""Setting one override keeps the others (issue 14): `PUT …/settings` replaces the whole set
(documented), `PATCH` changes only the fields it names (JSON merge patch: null removes).
Before, setting the Jira-down policy with PUT silently reset the key pattern, and there was no
way to change one override alone."""

from __future__ import annotations

from tests.server.conftest import WS, Server


def test_patching_one_repository_override_keeps_the_others(server: Server) -> None:
    server.add_repository("api")
    path = f"/workspaces/{WS}/repositories/api/settings"
    server.ok("PUT", path, json={"key_pattern": "[A-Z]{2,}-[0-9]+", "jira_unreachable": "WARN"})
    changed = server.ok("PATCH", path, json={"jira_unreachable": "ALLOW"})
    assert changed["settings"] == {"key_pattern": "[A-Z]{2,}-[0-9]+", "jira_unreachable": "ALLOW"}
    assert changed["effective"]["key_pattern"] == "[A-Z]{2,}-[0-9]+"
    assert server.ok("GET", path)["settings"] == changed["settings"]
    # null removes one override: the workspace value is inherited again
    removed = server.ok("PATCH", path, json={"jira_unreachable": None})
    assert removed["settings"] == {"key_pattern": "[A-Z]{2,}-[0-9]+"}
    assert removed["effective"]["jira_unreachable"] == "BLOCK"
    # a bad value changes nothing
    bad = server.call("PATCH", path, json={"jira_unreachable": "MAYBE"})
    assert bad.status_code == 422 and bad.json()["problems"][0]["path"].endswith(
        "settings.jira_unreachable"
    )
    assert server.ok("GET", path)["settings"] == {"key_pattern": "[A-Z]{2,}-[0-9]+"}


def test_patching_one_workspace_setting_keeps_the_others(server: Server) -> None:
    path = f"/workspaces/{WS}/settings"
    server.ok("PUT", path, json={"key_pattern": "[A-Z]{3}-[0-9]+", "time_budget_seconds": 5})
    changed = server.ok("PATCH", path, json={"jira_unreachable": "WARN"})
    assert changed["settings"] == {
        "key_pattern": "[A-Z]{3}-[0-9]+",
        "time_budget_seconds": 5,
        "jira_unreachable": "WARN",
    }
    # PUT still replaces: what it does not send goes back to the default
    replaced = server.ok("PUT", path, json={"jira_unreachable": "ALLOW"})
    assert replaced["settings"] == {"jira_unreachable": "ALLOW"}


def test_only_repository_admins_patch_overrides(server: Server) -> None:
    server.add_repository("api")
    server.ok("POST", f"/workspaces/{WS}/users", json={"name": "mia", "role": "MEMBER"})
    token = server.ok("POST", f"/workspaces/{WS}/users/mia/tokens", json={"name": "t"})["token"]
    path = f"/workspaces/{WS}/repositories/api/settings"
    assert server.call("PATCH", path, token, json={"jira_unreachable": "ALLOW"}).status_code == 403
    assert server.ok("GET", path)["settings"] == {}
