"""Named groups (``settings.groups``) and ``exemptions.escape.groups`` on the server: the admin
API validates them (a repository may name a workspace group, and the workspace cannot remove it
from under the repository), the Validation API fails closed (it does not know who pushed), and
``jirahooks apply`` / ``export`` carry the groups unchanged. SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.server.conftest import WS, Server, TestClient, compact, sign

from jirahooks.cli import main
from jirahooks.server import ServerSettings, create_app

GROUPS = {"release-managers": ["alice", "*@release.example.com"]}
ESCAPE = {"exemptions": {"escape": {"allowed": True, "groups": {"include": ["release-managers"]}}}}
ESCAPED = {"hash": "e" * 40, "message": "x [no-jira: hotfix]", "authorDisplayName": "alice"}


def messages(body: dict[str, Any]) -> list[str]:
    return [f["message"] for rv in body["ruleValidations"] for f in rv["checkFacts"]]


def test_groups_through_the_admin_api_and_the_validation_api(server: Server) -> None:
    server.add_repository("api")
    secret = server.validation_token("ci", "api")["secret"]
    server.add_rule()
    server.ok("PUT", f"/workspaces/{WS}/settings", json={"groups": GROUPS})
    # the repository names the workspace's group
    out = server.ok("PUT", f"/workspaces/{WS}/repositories/api/settings", json=ESCAPE)
    assert out["effective"]["groups"] == GROUPS
    assert out["effective"]["exemptions"]["escape"]["groups"] == {"include": ["release-managers"]}

    # the Validation API does not know who pushed: refused, and said why
    response = server.validate(
        {"triggerType": "PUSH", "branchName": "main", "commits": [ESCAPED]}, secret
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["result"] == "BLOCK"
    assert any(
        "limited to members of some groups, and who pushed is not known here" in m
        for m in messages(body)
    )

    # a group that is not defined: 422 with the path and a did-you-mean hint
    typo = {"exemptions": {"escape": {"allowed": True, "groups": {"include": ["release-manager"]}}}}
    response = server.call("PUT", f"/workspaces/{WS}/repositories/api/settings", json=typo)
    assert response.status_code == 422, response.text
    (problem,) = response.json()["problems"]
    assert problem == {
        "path": "repositories[api].settings.exemptions.escape.groups.include[0]",
        "message": "no group named 'release-manager' in the settings' groups",
        "hint": "did you mean 'release-managers'?",
    }

    # the workspace cannot remove the group the repository names
    response = server.call("PUT", f"/workspaces/{WS}/settings", json={"groups": {"ops": ["bob"]}})
    assert response.status_code == 422, response.text
    (problem,) = response.json()["problems"]
    assert problem["path"] == "repositories[api].settings.exemptions.escape.groups.include[0]"
    assert server.ok("GET", f"/workspaces/{WS}/settings")["settings"] == {"groups": GROUPS}

    # a bad member is refused with its path
    bad = {"groups": {"release-managers": ["alice", " bob"]}}
    response = server.call("PATCH", f"/workspaces/{WS}/settings", json=bad)
    assert response.status_code == 422
    assert response.json()["problems"][0]["path"] == "settings.groups.release-managers[1]"


DOCUMENT = """\
workspace: acme
settings:
  groups:
    release-managers: [alice, "*@release.example.com"]
rules:
  - template: commit-key-required
repositories:
  - slug: api
    settings:
      exemptions:
        escape: {allowed: true, groups: {include: [release-managers]}}
  - slug: web
    settings:
      groups: {web-leads: [carol]}
      exemptions:
        escape: {allowed: true, groups: {exclude: [web-leads]}}
validation_tokens:
  - name: ci
    secret: ${CI_HOOK_SECRET}
"""


def test_groups_round_trip_through_apply_and_export(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CI_HOOK_SECRET", "ci-hook-secret-value")
    monkeypatch.delenv("JIRAHOOKS_SECRET_KEY", raising=False)
    monkeypatch.delenv("JIRAHOOKS_DATABASE_URL", raising=False)
    doc = tmp_path / "jirahooks.yml"
    doc.write_text(DOCUMENT, encoding="utf-8")
    args = ["--data-dir", str(tmp_path / "data"), "--database-url", database_url]
    assert main(["apply", str(doc), *args]) == 0

    out_file = tmp_path / "export.yml"
    assert main(["export", "--workspace", "acme", "-o", str(out_file), *args]) == 0
    data = yaml.safe_load(out_file.read_text(encoding="utf-8"))
    original = yaml.safe_load(DOCUMENT)
    assert data["settings"] == original["settings"]
    assert [r["settings"] for r in data["repositories"]] == [
        r["settings"] for r in original["repositories"]
    ]
    # re-applying the export changes nothing, and the store still holds the same groups
    assert main(["apply", str(out_file), *args]) == 0
    again = tmp_path / "again.yml"
    assert main(["export", "--workspace", "acme", "-o", str(again), *args]) == 0
    assert yaml.safe_load(again.read_text(encoding="utf-8")) == data

    settings = ServerSettings(data_dir=tmp_path / "data", database_url=database_url)
    with TestClient(create_app(settings)) as client:
        body = compact({"triggerType": "PUSH", "branchName": "main", "commits": [ESCAPED]})
        response = client.post(
            "/api/validate/acme?repoSlug=api",
            content=body,
            headers={"x-hub-signature-256": sign("ci-hook-secret-value", body)},
        )
        assert response.status_code == 200, response.text
        assert response.json()["result"] == "BLOCK"  # who pushed is unknown: fails closed
