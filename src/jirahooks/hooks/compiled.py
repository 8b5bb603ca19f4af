"""The commit-msg hook's compiled rules: local format-only checks without the engine.

A commit-msg hook in local mode without Jira judges one message against the repository's rules.
Importing the engine and the rule model for that (some thirty dataclasses and enums) costs
several bare interpreter starts, so the first run — which needs the engine anyway, to read and
validate the rules file — also *compiles* what a commit-msg needs of the rules (``compile_rules``)
and keeps it beside the parsed data in ``.git/jirahooks/rules-*.json``. Every later commit
with an unchanged rules file reads that form (``cached_form``) and judges the message with
``jirahooks.hooks.judge.evaluate``, which imports only ``keys`` (key extraction), ``i18n`` (the
messages) and ``re``.

``judge.evaluate`` answers exactly what the engine answers for the COMMIT event of a commit-msg (the
all-zero hash, the author's name, the current branch, no pull request, no pusher) with an
offline resolver: the same result document, facts, messages and hints, so the hook prints the
same and exits the same. ``tests/hooks/test_compiled.py`` holds the two side by side over
generated messages, branches and rule files (Hypothesis). What it cannot answer without Jira —
a rules file with Jira connections for this repository — is compiled to ``None``: the hook
then runs the engine, as before (and loads the Jira client only when Jira is really asked).

The form is plain JSON: per applicable rule its document form (``Rule.to_api``), conditions
with their globs as compiled regular expressions, and the checks; the settings the key
extraction needs. ``FORM_VERSION`` changes with its layout; a stale or foreign form is ignored.
"""

from __future__ import annotations

import json
import os

TYPE_CHECKING = False  # the hook path does not import typing
if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path
    from typing import Any

    from jirahooks.hooks.setup import LocalSetup
    from jirahooks.rules.model import Patterns, Rule, Settings

FORM_VERSION = 3  # 2: the rules' translations; 3: the rules' modes


# --- compiling: in the process that ran the engine -------------------------------------------


def _globs(patterns: Patterns) -> list[str | None] | None:
    """A glob condition as the regular expressions ``Patterns`` matches with (None: none)."""
    if patterns.empty:
        return None
    include, exclude = patterns._include, patterns._exclude
    return [include.pattern if include else None, exclude.pattern if exclude else None]


def _texts(rule: Rule) -> dict[str, Any]:
    """What the document shows of a rule in one language."""
    return {"api": rule.to_api(), "title": rule.title, "error": rule.error, "hint": rule.hint}


def _rule_form(rule: Rule, settings: Settings) -> dict[str, Any]:
    from jirahooks.rules.jql import check as jql_problem

    cond, checks = rule.conditions, rule.checks
    problem = jql_problem(checks.jql) if checks.jql else None
    return {
        **_texts(rule),
        # the rule's own translations (``Rule.localized``), by locale: the judge picks one
        "translations": {locale: _texts(rule.localized(locale)) for locale in rule.translations},
        "severity": rule.severity.value,
        "mode": rule.effective_mode(settings.default_mode).value,
        "strategy": rule.strategy.value,
        "targets": [t.value for t in rule.targets],
        "branches": _globs(cond.branches),
        "authors": _globs(cond.authors),
        # a commit-msg has no pusher and no groups: these conditions are decided here
        "users_skip": not cond.users.empty and not cond.users.allows(""),
        "groups_skip": not cond.groups.empty and not cond.groups.allows_any(frozenset()),
        "skip_merge_commits": cond.skip_merge_commits,
        "skip_reverts": cond.skip_reverts,
        "bypass_marker": cond.bypass_marker,
        "key_present": checks.key_present,
        "needs_keys": checks.needs_keys,
        "keys_valid": checks.keys_valid.value,
        "jql": checks.jql,
        "jql_problem": problem.message if problem is not None else None,
        "naming": checks.naming,
        "no_merge_commits": checks.no_merge_commits,
        "consistency": checks.consistency,
        "single_commit": checks.single_commit,
    }


def compile_rules(rules: Sequence[Rule], settings: Settings, *, with_jira: bool) -> Any:
    """The form of ``rules`` for a commit-msg, or None when the engine has to judge (the
    repository has Jira connections; a stored rule that cannot be read; exemptions are
    configured — bots, reverts, the escape token are the engine's, ``engine.exempt``)."""
    from jirahooks.rules.model import BrokenRule

    if with_jira or any(isinstance(r, BrokenRule) for r in rules) or settings.exemptions.any:
        return None
    if any(getattr(r.checks, "smart_commits", False) for r in rules):
        return None  # smart-commit linting (engine/checks/smart.py) runs in the engine
    from jirahooks.engine.suggest import message_template

    return {
        # the shape "did you mean" hints show a message in (engine/suggest.py)
        "message_template": message_template(rules, settings)[0],
        "version": FORM_VERSION,
        "enabled": settings.enabled,
        "key_pattern": settings.key_pattern,
        "ignored_keys": list(settings.ignored_keys),
        "backslash_escape": settings.backslash_escape,
        "backtick_escape": settings.backtick_escape,
        "case_insensitive": sorted(t.value for t in settings.case_insensitive),
        # the escape token is forbidden here (exemptions would have left it to the engine)
        "escape_token": settings.exemptions.escape.token,
        "rules": [_rule_form(r, settings) for r in rules if r.enabled and "COMMIT" in r.triggers],
    }


def cache_entry(path: str | os.PathLike[str], raw: bytes) -> tuple[str, str]:
    """The cache entry of the rules file at ``path`` with the bytes ``raw``: its file name and the
    key it must hold to apply — the bytes themselves (as latin-1 text, one character per byte)
    with jirahooks' version and ``_code_stamp``. The name is a CRC of the file's path and of the
    key: finding the entry needs no hash library, and since the key is compared in full, a
    collision is only a miss. Entries of other rules files (``rules-<path>-*``) are left alone."""
    import zlib

    key = f"{_code_stamp()}\0" + raw.decode("latin-1")
    where = zlib.crc32(os.fsencode(os.path.abspath(path)))
    return f"rules-{where:08x}-{zlib.crc32(key.encode('latin-1', 'replace')):08x}.json", key


# what the form bakes in: template expansion, the rule model's defaults, this module's layout
_BAKED_IN = ("rules/templates.py", "rules/model.py", "rules/config.py", "hooks/compiled.py")


def _code_stamp() -> str:
    """jirahooks' version and the modification times of the code a form bakes in, so that an
    upgrade without a new version number (an editable install) does not apply old forms."""
    from jirahooks import __version__

    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    stamps = []
    for name in _BAKED_IN:
        try:
            stamps.append(str(os.stat(os.path.join(package, name)).st_mtime_ns))
        except OSError:
            stamps.append("-")
    return f"jirahooks {__version__} " + " ".join(stamps)


def siblings(name: str) -> str:
    """The glob of the entries of the same rules file (older contents of it)."""
    return name.rsplit("-", 1)[0] + "-*.json"


def _load_entry(entry: str | os.PathLike[str], key: str) -> dict[str, Any] | None:
    try:
        with open(entry, encoding="utf-8") as fh:
            cached = json.load(fh)
    except (OSError, ValueError):
        return None
    return cached if isinstance(cached, dict) and cached.get("key") == key else None


def _slot_form(cached: dict[str, Any], repository: str | None) -> tuple[bool, Any]:
    """(found, form) of the entry's commit-msg slot for ``repository`` (form None: the engine
    must judge)."""
    slot = cached.get("commit_msg")
    if not isinstance(slot, dict) or slot.get("version") != FORM_VERSION:
        return False, None
    if slot.get("repository") != (repository or ""):
        return False, None
    form = slot.get("form")
    if form is None or (isinstance(form, dict) and form.get("version") == FORM_VERSION):
        return True, form
    return False, None


def remember(setup: LocalSetup, path: Path, repository: str | None, cache_dir: Path) -> None:
    """Add the commit-msg form of ``setup`` (the rules file ``path`` for ``repository``) to the
    file's cache entry (written by ``local.read_rules_cached``), unless it holds one already. No
    entry (the file's data is not kept as JSON), no form: the engine keeps judging."""
    from jirahooks.hooks.local import write_atomically

    try:
        name, key = cache_entry(path, path.read_bytes())
    except OSError:
        return
    cached = _load_entry(cache_dir / name, key)
    if cached is None or _slot_form(cached, repository)[0]:
        return
    with_jira = bool(setup.document.connections_for(repository))
    form = compile_rules(setup.rules, setup.settings, with_jira=with_jira)
    cached["commit_msg"] = {"version": FORM_VERSION, "repository": repository or "", "form": form}
    try:
        text = json.dumps(cached)
    except (TypeError, ValueError):
        return
    write_atomically(cache_dir / name, text, siblings=siblings(name))


def cached_form(path: str, repository: str | None, cache_dir: str) -> Any:
    """The commit-msg form for the rules file at ``path`` as it is now, or None (not compiled
    yet, the file changed, another repository, or a form the engine must stand in for)."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except OSError:
        return None
    name, key = cache_entry(path, raw)
    cached = _load_entry(os.path.join(cache_dir, name), key)
    return None if cached is None else _slot_form(cached, repository)[1]
