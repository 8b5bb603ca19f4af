"""`jirahooks apply` / `export` with a ``platforms:`` section (GitHub, GitLab, Bitbucket Data
Center), on SQLite and PostgreSQL: secrets come from ``${ENV}`` and are never exported, the
non-secret settings are, the export re-applies without changes, a bad value is refused with its
path before anything is stored, and moving a stored token needs it again."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select
from tests.fakes.fake_github import app_key_pem

from jirahooks.cli import main
from jirahooks.crypto import load_box
from jirahooks.store.database import Database
from jirahooks.store.deliveries import PlatformConfig

GL_TOKEN = "glpat-SECRET-token-value"
HOOK = "hook-SECRET-value"

DOCUMENT = """\
workspace: acme
platforms:
  gitlab:
    api_url: https://gitlab.example.com
    namespace: acme/platform
    token: ${GL_TOKEN}
    webhook_secret: ${HOOK}
  github:
    api_url: https://github.example.com/api/v3
    app_id: "424242"
    installation_id: "31337"
    owner: acme
    private_key: ${GH_KEY}
    use_checks: false
  bitbucket-dc:
    api_url: https://git.example.com/bitbucket
    project_key: PRJ
    auth_kind: personal_access_token
    token: ${DC_TOKEN}
"""


@pytest.fixture
def store(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setenv("GL_TOKEN", GL_TOKEN)
    monkeypatch.setenv("HOOK", HOOK)
    monkeypatch.setenv("GH_KEY", app_key_pem())
    monkeypatch.setenv("DC_TOKEN", "dc-SECRET-token")
    monkeypatch.delenv("JIRAHOOKS_SECRET_KEY", raising=False)
    monkeypatch.delenv("JIRAHOOKS_DATABASE_URL", raising=False)
    data_dir = tmp_path / "data"
    return {
        "args": ["--data-dir", str(data_dir), "--database-url", database_url],
        "data_dir": data_dir,
        "url": database_url,
        "tmp": tmp_path,
    }


def rows(store: dict[str, Any]) -> dict[str, tuple[PlatformConfig, str, str]]:
    async def read() -> dict[str, tuple[PlatformConfig, str, str]]:
        box = load_box(store["data_dir"])
        database = Database(store["url"])
        try:
            async with database.session() as session:
                found = (await session.execute(select(PlatformConfig))).scalars()
                return {
                    r.platform: (
                        r,
                        box.decrypt(r.token_encrypted) if r.token_encrypted else "",
                        box.decrypt(r.webhook_secret_encrypted)
                        if r.webhook_secret_encrypted
                        else "",
                    )
                    for r in found
                }
        finally:
            await database.dispose()

    return asyncio.run(read())


def write(store: dict[str, Any], text: str, name: str = "doc.yml") -> str:
    path = store["tmp"] / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_apply_stores_each_host_and_export_round_trips(
    store: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    doc = write(store, DOCUMENT)
    assert main(["apply", doc, *store["args"]]) == 0
    out = capsys.readouterr().out
    for platform in ("github", "gitlab", "bitbucket-dc"):
        assert f"platform.create platform:{platform}" in out
    assert GL_TOKEN not in out and HOOK not in out and "PRIVATE KEY" not in out
    stored = rows(store)
    gitlab, token, hook = stored["gitlab"]
    assert (gitlab.api_url, gitlab.remote_workspace, token, hook) == (
        "https://gitlab.example.com",
        "acme/platform",
        GL_TOKEN,
        HOOK,
    )
    github = stored["github"][0]
    assert github.settings["app_id"] == "424242" and github.settings["installation_id"] == "31337"
    assert github.settings["use_checks"] == "false"  # a YAML boolean, stored as the API's
    assert stored["github"][1] == app_key_pem().strip()
    assert stored["bitbucket-dc"][0].auth_kind == "personal_access_token"
    assert main(["apply", doc, *store["args"]]) == 0
    assert "changed 0 object(s)" in capsys.readouterr().out

    exported = store["tmp"] / "export.yml"
    assert main(["export", "--workspace", "acme", "-o", str(exported), *store["args"]]) == 0
    text = exported.read_text(encoding="utf-8")
    assert GL_TOKEN not in text and HOOK not in text and "PRIVATE KEY" not in text
    data = yaml.safe_load(text)["platforms"]
    assert data["gitlab"] == {
        "api_url": "https://gitlab.example.com",
        "namespace": "acme/platform",
        "token": "${JIRAHOOKS_GITLAB_TOKEN}",
        "webhook_secret": "${JIRAHOOKS_GITLAB_WEBHOOK_SECRET}",
    }
    assert data["github"]["private_key"] == "${JIRAHOOKS_GITHUB_PRIVATE_KEY}"
    assert data["github"]["owner"] == "acme" and data["github"]["app_id"] == "424242"
    assert data["github"]["use_checks"] is False  # exported as a boolean again
    assert data["bitbucket-dc"]["token"] == "${JIRAHOOKS_BITBUCKET_DC_TOKEN}"
    assert data["bitbucket-dc"]["auth_kind"] == "personal_access_token"
    assert main(["apply", str(exported), *store["args"]]) == 0
    out = capsys.readouterr().out
    assert "changed 0 object(s)" in out and "stored secret is kept" in out


@pytest.mark.parametrize(
    ("section", "path"),
    [
        ("gitlab:\n    api_url: gitlab.example.com\n", "platforms.gitlab.api_url"),
        ("gitlab:\n    token: glpat-literal\n", "platforms.gitlab.token"),
        ("github:\n    app_id: '1'\n    installation_id: '1'\n", "platforms.github.owner"),
        (
            "github:\n    app_id: '1'\n    owner: acme\n    use_checks: maybe\n",
            "platforms.github.use_checks",
        ),
        ("gitea:\n    api_url: https://x.example\n", "platforms.gitea"),
    ],
)
def test_a_bad_value_is_refused_with_its_path(
    store: dict[str, Any], capsys: pytest.CaptureFixture[str], section: str, path: str
) -> None:
    doc = write(store, "workspace: acme\nplatforms:\n  " + section)
    assert main(["apply", doc, *store["args"]]) == 3
    err = capsys.readouterr().err
    assert path in err and "glpat-literal" not in err


def test_a_new_destination_needs_the_token_again(
    store: dict[str, Any], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert main(["apply", write(store, DOCUMENT), *store["args"]]) == 0
    capsys.readouterr()
    monkeypatch.delenv("GL_TOKEN")
    moved = DOCUMENT.replace("https://gitlab.example.com", "https://elsewhere.example.com")
    assert main(["apply", write(store, moved, "moved.yml"), *store["args"]]) == 3
    err = capsys.readouterr().err
    assert "platforms.gitlab.token" in err and "requires the token again" in err
    assert rows(store)["gitlab"][0].api_url == "https://gitlab.example.com"
