"""``jirahooks apply`` at the trust boundary (issue 10, section 2): a configuration document with
text that cannot be stored — a lone surrogate, NUL, a control character, a bad repository slug,
absurd nesting — fails with exit code 3 and the path of the bad value, and writes nothing. On
SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from jirahooks.cli import main

GOOD = {
    "workspace": "acme",
    "rules": [{"id": "keys", "title": "Keys", "checks": {"key_present": True}}],
    "repositories": [{"slug": "api"}],
}


@pytest.fixture
def store(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    monkeypatch.delenv("JIRAHOOKS_SECRET_KEY", raising=False)
    monkeypatch.delenv("JIRAHOOKS_DATABASE_URL", raising=False)
    return ["--data-dir", str(tmp_path / "data"), "--database-url", database_url]


def exported(store: list[str], tmp_path: Path) -> Any:
    out = tmp_path / "export.json"
    assert main(["export", "--workspace", "acme", "--output", str(out), *store]) == 0
    return json.loads(out.read_text(encoding="utf-8"))


def bad_documents(tmp_path: Path) -> list[tuple[Path, str]]:
    def as_json(name: str, document: Any) -> Path:
        path = tmp_path / name
        path.write_text(json.dumps(document), encoding="ascii")  # lone surrogates as \ud800
        return path

    rule = GOOD["rules"][0]
    deep = tmp_path / "deep.json"
    deep.write_text(
        '{"workspace": "acme", "rules": [{"id": "k", "title": "K", "description": '
        + "[" * 5000
        + '"x"'
        + "]" * 5000
        + "}]}",
        encoding="utf-8",
    )
    yaml_nul = tmp_path / "nul.yml"
    yaml_nul.write_text(
        'workspace: acme\nrules:\n  - id: keys\n    title: "Keys \\0 nul"\n', encoding="utf-8"
    )
    return [
        (
            as_json("surrogate.json", {**GOOD, "rules": [{**rule, "title": "K \ud800"}]}),
            "rules[0].title",
        ),
        (as_json("control.json", {**GOOD, "rules": [{**rule, "hint": "a\x07b"}]}), "rules[0].hint"),
        (
            as_json("slug.json", {**GOOD, "repositories": [{"slug": "api\x00"}]}),
            "repositories[0].slug",
        ),
        (
            as_json("key.json", {**GOOD, "rules": [{**rule, "checks": {"\udc00": 1}}]}),
            "rules[0].checks",
        ),
        (deep, "deeper than 32 levels"),
        (yaml_nul, "rules[0].title"),
    ]


def test_apply_rejects_bad_text_and_writes_nothing(
    store: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = tmp_path / "good.json"
    good.write_text(json.dumps(GOOD), encoding="utf-8")
    assert main(["apply", str(good), *store]) == 0
    before = exported(store, tmp_path)
    capsys.readouterr()
    for path, where in bad_documents(tmp_path):
        assert main(["apply", str(path), *store]) == 3, path.name
        err = capsys.readouterr().err
        assert where in err, (path.name, err)
        assert "Traceback" not in err
    assert exported(store, tmp_path) == before
