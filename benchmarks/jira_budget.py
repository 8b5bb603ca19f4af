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
* messages are real-shaped: "ABC-12: fix login timeout", "refs ABC-12", "[ABC-12] …", long
  bodies; a developer starting on an issue touches it in Jira (its ``updated`` changes) about
  90 simulated seconds before the first commit; hot issues were updated in the last 3 days,
  the long tail up to 90 days ago.

Rules: ``commit-key-required``, ``all-keys-valid`` and ``issue-in-progress`` (a JQL).

Time is compressed: one real second is ``--scale`` simulated seconds (default 120),
and the cache's clock is the simulated one, so lifetimes of minutes and hours play out in a
run of seconds. Printed per configuration: Jira requests per 1,000 validations (whole run and
steady state: the second half), the cache hit ratio by kind, p50/p99 latency by request class
and CPU per validation (the replaying thread's CPU time: the fake Jira runs in other threads).

Configurations: ``off`` (today's behaviour: the new levers switched off), each lever alone,
``all`` (the levers of decision 0005), ``tiered+index`` (the existence index of decision 0009
on tiered lifetimes: it lives as long as existence answers) and ``all+index`` (the index instead
of warming, with tiered lifetimes, coalescing and the sweep). The index's cost (its build,
once per existence lifetime) is printed apart, as the sweep's and warming's are. Run: ``.venv/bin/python benchmarks/jira_budget.py [--validations N] [--only
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

from tests.fakes import fake_jira_jql as fake_jql
from tests.fakes.fake_jira import FakeJira

from _corpus import MORE_WORDS as WORDS
from jirahooks.engine import evaluate
from jirahooks.event import Commit, Event, Trigger
from jirahooks.jira.cache import UNTIERED, JiraCache, Lifetimes, MemoryBackend, RedisBackend
from jirahooks.jira.chain import ConnectionChain
from jirahooks.jira.client import JiraClient
from jirahooks.rules.config import ConnectionConfig, Deployment, load_document

REPOSITORIES = 20
ORG_VALIDATIONS_PER_DAY = 600_000  # 20,000 developers (issue 20)
ISSUES_PER_PROJECT = 1000
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
    started_issue: str = ""  # the developer moved this issue to In Progress just before


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
        started_issue = ""
        if sim >= dev.until:
            dev.previous, dev.issue = dev.issue, f"{dev.project}-{zipf.draw()}"
            dev.until = sim + rng.uniform(20 * 60, 60 * 60)
            started_issue = dev.issue

        def key_for(d: Developer = dev) -> str:
            if rng.random() < 0.03:
                return f"{d.project}-{ISSUES_PER_PROJECT * 10 + rng.randint(1, 9999)}"  # typo
            return d.issue

        branch = f"feature/{dev.issue}-work"
        roll = rng.random()
        if roll < 0.65:
            arrivals.append(
                Arrival(now, "commit-msg", [message(rng, key_for())], branch, started_issue)
            )
        elif roll < 0.95:
            msgs = []
            for _ in range(rng.randint(1, 5)):
                key = dev.previous if dev.previous and rng.random() < 0.2 else key_for()
                msgs.append(message(rng, key))
            arrivals.append(Arrival(now, "small-push", msgs, branch, started_issue))
        else:
            msgs = [
                message(rng, f"{dev.project}-{zipf.draw()}") for _ in range(rng.randint(50, 300))
            ]
            arrivals.append(Arrival(now, "large-push", msgs, branch, started_issue))
    return arrivals


def fake_jira(latency: float) -> FakeJira:
    jira = FakeJira("cloud", latency=latency)
    rng = random.Random(5)
    now = time.time()
    for project in projects():
        for n in range(1, ISSUES_PER_PROJECT + 1):
            status = "In Progress" if rng.random() < 0.9 else "To Do"
            issue = jira.add_issue(f"{project}-{n}", status=status)
            # hot (low-rank) issues were touched lately, the long tail weeks ago
            issue.updated = now - rng.uniform(0, 3 if n <= 100 else 90) * 86400
    return jira


def touching(
    jira: FakeJira,
    arrivals: list[Arrival],
    scale: float,
    stop: threading.Event,
    clock: Callable[[], float],
    touched: dict[str, float],
) -> None:
    """A developer moves an issue to In Progress (Jira's ``updated`` changes) a simulated
    minute or two before the first commit naming it."""
    start = time.monotonic()
    for arrival in arrivals:
        if not arrival.started_issue:
            continue
        due = arrival.at - 90 / scale
        if stop.wait(max(0.0, due - (time.monotonic() - start))):
            return
        issue = jira.find(arrival.started_issue)
        if issue is not None:
            touched.setdefault(issue.key, issue.updated)
            issue.updated = clock()


class SimClock:
    """Simulated wall time: ``origin`` + (real seconds since ``origin``) x ``scale``. Every
    process of a run (and the fake Jira's relative dates) uses the same one."""

    def __init__(self, scale: float, origin: float) -> None:
        self.scale = scale
        self.origin = origin or time.time()

    def __call__(self) -> float:
        return self.origin + (time.time() - self.origin) * self.scale


@dataclass
class Levers:
    """The levers of issue 20, each switchable (see ``LEVERS``)."""

    tiered: bool = False  # existence for hours, "not found" 30 s, fields per rule (300 s)
    coalesce: bool = False  # concurrent lookups of the same keys share one request
    sweep: bool = False  # every simulated minute: updated >= -Nm, verifying cached verdicts
    warm: bool = False  # at start: the issues updated in the last 7 days of known projects
    index: bool = False  # at start: existence index + JQL verdicts of every project (0009)
    sweep_every: float = 60.0  # simulated seconds between sweeps

    def cache(self, backend: Any, clock: Callable[[], float]) -> JiraCache:
        lifetimes = Lifetimes() if self.tiered else UNTIERED
        return JiraCache(backend, lifetimes=lifetimes, coalesce=self.coalesce, clock=clock)


LEVERS: dict[str, Levers] = {
    "off": Levers(),
    "tiered": Levers(tiered=True),
    "coalesce": Levers(coalesce=True),
    "sweep": Levers(sweep=True),
    "warm": Levers(warm=True),
    "all": Levers(tiered=True, coalesce=True, sweep=True, warm=True),
    # the index lives as long as existence answers (300 s untiered): alone it needs tiered ones
    "tiered+index": Levers(tiered=True, index=True),
    "all+index": Levers(tiered=True, coalesce=True, sweep=True, index=True),
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
    sweep_requests: int = 0
    warm_requests: int = 0
    index_requests: int = 0
    requests: int = 0  # by evaluations (not the sweep, not warming)
    at_half: int = 0  # … when half of the arrivals had started


async def replay(
    arrivals: list[Arrival],
    levers: Levers,
    jira_url_token: tuple[str, str, str],
    scale: float,
    redis_url: str,
    redis_prefix: str = "jirahooks-bench",
    origin: float = 0.0,
) -> Result:
    url, token, email = jira_url_token
    sim_clock = SimClock(scale, origin)

    backend: Any = (
        RedisBackend(redis_url, prefix=redis_prefix)
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

    # sweep and warming on a chain of their own, so their requests are counted apart
    background = ConnectionChain([JiraClient(config, secret=token)], cache=cache)

    async def sweeping() -> None:
        while True:
            await asyncio.sleep(levers.sweep_every / scale)
            await background.for_evaluation(30).sweep()
            result.sweep_requests = (
                background.requests_sent - result.warm_requests - result.index_requests
            )

    async with chain:
        if levers.warm:  # "yesterday's" projects: every project of the replay
            jqls = [r.checks.jql for r in document.rules if r.checks.jql]
            await background.for_evaluation(60).warm(projects(), days=7, jqls=jqls)
            result.warm_requests = background.requests_sent
        if levers.index:  # the projects in use: every project of the replay
            jqls = [r.checks.jql for r in document.rules if r.checks.jql]
            gate = asyncio.Semaphore(8)  # 8 projects at a time (a server does them in turn)

            async def index(project: str) -> None:
                async with gate:
                    await background.for_evaluation(600).index([project], jqls=jqls)

            await asyncio.gather(*(index(p) for p in projects()))
            result.index_requests = background.requests_sent - result.warm_requests
        if levers.sweep and (levers.index or levers.warm):
            # as on a server that sweeps all the time: the chain of sweeps reaches the first
            # validation (the index's build takes simulated hours here, at 120 ms a request)
            await background.for_evaluation(60).sweep()
            result.sweep_requests = (
                background.requests_sent - result.warm_requests - result.index_requests
            )
        cpu_start = time.thread_time()
        began = time.monotonic()  # the arrivals start after warming
        sweeper = asyncio.create_task(sweeping()) if levers.sweep else None
        tasks = []
        for n, arrival in enumerate(arrivals):
            delay = arrival.at - (time.monotonic() - began)
            if delay > 0:
                await asyncio.sleep(delay)
            if n == len(arrivals) // 2:
                result.at_half = chain.requests_sent
            tasks.append(asyncio.create_task(one(arrival)))
        await asyncio.gather(*tasks)
        if sweeper is not None:
            sweeper.cancel()
        result.requests = chain.requests_sent
    result.cpu = time.thread_time() - cpu_start
    for kind, counts in getattr(cache.stats, "by_kind", {}).items():
        result.hits[kind] += counts[0]
        result.lookups[kind] += counts[0] + counts[1]
    result.hits["all"] += cache.stats.hits
    result.lookups["all"] += cache.stats.lookups
    await cache.aclose()
    return result


async def _clear(redis_url: str, prefix: str) -> None:
    backend = RedisBackend(redis_url, prefix=prefix)
    await backend.clear()
    await backend.aclose()


def _child(args: tuple[Any, ...]) -> Result:
    arrivals, name, jira, scale, redis_url, prefix, origin = args
    return asyncio.run(replay(arrivals, LEVERS[name], jira, scale, redis_url, prefix, origin))


def run(
    name: str,
    arrivals: list[Arrival],
    jira: FakeJira,
    scale: float,
    processes: int,
    redis_url: str,
) -> None:
    jira.reset_log()
    ident = (jira.url, jira.token, jira.user.email)
    stop = threading.Event()
    origin = time.time()
    clock = SimClock(scale, origin)
    fake_jql.CLOCK = clock  # Jira's "updated >= -5m" in simulated time
    touched: dict[str, float] = {}  # restored afterwards: every configuration sees one Jira
    toucher = threading.Thread(
        target=touching, args=(jira, arrivals, scale, stop, clock, touched), daemon=True
    )
    toucher.start()
    prefix = f"jirahooks-bench-{name}-{time.time_ns()}"  # one cache per configuration
    if processes == 1:
        results = [
            asyncio.run(replay(arrivals, LEVERS[name], ident, scale, redis_url, prefix, origin))
        ]
    else:
        parts = [arrivals[i::processes] for i in range(processes)]
        with multiprocessing.get_context("spawn").Pool(processes) as pool:
            results = pool.map(
                _child, [(p, name, ident, scale, redis_url, prefix, origin) for p in parts]
            )
    stop.set()
    toucher.join(timeout=10)
    for key, updated in touched.items():
        issue = jira.find(key)
        if issue is not None:
            issue.updated = updated
    if redis_url:
        asyncio.run(_clear(redis_url, prefix))
    total = Result()
    for r in results:
        for attr in (
            "validations",
            "cpu",
            "blocked",
            "undetermined",
            "sweep_requests",
            "warm_requests",
            "index_requests",
            "requests",
            "at_half",
        ):
            setattr(total, attr, getattr(total, attr) + getattr(r, attr))
        total.hits.update(r.hits)
        total.lookups.update(r.lookups)
        for kind, values in r.latencies.items():
            total.latencies.setdefault(kind, []).extend(values)
    requests = [r for r in jira.requests if not r.path.endswith("serverInfo")]
    n = max(1, total.validations)
    per_1000 = 1000 * total.requests / n
    steady = 1000 * (total.requests - total.at_half) / max(1, n - len(arrivals) // 2)
    minutes = arrivals[-1].at * scale / 60 if arrivals else 1.0
    sweeps_per_minute = total.sweep_requests / minutes
    org = 1000 * sweeps_per_minute / (ORG_VALIDATIONS_PER_DAY / (24 * 60))
    ratios = ", ".join(
        f"{kind} {total.hits[kind] / total.lookups[kind]:.0%}"
        for kind in sorted(total.lookups)
        if total.lookups[kind]
    )
    print(
        f"  {name:<9} evaluations: {total.requests:>5} Jira requests = {per_1000:6.1f} / 1,000 "
        f"validations (steady state {steady:6.1f}); hit ratio {ratios or '-'}"
    )
    if total.sweep_requests or total.warm_requests or total.index_requests:
        # the index is rebuilt once per existence lifetime (6 h): 4 times a day
        index_org = 1000 * 4 * total.index_requests / ORG_VALIDATIONS_PER_DAY
        print(
            f"  {'':<9} + sweep {total.sweep_requests} requests ({sweeps_per_minute:.2f} per "
            f"simulated minute: {1000 * total.sweep_requests / n:.1f} / 1,000 here, "
            f"{org:.1f} / 1,000 at {ORG_VALIDATIONS_PER_DAY:,} validations a day), "
            f"warming {total.warm_requests} requests (once a day), index "
            f"{total.index_requests} requests (4 times a day: {index_org:.1f} / 1,000 at "
            f"{ORG_VALIDATIONS_PER_DAY:,} a day)"
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
