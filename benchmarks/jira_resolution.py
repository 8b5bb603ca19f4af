"""Jira resolution for a large push: HTTP requests and wall time, batched vs naive vs cached.

Scenario: a push of 10,000 commits whose messages reference 3,000 distinct issue keys, spread
over two connections — a Jira Cloud (1,500 keys, projects ALPHA/BETA) first in the chain, then a
Jira Data Center (1,500 keys, projects GAMMA/DELTA) — both fake Jiras on real local HTTP
servers with 20 ms latency added to every request. Printed side by side:

(a) jirahooks ``ConnectionChain`` (cold): bulkfetch batches of 100 on Cloud, 500-key searches
    on Data Center; the Data Center is asked only for the keys Cloud did not know;
(b) a naive client: ``GET /rest/api/{3|2}/issue/{key}`` per key on the first connection, then
    on the second for the 404s — with the *same* concurrency as jirahooks (4 requests in flight
    per connection), so the difference is batching, not parallelism;
(c) jirahooks again with the cache the first run filled (in-process backend).

Run: ``.venv/bin/python benchmarks/jira_resolution.py``. Figures depend on the machine; nothing
here asserts a threshold. Exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import random
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.fakes

from tests.fakes.fake_jira import FakeJira

from _corpus import WORDS
from jirahooks.engine.resolver import Resolution
from jirahooks.jira.cache import JiraCache
from jirahooks.jira.chain import ConnectionChain
from jirahooks.jira.client import JiraClient
from jirahooks.keys import KeyExtractor
from jirahooks.rules.config import ConnectionConfig, Deployment

CONCURRENCY = 4  # ConnectionConfig.max_concurrency's default


def commit_messages(keys: list[str], commits: int, seed: int = 3) -> list[str]:
    """``commits`` messages; every key appears at least once, some several times."""
    rng = random.Random(seed)
    order = keys + [rng.choice(keys) for _ in range(commits - len(keys))]
    rng.shuffle(order)
    messages = []
    for key in order:
        words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 10)))
        messages.append(f"{key}: {words}" if rng.random() < 0.8 else f"{words} (refs {key})")
    return messages


def configs(cloud: FakeJira, dc: FakeJira) -> list[ConnectionConfig]:
    os.environ["JIRAHOOKS_BENCH_CLOUD"] = cloud.token
    os.environ["JIRAHOOKS_BENCH_DC"] = dc.token
    return [
        ConnectionConfig(
            name="cloud",
            url=cloud.url,
            deployment=Deployment.CLOUD,
            email=cloud.user.email,
            token="${JIRAHOOKS_BENCH_CLOUD}",
            max_concurrency=CONCURRENCY,
        ),
        ConnectionConfig(
            name="dc",
            url=dc.url,
            deployment=Deployment.DATACENTER,
            token="${JIRAHOOKS_BENCH_DC}",
            max_concurrency=CONCURRENCY,
        ),
    ]


def chain(conns: list[ConnectionConfig], cache: JiraCache | None) -> ConnectionChain:
    return ConnectionChain([JiraClient(c, secret=c.secret()) for c in conns], cache=cache)


async def naive(conns: list[ConnectionConfig], keys: list[str]) -> dict[str, str]:
    """One GET per key and connection, first connection first; key → connection name."""
    found: dict[str, str] = {}
    pending = list(keys)
    for conn in conns:
        version = "3" if conn.deployment == Deployment.CLOUD else "2"
        if conn.email:
            auth: httpx.Auth | None = httpx.BasicAuth(conn.email, conn.secret())
            headers = {}
        else:
            auth, headers = None, {"Authorization": f"Bearer {conn.secret()}"}
        gate = asyncio.Semaphore(CONCURRENCY)
        limits = httpx.Limits(max_connections=CONCURRENCY)
        async with httpx.AsyncClient(
            base_url=conn.url, auth=auth, headers=headers, limits=limits, timeout=30
        ) as http:

            async def get(
                key: str,
                http: httpx.AsyncClient = http,
                version: str = version,
                gate: asyncio.Semaphore = gate,
            ) -> bool:
                async with gate:
                    answer = await http.get(f"/rest/api/{version}/issue/{key}")
                return answer.status_code == 200

            hits = await asyncio.gather(*(get(k) for k in pending))
        found.update({k: conn.name for k, hit in zip(pending, hits, strict=True) if hit})
        pending = [k for k, hit in zip(pending, hits, strict=True) if not hit]
    return found


def by_connection(resolution: Resolution) -> dict[str, str]:
    return {k: v.connection for k, v in resolution.issues.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commits", type=int, default=10_000)
    parser.add_argument("--keys", type=int, default=3_000)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    args = parser.parse_args()
    latency = args.latency_ms / 1000
    half = args.keys // 2
    with FakeJira("cloud") as cloud, FakeJira("datacenter", context_path="/jira") as dc:
        cloud_keys = cloud.add_issues("ALPHA", half // 2) + cloud.add_issues(
            "BETA", half - half // 2
        )
        dc_count = args.keys - half
        dc_keys = dc.add_issues("GAMMA", dc_count // 2) + dc.add_issues(
            "DELTA", dc_count - dc_count // 2
        )
        messages = commit_messages(cloud_keys + dc_keys, args.commits)
        extractor = KeyExtractor()
        keys = list(dict.fromkeys(k for m in messages for k in extractor.keys(m)))
        assert len(keys) == args.keys, len(keys)
        conns = configs(cloud, dc)
        cloud.latency = dc.latency = latency
        rows: list[tuple[str, int, int, float, str]] = []

        def measure(label: str, note: str, work: object) -> dict[str, str]:
            cloud.reset_log()
            dc.reset_log()
            start = time.perf_counter()
            result: dict[str, str] = asyncio.run(work)  # type: ignore[arg-type]
            elapsed = time.perf_counter() - start
            rows.append((label, cloud.count(), dc.count(), elapsed, note))
            return result

        async def resolve_with(cache: JiraCache | None) -> dict[str, str]:
            return by_connection(await chain(conns, cache).resolve(keys))

        cache = JiraCache()
        batched = measure("(a) jirahooks ConnectionChain", "cold, no cache", resolve_with(cache))
        warm = measure(
            "(c) jirahooks, warm cache", "same keys, cache from (a)", resolve_with(cache)
        )
        simple = measure(
            "(b) naive GET /issue/{key}",
            f"{CONCURRENCY} in flight per connection, like (a)",
            naive(conns, keys),
        )
        rows.sort(key=lambda row: row[0])

    print(
        f"Jira resolution — {args.commits:,} commits, {len(keys):,} distinct keys over two "
        f"connections (cloud {len(cloud_keys):,} keys, then datacenter {len(dc_keys):,}), "
        f"{args.latency_ms:g} ms latency per request"
    )
    print(f"{'':32} {'requests':>9} {'cloud':>6} {'dc':>6} {'wall time':>10}  note")
    for label, on_cloud, on_dc, elapsed, note in rows:
        print(
            f"{label:32} {on_cloud + on_dc:>9,} {on_cloud:>6,} {on_dc:>6,} {elapsed:>9.2f}s  {note}"
        )
    print(
        f"expected for (a): ceil({len(keys):,}/100) = {math.ceil(len(keys) / 100)} bulkfetch "
        f"batches on cloud (all keys are asked there first) + a re-check of leftovers in batches "
        f"that mixed projects; ceil({len(dc_keys):,}/500) = {math.ceil(len(dc_keys) / 500)} "
        "searches on datacenter (only the keys cloud did not know)"
    )
    same = batched == simple == warm and len(batched) == len(keys)
    print(f"all three found the same {len(batched):,} keys on the same connections: {same}")
    print(f"cache over runs (a) and (c): {cache.stats.to_dict()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
