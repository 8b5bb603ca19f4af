"""A replay's report as data (``to_data``: what ``--format json`` prints and the HTML page
draws) and as text for a terminal. Pure string building."""

from __future__ import annotations

from typing import Any

from jirahooks import __version__
from jirahooks.output import short_hash
from jirahooks.replay.run import GroupTotals, Summary

UNITS = {"commit": "one per commit", "push": "one per push", "pr": "one per merged pull request"}
STATUSES = ("BLOCK", "WARNING", "PASS", "SKIP", "IGNORE")
TOP = 15  # authors and branches listed in the text report


def _counts(counts: Any) -> dict[str, int]:
    return {s: int(counts.get(s, 0)) for s in STATUSES}


def _groups(groups: dict[str, GroupTotals]) -> list[dict[str, Any]]:
    ordered = sorted(
        groups.values(),
        key=lambda g: (-g.counts["BLOCK"], -g.counts["WARNING"], -sum(g.counts.values()), g.name),
    )
    return [
        {"name": g.name, "changes": sum(g.counts.values()), **_counts(g.counts)} for g in ordered
    ]


def _ref(ref: str) -> str:
    return ref if ref.startswith("#") else short_hash(ref)


def to_data(summary: Summary) -> dict[str, Any]:
    """The report as JSON-ready data (documented in docs/cli.md, ``jirahooks replay``)."""
    return {
        "tool": "jirahooks replay",
        "version": __version__,
        "unit": summary.unit,
        "branch": summary.branch,
        "repository": summary.repository,
        "rulesFrom": summary.source,
        "totals": {
            "changes": summary.changes,
            "commits": summary.commits,
            "notJudged": summary.not_judged,
            **_counts(summary.results),
        },
        "jira": {
            "mode": summary.jira,
            "distinctKeys": summary.keys,
            "resolverCalls": summary.jira_calls,
            "problems": list(summary.jira_problems),
        },
        "rules": [
            {"id": r.id, "title": r.title, **_counts(r.counts)} for r in summary.rules.values()
        ],
        "authors": _groups(summary.authors),
        "branches": _groups(summary.branches),
        "days": [{"day": day, **_counts(c)} for day, c in sorted(summary.days.items())],
        "failures": [
            {
                "ref": f.ref,
                "status": f.status,
                "author": f.author,
                "branch": f.branch,
                "date": f.date,
                "title": f.title,
                "commits": f.commits,
                "rules": [
                    {
                        "id": r.rule,
                        "title": r.title,
                        "status": r.status,
                        "reasons": [{"commit": c, "message": m} for c, m in r.reasons],
                    }
                    for r in f.rules
                ],
            }
            for f in summary.failures
        ],
        "notes": list(summary.notes),
        "seconds": round(summary.seconds, 3),
    }


def text(summary: Summary, *, max_failures: int = 50) -> str:
    """The report for a terminal: totals, per rule, per author and branch, the blocked changes
    with their reasons (at most ``max_failures``; 0: all)."""
    t = summary.results
    lines = [
        f"jirahooks replay — {summary.changes} change(s) ({UNITS.get(summary.unit, summary.unit)}) over "
        f"{summary.commits} commit(s) of {summary.branch or 'HEAD'}, rules from {summary.source}",
        f"  would block {t['BLOCK']}, warn {t['WARNING']}, pass {t['PASS']}, "
        f"skip {t['SKIP'] + t['IGNORE']}",
    ]
    if summary.not_judged:
        lines.append(
            f"  {summary.not_judged} first-parent commit(s) are no merged pull request: not "
            "judged (--unit push judges them)"
        )
    if summary.jira == "asked":
        lines.append(
            f"  Jira: {summary.keys} distinct key(s) in {summary.jira_calls} batched call(s)"
        )
    else:
        lines.append("  Jira: not asked (format checks only; Jira checks say they did not run)")
    lines.extend(f"  ! {p}" for p in summary.jira_problems)
    lines.extend(f"  note: {n}" for n in summary.notes)
    if summary.rules:
        lines += ["", "Per rule                                   block   warn   pass   skip"]
        for rule in summary.rules.values():
            c = rule.counts
            lines.append(
                f"  {rule.title[:40]:<40} {c['BLOCK']:>6} {c['WARNING']:>6} {c['PASS']:>6} "
                f"{c['SKIP'] + c['IGNORE']:>6}"
            )
    for title, groups in (("author", summary.authors), ("branch", summary.branches)):
        rows = _groups(groups)
        if len(rows) < 2 and title == "branch":
            continue
        lines += ["", f"Per {title:<38}   changes  block   warn"]
        for row in rows[:TOP]:
            lines.append(
                f"  {row['name'][:40]:<40} {row['changes']:>7} {row['BLOCK']:>6} {row['WARNING']:>6}"
            )
        if len(rows) > TOP:
            lines.append(f"  … {len(rows) - TOP} more")
    blocked = [f for f in summary.failures if f.status == "BLOCK"]
    if blocked:
        lines += ["", f"Would block ({len(blocked)})"]
        shown = blocked if not max_failures else blocked[:max_failures]
        for failure in shown:
            lines.append(
                f"  ✖ {_ref(failure.ref)}  {failure.date[:10]}  {failure.author}: "
                f"{failure.title[:60]}"
            )
            for failed in failure.rules:
                if failed.status != "BLOCK":
                    continue
                lines.append(f"      {failed.title}")
                for commit, message in failed.reasons:
                    where = f"{short_hash(commit)}  " if commit and commit != failure.ref else ""
                    lines.append(f"        {where}{message}")
        if len(shown) < len(blocked):
            lines.append(
                f"  … {len(blocked) - len(shown)} more (--max-failures 0 lists all; "
                "--format json or html has every one)"
            )
    lines.append("")
    lines.append(f"replayed in {summary.seconds:.1f} s")
    return "\n".join(lines)
