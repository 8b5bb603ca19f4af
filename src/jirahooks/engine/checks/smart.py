"""Smart commits: Jira's commands in commit messages, linted so that a typo does not silently
do nothing in Jira.

Jira (with a DVCS / app link) reads, on a line of a commit message that names an issue key,
``#comment <text>``, ``#time <1w 2d 4h 30m> [<comment>]`` and ``#<transition>`` (the
transition's name with spaces written as ``-``, any case: ``#start-progress``, ``#close``).
A malformed command is ignored by Jira without a word.

Transition names are checked against the rule's ``smart_commit_transitions`` list, not against
Jira: the transitions an issue offers are read one issue at a time
(``GET /rest/api/3/issue/{key}/transitions``), which cannot be batched and would add a request
per key to every push — and the statuses of a workflow are not its transitions. So the rule names
the transitions its team uses (docs/rules.md, "Smart commits"; ADR 0016). With an empty list
transition names are not judged, only ``#time`` and ``#comment``.
"""

from __future__ import annotations

import re

from jirahooks.engine.checks.base import CheckContext, Outcome
from jirahooks.engine.facts import Code, Fact, FactStatus, Source
from jirahooks.engine.plan import Unit
from jirahooks.rules.model import Target

CATEGORY = ("SMART_COMMIT",)
# a command: '#' at the start or after white space, then a name; '#123' (a PR or ticket number
# of another tool) is not a command
_COMMAND = re.compile(r"(?:(?<=\s)|^)#([A-Za-z][A-Za-z0-9_-]*)")
_DURATION = re.compile(r"\d+(?:\.\d+)?[wdhm]")


def _time_ok(value: str) -> bool:
    """``1w 2d 4h 30m`` (any of them, in any order, decimals allowed), optionally followed by
    a comment: the first word must be a duration."""
    words = value.split()
    return bool(words) and _DURATION.fullmatch(words[0]) is not None


def _commands(line: str) -> list[tuple[str, str]]:
    """``(name, argument)`` per command of one line; the argument runs to the next command."""
    found = list(_COMMAND.finditer(line))
    out: list[tuple[str, str]] = []
    for i, match in enumerate(found):
        end = found[i + 1].start() if i + 1 < len(found) else len(line)
        out.append((match.group(1), line[match.end() : end].strip()))
    return out


def _transition_known(name: str, allowed: set[str]) -> bool:
    """Jira runs a transition named exactly so, or the one transition whose name starts with
    the command (``#start`` → Start Progress); an ambiguous start runs none."""
    if name in allowed:
        return True
    return len([t for t in allowed if t.startswith(name)]) == 1


def _suggest(name: str, known: list[str]) -> str:
    from jirahooks.engine.suggest import distance

    scored = sorted((distance(name.lower(), k.lower()), k) for k in known)
    return scored[0][1] if scored and scored[0][0] <= 2 else ""


def smart_commits(ctx: CheckContext, unit: Unit) -> Outcome:
    """Jira smart-commit commands on the lines of a commit message that name an issue key are
    well formed: ``#time`` is followed by a duration Jira reads (``1w 2d 4h 30m``), ``#comment``
    by a text, and any other ``#word`` is one of the rule's ``smart_commit_transitions`` or the
    start of exactly one of them (when it lists any; "did you mean" for a near miss). Commits only; a message without commands
    passes. Facts: MATCH / NOT_MATCH (category ``SMART_COMMIT``)."""
    if unit.target not in (Target.COMMIT, Target.COMMITS):
        return Outcome()
    transitions = [t.lstrip("#") for t in ctx.rule.checks.smart_commit_transitions]
    allowed = {t.lower() for t in transitions}
    commits = unit.commits if unit.target is Target.COMMITS else ()
    texts = [(c.message, c.hash) for c in commits] or [(unit.text, unit.ref)]
    keys = list(unit.keys)
    out = Outcome()
    for text, ref in texts:
        seen: list[str] = []
        for line in text.splitlines():
            upper = line.upper()
            if not any(k in upper for k in keys):
                continue
            for name, argument in _commands(line):
                lower = name.lower()
                problem: tuple[str, dict[str, object]] | None = None
                if lower == "time":
                    if not _time_ok(argument):
                        problem = ("smart.time.malformed", {"value": argument})
                elif lower == "comment":
                    if not argument:
                        problem = ("smart.comment.empty", {})
                elif allowed and not _transition_known(lower, allowed):
                    suggestion = _suggest(name, transitions)
                    if suggestion:
                        problem = (
                            "smart.transition.suggest",
                            {"name": name, "suggestion": suggestion},
                        )
                    else:
                        problem = (
                            "smart.transition.unknown",
                            {"name": name, "known": ", ".join(transitions)},
                        )
                if problem is None:
                    seen.append(f"#{lower}")
                    continue
                out.passed = False
                out.facts.append(
                    _fact(unit, Code.NOT_MATCH, FactStatus.ERROR, problem[0], ref, **problem[1])
                )
        if seen:
            out.facts.append(
                _fact(
                    unit,
                    Code.MATCH,
                    FactStatus.SUCCESS,
                    "smart.ok",
                    ref,
                    commands=", ".join(dict.fromkeys(seen)),
                )
            )
    return out


def _fact(
    unit: Unit, code: Code, status: FactStatus, message_id: str, ref: str, **params: object
) -> Fact:
    from dataclasses import replace

    from jirahooks.engine.facts import Group

    fact = unit.fact(code, status, Source.NAMING, message_id, group=Group.DETAIL, ref=ref)
    return replace(fact, params=params, category=CATEGORY)
