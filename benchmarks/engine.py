"""Engine throughput over a large synthetic history, and resolver calls per event.

Prints:
* issue keys extracted per second over 100,000+ commit messages (default pattern and an admin
  pattern on RE2);
* commits evaluated per second by ``evaluate`` with a realistic rule set (key required, keys
  valid, JQL status, consistency, naming) against an in-memory resolver;
* the number of resolver calls for events of 10, 1,000 and 10,000 commits (constant by design);
* the same 10,000-commit push without and with every exemption preset (bots, host merges,
  reverts, release commits, an allowed escape token) and with every rule in evaluate mode,
  side by side: what ADR 0011's per-commit work costs.

Run: ``.venv/bin/python benchmarks/engine.py [--messages N]``. Figures depend on the machine;
nothing here asserts a threshold.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time

from _corpus import WORDS
from jirahooks.engine import InMemoryResolver, IssueData, evaluate
from jirahooks.event import Commit, Event, Trigger
from jirahooks.keys import KeyExtractor
from jirahooks.rules.config import load_document

PROJECTS = ["ABC", "PAY", "WEB", "OPS", "DATA_2"]


def messages(count: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 12)))
        roll = rng.random()
        if roll < 0.75:
            key = f"{rng.choice(PROJECTS)}-{rng.randint(1, 3000)}"
            body = f"{key} {words}"
        elif roll < 0.85:
            body = f"{words} (see {rng.choice(PROJECTS)}-{rng.randint(1, 3000)} and UTF-8)"
        else:
            body = f"{words}\n\nNo ticket: `ABC-1` is escaped here"
        if rng.random() < 0.3:
            body += "\n\n" + " ".join(rng.choice(WORDS) for _ in range(40))
        out.append(body)
    return out


RULES = {
    "rules": [
        {"template": "commit-key-required"},
        {"template": "all-keys-valid"},
        {"template": "issue-in-progress"},
        {"template": "same-issue", "triggers": ["PUSH"]},
        {"id": "subject", "title": "Subject style", "checks": {"naming": r"^\S.{0,71}(\n|$)"}},
    ]
}


def bench_extraction(texts: list[str]) -> None:
    print(f"== key extraction over {len(texts):,} commit messages")
    for label, extractor in (
        ("default pattern (re)", KeyExtractor()),
        ("admin pattern (RE2)", KeyExtractor(r"[A-Z][A-Z0-9_]+-[0-9]+")),
    ):
        start = time.perf_counter()
        found = sum(len(extractor.find(t)) for t in texts)
        elapsed = time.perf_counter() - start
        print(
            f"  {label:<22} {found:>9,} keys in {elapsed:6.3f} s  "
            f"= {found / elapsed:>12,.0f} keys/s, {len(texts) / elapsed:>10,.0f} messages/s"
        )


def resolver_for(texts: list[str]) -> InMemoryResolver:
    extractor = KeyExtractor()
    keys = {k for t in texts for k in extractor.keys(t)}
    issues = [
        IssueData(k, status="In Progress" if i % 5 else "Done")
        for i, k in enumerate(sorted(keys))
        if i % 50  # every 50th key does not exist
    ]
    in_progress = [i.key for i in issues if i.status == "In Progress"]
    return InMemoryResolver(issues, jql={'status = "In Progress"': in_progress})


def bench_evaluation(texts: list[str]) -> None:
    document = load_document(RULES)
    commits = tuple(Commit(f"{i:040x}", t, "Ada") for i, t in enumerate(texts))
    resolver = resolver_for(texts)
    print(f"== evaluate(): {len(document.rules)} rules, PUSH events")
    for size in (1_000, 10_000, len(commits)):
        event = Event(Trigger.PUSH, "feature/ABC-1-login", commits[:size])
        resolver.calls.clear()
        start = time.perf_counter()
        evaluation = asyncio.run(
            evaluate(event, document.rules, resolver, settings=document.settings)
        )
        elapsed = time.perf_counter() - start
        print(
            f"  {size:>7,} commits: {elapsed:6.2f} s = {size / elapsed:>9,.0f} commits/s, "
            f"result {evaluation.result.value}, resolver calls {len(resolver.calls)} "
            f"({', '.join(name for name, _ in resolver.calls)})"
        )


def bench_calls(texts: list[str]) -> None:
    document = load_document(RULES)
    resolver = resolver_for(texts)
    print("== resolver calls per event (must not grow with the number of commits)")
    for size in (10, 1_000, 10_000):
        commits = tuple(Commit(f"{i:040x}", t) for i, t in enumerate(texts[:size]))
        resolver.calls.clear()
        asyncio.run(
            evaluate(Event(Trigger.PUSH, "feature/ABC-1", commits), document.rules, resolver)
        )
        keys = next((n for name, n in resolver.calls if name == "resolve"), 0)
        print(
            f"  {size:>6,} commits -> {len(resolver.calls)} resolver calls ({keys:,} keys in the one resolve call)"
        )


EXEMPT = {
    "bots": True,
    "host_merges": True,
    "reverts": True,
    "release_commits": True,
    "escape": {"allowed": True},
}


def bench_exemptions(texts: list[str]) -> None:
    resolver = resolver_for(texts)
    rng = random.Random(11)
    commits = []
    for i, t in enumerate(texts[:10_000]):
        roll = rng.random()
        author = "dependabot[bot]" if roll < 0.05 else "Ada"
        if 0.05 <= roll < 0.08:
            t = f'Revert "{t.splitlines()[0]}"\n\nThis reverts commit {i - 1:040x}.'
        elif 0.08 <= roll < 0.1:
            t = f"{t} [no-jira: docs only]"
        commits.append(Commit(f"{i:040x}", t, author))
    event = Event(Trigger.PUSH, "feature/ABC-1-login", tuple(commits))
    print("== exemptions and modes: 10,000 commits, best of 3")
    variants: tuple[tuple[str, dict[str, object]], ...] = (
        ("no exemptions, enforce", {}),
        ("every exemption preset", {"exemptions": EXEMPT}),
        ("every rule in evaluate", {"default_mode": "evaluate"}),
    )
    for label, settings in variants:
        document = load_document({**RULES, "settings": settings})
        best = float("inf")
        for _ in range(3):
            start = time.perf_counter()
            evaluation = asyncio.run(
                evaluate(event, document.rules, resolver, settings=document.settings)
            )
            best = min(best, time.perf_counter() - start)
        print(
            f"  {label:<24} {best:6.2f} s = {len(commits) / best:>9,.0f} commits/s, "
            f"result {evaluation.result.value}, {len(evaluation.exemptions)} exempt"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=100_000)
    args = parser.parse_args()
    texts = messages(args.messages)
    bench_extraction(texts)
    bench_evaluation(texts)
    bench_calls(texts)
    bench_exemptions(texts)


if __name__ == "__main__":
    main()
