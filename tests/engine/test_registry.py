"""The check registry: one ordered table, unique ids, every check documented."""

from __future__ import annotations

from pathlib import Path

import pytest

from jirahooks.engine.checks import CHECKS, CheckSpec
from jirahooks.rules.model import Checks, KeysValid

DOCS_RULES = Path(__file__).resolve().parents[2] / "docs" / "rules.md"
IDS = [c.id for c in CHECKS]


def test_check_ids_are_unique() -> None:
    assert len(set(IDS)) == len(IDS)


@pytest.mark.parametrize("spec", CHECKS, ids=IDS)
def test_every_check_has_a_docstring(spec: CheckSpec) -> None:
    assert (spec.unit is None) != (spec.rule is None), "a check runs per target or per rule"
    assert len(spec.doc) > 40, f"{spec.id}: the docstring is the check's documentation"


@pytest.mark.parametrize("spec", CHECKS, ids=IDS)
def test_checks_are_off_by_default(spec: CheckSpec) -> None:
    assert not spec.enabled(Checks())


def test_every_check_can_be_switched_on() -> None:
    all_on = Checks(
        key_present=True,
        keys_valid=KeysValid.ALL,
        ignore_unknown_projects=True,
        jql="status = Done",
        consistency=True,
        naming="^x",
        no_merge_commits=True,
        single_commit=True,
        smart_commits=True,
    )
    assert [c.id for c in CHECKS if c.enabled(all_on)] == [i for i in IDS if i != "keys_valid_one"]
    assert "keys_valid_one" in [c.id for c in CHECKS if c.enabled(Checks(keys_valid=KeysValid.ONE))]


def test_every_check_is_documented_in_docs_rules_md() -> None:
    assert DOCS_RULES.is_file(), f"{DOCS_RULES} is missing: every check must be documented"
    text = DOCS_RULES.read_text(encoding="utf-8")
    missing = [i for i in IDS if i not in text]
    assert missing == [], f"checks not documented in docs/rules.md: {missing}"
