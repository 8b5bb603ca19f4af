"""Built-in templates: a registry with unique ids, each valid, each documented, each printable."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
import yaml

from jirahooks.cli import main
from jirahooks.errors import EXIT_OK, EXIT_USAGE
from jirahooks.rules import load_document, parse_rule
from jirahooks.rules.templates import BY_NAME, TEMPLATES, Template

DOCS_RULES = Path(__file__).resolve().parents[2] / "docs" / "rules.md"
NAMES = [t.name for t in TEMPLATES]


def test_template_names_and_ids_are_unique() -> None:
    assert len(set(NAMES)) == len(NAMES)
    ids = [t.rule["id"] for t in TEMPLATES]
    assert len(set(ids)) == len(ids)
    assert list(BY_NAME) == NAMES


@pytest.mark.parametrize("template", TEMPLATES, ids=NAMES)
def test_every_template_validates(template: Template) -> None:
    rule = parse_rule(dict(template.rule), path=f"template {template.name}")
    assert rule.id == template.name
    assert rule.title and rule.error and rule.hint and rule.success
    assert template.summary


@pytest.mark.parametrize("template", TEMPLATES, ids=NAMES)
def test_every_template_is_usable_by_name(template: Template) -> None:
    (rule,) = load_document({"rules": [{"template": template.name}]}).rules
    assert rule == parse_rule(dict(template.rule))


def test_every_template_is_documented_in_docs_rules_md() -> None:
    assert DOCS_RULES.is_file(), f"{DOCS_RULES} is missing: every template must be documented"
    text = DOCS_RULES.read_text(encoding="utf-8")
    missing = [name for name in NAMES if name not in text]
    assert missing == [], f"templates not documented in docs/rules.md: {missing}"


def test_templates_list(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["templates", "list"]) == EXIT_OK
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == NAMES
    for line, template in zip(lines, TEMPLATES, strict=True):
        assert line.endswith(template.summary)


@pytest.mark.parametrize("fmt", ["yaml", "toml", "json"])
@pytest.mark.parametrize("template", TEMPLATES, ids=NAMES)
def test_templates_show_round_trips(
    template: Template, fmt: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["templates", "show", template.name, "--format", fmt]) == EXIT_OK
    out = capsys.readouterr().out
    parsed = {"yaml": yaml.safe_load, "toml": tomllib.loads, "json": json.loads}[fmt](out)
    assert parsed == {"rules": [dict(template.rule)]}
    (rule,) = load_document(parsed).rules
    assert rule == parse_rule(dict(template.rule))


def test_templates_show_defaults_to_yaml(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["templates", "show", "no-merge-commits"]) == EXIT_OK
    out = capsys.readouterr().out
    assert out.startswith("rules:\n- id: no-merge-commits\n")


def test_templates_show_unknown_name(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["templates", "show", "no-merge-commit"]) == EXIT_USAGE
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "unknown template 'no-merge-commit'" in captured.err
    assert "did you mean 'no-merge-commits'?" in captured.err
    assert "Traceback" not in captured.err
