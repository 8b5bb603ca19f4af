"""Issue-key checks: present, escaped, unknown projects, every key valid, at least one valid."""

from __future__ import annotations

from jirahooks.engine.checks.base import CheckContext, Outcome
from jirahooks.engine.facts import Code, FactStatus, Group, Source
from jirahooks.engine.plan import Unit
from jirahooks.rules.model import Target

_S = Source.ISSUE_KEY


def key_present(ctx: CheckContext, unit: Unit) -> Outcome:
    """The target contains at least one issue key (escaped, ignored and unknown-project keys do
    not count). A target whose only keys are of projects that could not be classified (a
    project list could not be read) is undetermined: the Jira-unreachable policy decides.
    Facts: KEYS_PRESENT / NO_KEYS."""
    if unit.keys:
        fact = unit.fact(
            Code.KEYS_PRESENT,
            FactStatus.SUCCESS,
            _S,
            "keys.present",
            target=unit.noun,
            keys=", ".join(unit.keys),
        )
        return Outcome(True, [fact])
    if unit.unclassified_keys:
        fact = unit.fact(
            Code.CHECKED,
            FactStatus.WARNING,
            Source.JIRA_CONNECTION,
            "keys.present.undetermined",
            target=unit.noun,
            keys=", ".join(unit.unclassified_keys),
        )
        return Outcome(True, [fact], set(unit.unclassified_keys))
    message = "keys.none.commit" if unit.target is Target.COMMIT else "keys.none"
    return Outcome(
        False, [unit.fact(Code.NO_KEYS, FactStatus.ERROR, _S, message, target=unit.noun)]
    )


def escaped_keys(ctx: CheckContext, unit: Unit) -> Outcome:
    """Reports keys written escaped (``\\ABC-1`` or inside backticks): found, never evaluated.
    Never fails."""
    facts = [
        unit.fact(Code.FOUND, FactStatus.INFO, _S, "keys.escaped", group=Group.DETAIL, key=m.key)
        for m in unit.matches
        if m.escaped
    ]
    return Outcome(True, facts)


def unknown_projects(ctx: CheckContext, unit: Unit) -> Outcome:
    """With ``ignore_unknown_projects``, keys of projects that no enabled Jira connection knows
    (``UTF-8``, ``KIP-500``) are not treated as keys; this reports them. When a connection's
    project list could not be read, a key of a project no answering connection lists is not
    ignored but undetermined (unless a Jira found the issue), and reported as such. Never
    fails."""
    facts = [
        unit.fact(
            Code.NOT_FOUND,
            FactStatus.INFO,
            _S,
            "keys.unknown_project",
            group=Group.DETAIL,
            key=key,
            project=key.rsplit("-", 1)[0],
        )
        for key in unit.unknown_project_keys
    ]
    facts.extend(
        unit.fact(
            Code.CHECKED,
            FactStatus.WARNING,
            Source.JIRA_CONNECTION,
            "key.project_undetermined",
            group=Group.DETAIL,
            key=key,
            project=key.rsplit("-", 1)[0],
        )
        for key in unit.unclassified_keys
    )
    # each check that the unclassified keys matter to marks them undetermined itself
    return Outcome(True, facts)


def _key_facts(ctx: CheckContext, unit: Unit, out: Outcome) -> tuple[list[str], list[str]]:
    """Per-key VALID / INVALID facts; returns (valid, invalid) and fills out.undetermined."""
    valid: list[str] = []
    invalid: list[str] = []
    for key in unit.keys:
        issue = ctx.issue(key)
        if issue is not None:
            valid.append(key)
            if issue.current_key != key:
                out.facts.append(
                    unit.fact(
                        Code.VALID,
                        FactStatus.SUCCESS,
                        _S,
                        "key.moved",
                        group=Group.DETAIL,
                        key=key,
                        current=issue.current_key,
                        status=issue.status or "?",
                    )
                )
            else:
                out.facts.append(
                    unit.fact(
                        Code.VALID,
                        FactStatus.SUCCESS,
                        _S,
                        "key.valid",
                        group=Group.DETAIL,
                        key=key,
                        status=issue.status or "?",
                    )
                )
        elif key in ctx.resolution.undetermined:
            out.undetermined.add(key)
            out.facts.append(
                unit.fact(
                    Code.CHECKED,
                    FactStatus.WARNING,
                    Source.JIRA_CONNECTION,
                    "key.undetermined",
                    group=Group.DETAIL,
                    key=key,
                )
            )
        else:
            invalid.append(key)
            out.facts.append(
                unit.fact(
                    Code.INVALID, FactStatus.ERROR, _S, "key.invalid", group=Group.DETAIL, key=key
                )
            )
    return valid, invalid


def _offline(ctx: CheckContext, unit: Unit) -> Outcome | None:
    if not ctx.offline:
        return None
    return Outcome(True, [unit.fact(Code.CHECKED, FactStatus.INFO, _S, "jira.offline")])


def keys_valid_all(ctx: CheckContext, unit: Unit) -> Outcome:
    """Every key in the target resolves in some enabled Jira connection ("not found" and "not
    visible to the connection's user" look the same in Jira). Facts: VALID / INVALID per key,
    ALL_VALID / NOT_ALL_VALID."""
    offline = _offline(ctx, unit)
    if offline is not None:
        return offline
    out = Outcome()
    out.undetermined.update(unit.unclassified_keys)
    if not unit.keys and not unit.unclassified_keys:
        out.facts.append(
            unit.fact(Code.CHECKED, FactStatus.INFO, _S, "keys.none_to_check", target=unit.noun)
        )
        return out
    valid, invalid = _key_facts(ctx, unit, out)
    if invalid:
        out.passed = False
        out.undetermined.clear()  # already failing: Jira's answer for the rest cannot save it
        out.facts.append(
            unit.fact(
                Code.NOT_ALL_VALID,
                FactStatus.ERROR,
                _S,
                "keys.not_all_valid",
                keys=", ".join(invalid),
            )
        )
    elif not out.undetermined:
        out.facts.append(
            unit.fact(
                Code.ALL_VALID, FactStatus.SUCCESS, _S, "keys.all_valid", keys=", ".join(valid)
            )
        )
    return out


def keys_valid_one(ctx: CheckContext, unit: Unit) -> Outcome:
    """At least one key in the target resolves. Facts: ONE_VALID / NONE_VALID."""
    offline = _offline(ctx, unit)
    if offline is not None:
        return offline
    out = Outcome()
    out.undetermined.update(unit.unclassified_keys)
    valid, invalid = _key_facts(ctx, unit, out)
    if valid:
        out.undetermined.clear()
        out.facts.append(
            unit.fact(
                Code.ONE_VALID, FactStatus.SUCCESS, _S, "keys.one_valid", keys=", ".join(valid)
            )
        )
    elif not out.undetermined:
        out.passed = False
        out.facts.append(
            unit.fact(
                Code.NONE_VALID,
                FactStatus.ERROR,
                _S,
                "keys.none_valid",
                keys=", ".join(invalid) or "-",
            )
        )
    return out
