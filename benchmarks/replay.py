"""``jirahooks replay`` over a real-like history: 14,000 commits naming ~7,500 distinct keys.

The history is generated in a real git repository (``tests/support/history.py``: fast-import,
20 authors, merged feature branches with Bitbucket / GitHub merge subjects, 3 % of commits
without a key, 2 % naming a key Jira does not know). Jira is the fake Jira Cloud (and, in a
second run, Data Center) on a real local HTTP server with ``--latency`` per answer, holding
every key the history names (a third "In Progress", the rest "Done"). Rules:
``commit-key-required``, ``all-keys-valid`` and ``issue-in-progress`` (a JQL) on the commits.

Printed per unit (commit, push, pr) and deployment: wall time of the whole command (git
included), changes, distinct keys, HTTP requests the fake Jira received (by path), and the
bound ``⌈keys / 100⌉ + a few`` to compare with. Side by side, in the same run: the first
``--baseline`` commits evaluated one by one, as a loop of ``jirahooks check`` calls sharing one
Jira cache would (the real resolver and ``JiraCache``), against the replay of the same commits.
Nothing is asserted (a test asserts the request bound: tests/replay/test_replay_jira.py).

Run: ``.venv/bin/python benchmarks/replay.py [--commits 14000] [--keys 7500] [--latency 0.05]``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.*

from tests.fakes.fake_jira import FakeJira
from tests.support.history import generate

from jirahooks.cli import main


def _config(path: Path, fake: FakeJira) -> Path:
    os.environ["JH_REPLAY_BENCH_TOKEN"] = fake.token
    document = {
        "connections": [
            {
                "name": "jira",
                "url": fake.url,
                "deployment": fake.deployment,
                "email": fake.user.email if fake.deployment == "cloud" else "",
                "token": "${JH_REPLAY_BENCH_TOKEN}",
            }
        ],
        "rules": [
            {"template": "commit-key-required"},
            {"template": "all-keys-valid"},
            {"template": "issue-in-progress", "targets": ["COMMIT"]},
        ],
    }
    config = path / "rules.json"
    config.write_text(json.dumps(document), encoding="utf-8")
    return config


def _run(repo: Path, config: Path, unit: str) -> tuple[float, dict[str, object]]:
    out = io.StringIO()
    cwd = os.getcwd()
    os.chdir(repo)
    try:
        started = time.perf_counter()
        with contextlib.redirect_stdout(out):
            code = main(
                ["replay", "--config", str(config), "--unit", unit, "--format", "json", "-q"]
            )
        wall = time.perf_counter() - started
    finally:
        os.chdir(cwd)
    if code != 0:
        raise SystemExit(f"replay exited {code}")
    return wall, json.loads(out.getvalue())


def _baseline(repo: Path, config: Path, range_: str) -> tuple[float, int]:
    """The commits of ``range_`` evaluated one at a time with a shared cache: (seconds,
    changes)."""
    import asyncio

    from jirahooks.engine import evaluate
    from jirahooks.jira import build_resolver
    from jirahooks.jira.cache import JiraCache
    from jirahooks.replay import history as hist
    from jirahooks.rules.config import load_file

    document = load_file(config)
    rules, settings = document.rules_for(None), document.settings_for(None)
    revs = hist.revisions(range_, None, cwd=repo)
    changes = hist.read_history(hist.Unit.COMMIT, revs, branch="main", cwd=repo).changes

    async def run() -> None:
        resolver = build_resolver(document.connections_for(None), cache=JiraCache())
        try:
            for change in changes:
                await evaluate(change.event, rules, resolver, settings=settings)
        finally:
            await resolver.aclose()  # type: ignore[attr-defined]

    started = time.perf_counter()
    asyncio.run(run())
    return time.perf_counter() - started, len(changes)


def _first_commits(repo: Path, count: int) -> str:
    """A range from the root commit to the ``count``-th commit of main (oldest first)."""
    import subprocess

    hashes = subprocess.run(
        ["git", "-C", str(repo), "rev-list", "--reverse", "main"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return f"{hashes[0]}..{hashes[min(count, len(hashes) - 1)]}"


def main_(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--commits", type=int, default=14_000)
    parser.add_argument("--keys", type=int, default=7_500)
    parser.add_argument("--latency", type=float, default=0.05, help="seconds per Jira answer")
    parser.add_argument("--units", default="commit,push,pr")
    parser.add_argument("--deployments", default="cloud,datacenter")
    parser.add_argument(
        "--baseline", type=int, default=300, help="commits evaluated one by one (0: skip)"
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="jh-replay-bench-") as tmp:
        root = Path(tmp)
        started = time.perf_counter()
        history = generate(root / "repo", args.commits, distinct_keys=args.keys)
        print(
            f"history: {history.commits} commits ({history.merges} merges of pull requests), "
            f"{len(history.keys)} distinct keys Jira knows + {len(history.typo_keys)} typo keys, "
            f"generated in {time.perf_counter() - started:.1f} s"
        )
        print(
            f"{'deployment':<11} {'unit':<7} {'wall s':>7} {'changes':>8} {'keys':>6} "
            f"{'blocked':>8} {'requests':>9} {'bound':>6}  requests by path"
        )
        for deployment in args.deployments.split(","):
            fake = FakeJira(deployment, latency=args.latency).start()
            try:
                for n, key in enumerate(sorted(history.keys)):
                    fake.add_issue(key, status="In Progress" if n % 3 == 0 else "Done")
                config = _config(root, fake)
                for unit in args.units.split(","):
                    fake.reset_log()
                    wall, report = _run(root / "repo", config, unit)
                    keys = int(report["jira"]["distinctKeys"])  # type: ignore[index]
                    paths = Counter(r.path.split("?", 1)[0] for r in fake.requests)
                    requests = sum(paths.values())
                    bound = math.ceil(keys / 100)
                    by_path = ", ".join(f"{p} {c}" for p, c in paths.most_common())
                    print(
                        f"{deployment:<11} {unit:<7} {wall:>7.1f} "
                        f"{report['totals']['changes']:>8} {keys:>6} "  # type: ignore[index]
                        f"{report['totals']['BLOCK']:>8} {requests:>9} {bound:>4}+k  {by_path}"  # type: ignore[index]
                    )
                if args.baseline and deployment == "cloud":
                    span = _first_commits(root / "repo", args.baseline)
                    fake.reset_log()
                    seconds, changes = _baseline(root / "repo", config, span)
                    one_by_one = len(fake.requests)
                    fake.reset_log()
                    cwd = os.getcwd()
                    os.chdir(root / "repo")
                    try:
                        out = io.StringIO()
                        started = time.perf_counter()
                        with contextlib.redirect_stdout(out):
                            main(
                                [
                                    "replay",
                                    "-c",
                                    str(config),
                                    "--range",
                                    span,
                                    "--format",
                                    "json",
                                    "-q",
                                ]
                            )
                        replayed = time.perf_counter() - started
                    finally:
                        os.chdir(cwd)
                    batched = len(fake.requests)
                    print(
                        f"  side by side, the first {changes} commits: one by one with a shared "
                        f"cache {one_by_one} requests in {seconds:.1f} s; replay {batched} "
                        f"requests in {replayed:.1f} s"
                    )
            finally:
                fake.stop()


if __name__ == "__main__":
    main_()
