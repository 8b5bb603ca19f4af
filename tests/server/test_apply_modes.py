"""`jirahooks apply` and `export` carry rule modes, the default mode and the exemptions: what is
applied is what runs (a Validation API call) and what is exported re-applies unchanged."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from tests.server.conftest import TestClient, compact, sign

from jirahooks.cli import main
from jirahooks.server import ServerSettings, create_app

DOCUMENT = """\
workspace: acme
settings:
  default_mode: evaluate
  exemptions:
    bots: true
    escape: {allowed: true, token: skip-jira, branches: {include: ["hotfix/*"]}}
rules:
  - template: commit-key-required
  - id: subject
    title: Subject starts with a key
    mode: warn
    checks: {naming: '^[A-Z]+-[0-9]+ '}
repositories:
  - slug: api
    settings: {default_mode: enforce}
  - slug: web
validation_tokens:
  - name: ci
    secret: ${CI_HOOK_SECRET}
"""


def test_modes_and_exemptions_round_trip(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CI_HOOK_SECRET", "ci-hook-secret-value")
    monkeypatch.delenv("JIRAHOOKS_SECRET_KEY", raising=False)
    monkeypatch.delenv("JIRAHOOKS_DATABASE_URL", raising=False)
    doc = tmp_path / "jirahooks.yml"
    doc.write_text(DOCUMENT, encoding="utf-8")
    data_dir = tmp_path / "data"
    args = ["--data-dir", str(data_dir), "--database-url", database_url]
    assert main(["apply", str(doc), *args]) == 0

    out_file = tmp_path / "export.yml"
    assert main(["export", "--workspace", "acme", "-o", str(out_file), *args]) == 0
    data = yaml.safe_load(out_file.read_text(encoding="utf-8"))
    assert data["settings"]["default_mode"] == "evaluate"
    assert data["settings"]["exemptions"]["escape"]["token"] == "skip-jira"
    assert data["repositories"][0]["settings"] == {"default_mode": "enforce"}
    assert "settings" not in data["repositories"][1] or not data["repositories"][1]["settings"]
    subject = next(r for r in data["rules"] if r["id"] == "subject")
    assert subject["mode"] == "warn"
    assert main(["apply", str(out_file), *args]) == 0

    settings = ServerSettings(data_dir=data_dir, database_url=database_url)
    with TestClient(create_app(settings)) as client:

        def validate(repo: str, message: str, branch: str = "main") -> dict[str, object]:
            body = compact(
                {
                    "triggerType": "PUSH",
                    "branchName": branch,
                    "commits": [{"hash": "a" * 40, "message": message}],
                }
            )
            response = client.post(
                f"/api/validate/acme?repoSlug={repo}",
                content=body,
                headers={"x-hub-signature-256": sign("ci-hook-secret-value", body)},
            )
            assert response.status_code == 200, response.text
            answer: dict[str, object] = response.json()
            return answer

        # api enforces by default: the template blocks, the warn rule warns
        answer = validate("api", "no key")
        assert answer["result"] == "BLOCK"
        # web follows the workspace's default (evaluate): not shown; the warn rule warns
        answer = validate("web", "no key")
        assert answer["result"] == "WARNING"
        assert [v["rule"]["id"] for v in answer["ruleValidations"]] == ["subject"]  # type: ignore[union-attr,index]
        # the custom escape token, on an allowed branch
        assert validate("api", "typo [skip-jira: docs]", "hotfix/1")["result"] == "SKIP"
