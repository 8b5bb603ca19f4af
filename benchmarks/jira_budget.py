"""The Jira budget at organisation scale: Jira requests per 1,000 validations in a replayed hook mix.

One push is cheap (batching); an organisation is not: every commit-msg and pre-push hook is its
own evaluation. This replay sends an **open-loop** stream of validations (Poisson arrivals at
``--rate`` per second, whether or not earlier ones finished) through the real resolver
(``ConnectionChain.for_evaluation()`` per validation, one shared ``JiraCache``, as the server
does) to a fake Jira Cloud on a real local HTTP server with ``--latency`` (120 ms) per answer.

The mix (documented, seeded):

* 65 % commit-msg: one commit, the developer's current issue in its message;
* 30 % small pushes: 1-5 commits, mostly the current issue, sometimes the previous one;
* 5 % large pushes: 50-300 commits over the issues of the developer's project (Zipf);
* 20 repositories, two projects each, 1,000 issues per project; developers work on one issue
  for 20-60 (simulated) minutes, the issue drawn Zipf-like (s = 1.2) from their project, so hot
  issues are shared; 3 % of messages carry a typo key (not found), and new issues are created
  in Jira during the run (a commit naming one follows a minute later);
* messages are real-shaped: "ABC-12: fix login timeout", "refs ABC-12", long bodies, merges.

Rules: ``commit-key-required``, ``all-keys-valid`` and ``issue-in-progress`` (a JQL).

Time is compressed: one real second is ``--scale`` simulated seconds (default 120),
and the cache's clock is the simulated one, so lifetimes of minutes and hours play out in a
run of seconds. Printed per configuration: Jira requests per 1,000 validations (whole run and
steady state: the second half), the cache hit ratio by kind, p50/p99 latency by request class
and CPU per validation (the replaying thread's CPU time: the fake Jira runs in other threads).

Configurations: ``off`` (today's behaviour: the new levers switched off), each lever alone,
and ``all``. Run: ``.venv/bin/python benchmarks/jira_budget.py [--validations N] [--only
off,all] [--redis URL --processes 2]``. Figures depend on the machine; nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import multiprocessing
import os
import random
import statistics
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.fakes

from tests.fakes.fake_jira import FakeJira

from jirahooks.engine import evaluate
from jirahooks.event import Commit, Event, Trigger
from jirahooks.jira.cache import UNTIERED, JiraCache, Lifetimes, MemoryBackend, RedisBackend
from jirahooks.jira.chain import ConnectionChain
from jirahooks.jira.client import JiraClient
from jirahooks.rules.config import ConnectionConfig, Deployment, load_document

REPOSITORIES = 20
ISSUES_PER_PROJECT = 1000
WORDS = [
    "fix",
    "add",
    "remove",
    "refactor",
    "login",
    "payment",
    "cache",
    "retry",
    "timeout",
    "docs",
    "tests",
    "build",
    "flaky",
    "migration",
    "endpoint",
    "null",
    "check",
    "rename",
    "bump",
    "dependency",
    "handle",
    "error",
]
RULES = {
    "rules": [
        {"template": "commit-key-required"},
        {"template": "all-keys-valid"},
        {"template": "issue-in-progress"},
    ]
}


def projects() -> list[str]:
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    return [f"P{letters[i // 26]}{letters[i % 26]}" for i in range(REPOSITORIES * 2)]


class Zipf:
    """Ranks 1..n with P(k) ~ 1/k^s (seeded, by inverse CDF)."""

    def __init__(self, n: int, s: float, rng: random.Random) -> None:
        weights = [1 / (k**s) for k in range(1, n + 1)]
        total = sum(weights)
        self.cdf: list[float] = []
        acc = 0.0
        for w in weights:
            acc += w / total
            self.cdf.append(acc)
        self.rng = rng

    def draw(self) -> int:
        return min(bisect.bisect_left(self.cdf, self.rng.random()), len(self.cdf) - 1) + 1


@dataclass
class Developer:
    project: str
    issue: str = ""
    previous: str = ""
    until: float = 0.0  # simulated time the current issue ends


@dataclass
class Arrival:
    at: float  # real seconds after start
    kind: str  # commit-msg | small-push | large-push
    messages: list[str]
    branch: str


def message(rng: random.Random, key: str) -> str:
    words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 9)))
    roll = rng.random()
    if roll < 0.6:
        text = f"{key}: {words}"
    elif roll < 0.8:
        text = f"{words} (refs {key})"
    elif roll < 0.9:
        text = f"[{key}] {words}"
    else:
        text = f"{key} {words}\n\n" + " ".join(rng.choice(WORDS) for _ in range(40))
    return text


def workload(count: int, rate: float, scale: float, seed: int = 20) -> list[Arrival]:
    """The seeded arrival stream (identical for every configuration)."""
    rng = random.Random(seed)
    names = projects()
    zipf = Zipf(ISSUES_PER_PROJECT, 1.2, rng)
    # one validation per developer every ~16 simulated minutes (30 a day in 8 hours)
    per_minute = rate * 60 / scale
    developers = [Developer(rng.choice(names)) for _ in range(max(1, int(per_minute * 16)))]
    arrivals: list[Arrival] = []
    now = 0.0
    for _ in range(count):
        now += rng.expovariate(rate)
        sim = now * scale
        dev = rng.choice(developers)
        if sim >= dev.until:
            dev.previous, dev.issue = dev.issue, f"{dev.project}-{zipf.draw()}"
            dev.until = sim + rng.uniform(20 * 60, 60 * 60)

        def key_for(d: Developer = dev) -> str:
            if rng.random() < 0.03:
                return f"{d.project}-{ISSUES_PER_PROJECT * 10 + rng.randint(1, 9999)}"  # typo
            return d.issue

        branch = f"feature/{dev.issue}-work"
        roll = rng.random()
        if roll < 0.65:
            arrivals.append(Arrival(now, "commit-msg", [message(rng, key_for())], branch))
        elif roll < 0.95:
            msgs = []
            for _ in range(rng.randint(1, 5)):
                key = dev.previous if dev.previous and rng.random() < 0.2 else key_for()
                msgs.append(message(rng, key))
            arrivals.append(Arrival(now, "small-push", msgs, branch))
        else:
            msgs = [
                message(rng, f"{dev.project}-{zipf.draw()}") for _ in range(rng.randint(50, 300))
            ]
            arrivals.append(Arrival(now, "large-push", msgs, branch))
    return arrivals


def fake_jira(latency: float) -> FakeJira:
    jira = FakeJira("cloud", latency=latency)
    rng = random.Random(5)
    for project in projects():
        for n in range(1, ISSUES_PER_PROJECT + 1):
            status = "In Progress" if rng.random() < 0.9 else "To Do"
            jira.add_issue(f"{project}-{n}", status=status)
    return jira


@dataclass
class Levers:
    """The levers of issue 20, each switchable (see ``LEVERS``)."""

    tiered: bool = False  # existence for hours, "not found" 30 s, fields per rule (300 s)
    coalesce: bool = False  # concurrent lookups of the same keys share one request

    def cache(self, backend: Any, clock: Callable[[], float]) -> JiraCache:
        lifetimes = Lifetimes() if self.tiered else UNTIERED
        return JiraCache(backend, lifetimes=lifetimes, coalesce=self.coalesce, clock=clock)


LEVERS: dict[str, Levers] = {
    "off": Levers(),
    "tiered": Levers(tiered=True),
    "coalesce": Levers(coalesce=True),
    "all": Levers(tiered=True, coalesce=True),
}


@dataclass
class Result:
    validations: int = 0
    latencies: dict[str, list[float]] = field(default_factory=dict)
    cpu: float = 0.0
    hits: Counter[str] = field(default_factory=Counter)
    lookups: Counter[str] = field(default_factory=Counter)
    blocked: int = 0
    undetermined: int = 0


async def replay(
    arrivals: list[Arrival],
    levers: Levers,
    jira_url_token: tuple[str, str, str],
    scale: float,
    redis_url: str,
) -> Result:
    url, token, email = jira_url_token
    started = time.monotonic()
    epoch = time.time()

    def sim_clock() -> float:
        return epoch + (time.monotonic() - started) * scale

    backend: Any = (
        RedisBackend(redis_url, prefix=f"jirahooks-bench-{int(epoch)}")
        if redis_url
        else MemoryBackend(clock=sim_clock)
    )
    cache = levers.cache(backend, sim_clock)
    os.environ["JIRAHOOKS_BUDGET_TOKEN"] = token
    config = ConnectionConfig(
        name="cloud",
        url=url,
        deployment=Deployment.CLOUD,
        email=email,
        token="${JIRAHOOKS_BUDGET_TOKEN}",
        max_concurrency=8,
    )
    document = load_document(RULES)
    chain = ConnectionChain([JiraClient(config, secret=token)], cache=cache, deadline_seconds=8)
    result = Result()
    cpu_start = time.thread_time()

    async def one(arrival: Arrival) -> None:
        trigger = Trigger.COMMIT if arrival.kind == "commit-msg" else Trigger.PUSH
        commits = tuple(Commit(f"{i:040x}", text, "Dev") for i, text in enumerate(arrival.messages))
        begin = time.perf_counter()
        evaluation = await evaluate(
            Event(trigger, arrival.branch, commits),
            document.rules,
            chain.for_evaluation(),
            settings=document.settings,
        )
        result.latencies.setdefault(arrival.kind, []).append(time.perf_counter() - begin)
        result.validations += 1
        result.blocked += evaluation.blocked
        result.undetermined += bool(evaluation.system_facts)

    async with chain:
        tasks = []
        for arrival in arrivals:
            delay = arrival.at - (time.monotonic() - started)
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(arrival)))
        await asyncio.gather(*tasks)
    result.cpu = time.thread_time() - cpu_start
    for kind, counts in getattr(cache.stats, "by_kind", {}).items():
        result.hits[kind] += counts[0]
        result.lookups[kind] += counts[0] + counts[1]
    result.hits["all"] += cache.stats.hits
    result.lookups["all"] += cache.stats.lookups
    await cache.aclose()
    return result


def _child(args: tuple[Any, ...]) -> Result:
    arrivals, name, jira, scale, redis_url = args
    return asyncio.run(replay(arrivals, LEVERS[name], jira, scale, redis_url))


def run(
    name: str,
    arrivals: list[Arrival],
    jira: FakeJira,
    scale: float,
    processes: int,
    redis_url: str,
) -> None:
    jira.reset_log()
    half = arrivals[len(arrivals) // 2].at if arrivals else 0.0
    at_half: list[int] = []
    timer = threading.Timer(half, lambda: at_half.append(len(jira.requests)))
    timer.start()
    ident = (jira.url, jira.token, jira.user.email)
    if processes == 1:
        results = [asyncio.run(replay(arrivals, LEVERS[name], ident, scale, redis_url))]
    else:
        parts = [arrivals[i::processes] for i in range(processes)]
        with multiprocessing.get_context("spawn").Pool(processes) as pool:
            results = pool.map(_child, [(p, name, ident, scale, redis_url) for p in parts])
    total = Result()
    for r in results:
        total.validations += r.validations
        total.cpu += r.cpu
        total.blocked += r.blocked
        total.undetermined += r.undetermined
        total.hits.update(r.hits)
        total.lookups.update(r.lookups)
        for kind, values in r.latencies.items():
            total.latencies.setdefault(kind, []).extend(values)
    timer.cancel()
    requests = [r for r in jira.requests if not r.path.endswith("serverInfo")]
    late = jira.requests[at_half[0] if at_half else 0 :]
    per_1000 = 1000 * len(requests) / max(1, total.validations)
    steady = 1000 * len(late) / max(1, total.validations - len(arrivals) // 2)
    ratios = ", ".join(
        f"{kind} {total.hits[kind] / total.lookups[kind]:.0%}"
        for kind in sorted(total.lookups)
        if total.lookups[kind]
    )
    print(
        f"  {name:<10} {len(requests):>6} Jira requests = {per_1000:6.1f} / 1,000 validations "
        f"(steady state {steady:6.1f}); hit ratio {ratios or '-'}"
    )
    latency = "; ".join(
        f"{kind} p50 {statistics.median(v) * 1000:.0f} ms p99 "
        f"{sorted(v)[int(len(v) * 0.99) - 1 if len(v) > 1 else 0] * 1000:.0f} ms"
        for kind, v in sorted(total.latencies.items())
    )
    by_path = Counter(r.path.rsplit("/", 2)[-2] + "/" + r.path.rsplit("/", 1)[-1] for r in requests)
    print(
        f"  {'':<10} {latency}; CPU {1000 * total.cpu / max(1, total.validations):.1f} ms"
        f"/validation; blocked {total.blocked}, Jira-undetermined {total.undetermined}; "
        f"{dict(by_path)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--validations", type=int, default=1200)
    parser.add_argument("--rate", type=float, default=20.0, help="arrivals per real second")
    parser.add_argument("--scale", type=float, default=120.0, help="simulated s per real s")
    parser.add_argument("--latency", type=float, default=0.12)
    parser.add_argument("--only", default="", help="comma-separated configurations")
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--redis", default="", help="Redis URL (shared cache)")
    args = parser.parse_args()
    arrivals = workload(args.validations, args.rate, args.scale)
    mix = Counter(a.kind for a in arrivals)
    span = arrivals[-1].at * args.scale / 60 if arrivals else 0
    print(
        f"== Jira budget replay: {len(arrivals):,} validations ({dict(mix)}) over "
        f"{span:.0f} simulated minutes, fake Jira at {args.latency * 1000:.0f} ms, "
        f"{args.processes} process(es){' sharing Redis' if args.redis else ''}"
    )
    names = [n for n in (args.only.split(",") if args.only else LEVERS) if n]
    with fake_jira(args.latency) as jira:
        for name in names:
            run(name, arrivals, jira, args.scale, args.processes, args.redis)


if __name__ == "__main__":
    main()
