"""Naming convention: a regular expression (RE2) the target's text must match."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from jirahooks.engine.checks.base import CheckContext, Outcome
from jirahooks.engine.facts import Code, FactStatus, Source
from jirahooks.engine.plan import Unit
from jirahooks.i18n import MessageRef
from jirahooks.keys import compile_user_regex
from jirahooks.rules.model import Target


@lru_cache(maxsize=256)
def _compiled(pattern: str) -> Any:
    return compile_user_regex(pattern)


def _shown(text: str) -> str:
    first = text.split("\n", 1)[0]
    return first if len(first) <= 80 else first[:77] + "..."


def naming(ctx: CheckContext, unit: Unit) -> Outcome:
    """The target's text (branch name, commit message, PR title or description) must match the
    rule's ``naming`` pattern — a search, so anchor with ``^`` and ``$`` for a full match. On
    COMMITS every commit message must match. RE2 runs in linear time: an admin's pattern cannot
    hang the hook. Facts: MATCH / NOT_MATCH."""
    pattern = ctx.rule.checks.naming
    regex = _compiled(pattern)
    texts = (
        [(c.message, c.hash) for c in unit.commits]
        if unit.target is Target.COMMITS
        else [(unit.text, unit.ref)]
    )
    # each commit of a COMMITS target is named on its own: "Commit 'fix' does not match …"
    noun = MessageRef("target.COMMIT") if unit.target is Target.COMMITS else unit.noun
    out = Outcome()
    for text, ref in texts:
        if regex.search(text) is not None:
            out.facts.append(
                unit.fact(
                    Code.MATCH,
                    FactStatus.SUCCESS,
                    Source.NAMING,
                    "naming.match",
                    ref=ref,
                    target=noun,
                    text=_shown(text),
                )
            )
        else:
            out.passed = False
            out.facts.append(
                unit.fact(
                    Code.NOT_MATCH,
                    FactStatus.ERROR,
                    Source.NAMING,
                    "naming.not_match",
                    ref=ref,
                    target=noun,
                    text=_shown(text),
                    pattern=pattern,
                )
            )
    return out
