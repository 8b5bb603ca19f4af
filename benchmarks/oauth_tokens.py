"""OAuth 2.0 client credentials: token requests and wall time for many concurrent Jira calls.

Scenario: a fake Jira Cloud (real local HTTP server, 20 ms added to every answer, the token
endpoint included) and a service account with client credentials; 200 ``/myself`` calls, 8 in
flight, as 8 evaluations at once would make them (each its own client, as the server builds
one per evaluation). Printed side by side:

(a) no token cache: each call fetches its own access token (what a client without a cache does);
(b) jirahooks' ``TokenCache``, cold: concurrent callers share one fetch (single-flight);
(c) the same after every access token expired at once: one refresh for all callers that saw
    the 401, not one each.

Run: ``.venv/bin/python benchmarks/oauth_tokens.py``. Figures depend on the machine; nothing here
asserts a threshold. Exits 0.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.fakes

from tests.fakes.fake_jira import FakeJira

from jirahooks.jira.auth import TokenCache
from jirahooks.jira.client import Deadline, JiraClient
from jirahooks.rules.config import AuthKind, ConnectionConfig, Deployment

CALLS = 200
IN_FLIGHT = 8


def _config(fake: FakeJira) -> ConnectionConfig:
    return ConnectionConfig(
        name="svc",
        url=fake.url,
        deployment=Deployment.CLOUD,
        auth=AuthKind.OAUTH_CLIENT_CREDENTIALS,
        client_id="bench",
        token_url=fake.token_url,
        gateway_url=fake.gateway_url,
        cloud_id=fake.cloud_id,
        max_concurrency=IN_FLIGHT,
    )


async def _run(fake: FakeJira, cache_for: object) -> float:
    config = _config(fake)
    gate = asyncio.Semaphore(IN_FLIGHT)

    async def one(i: int) -> None:
        cache = cache_for() if callable(cache_for) else cache_for
        async with gate:
            client = JiraClient(config, secret="", client_secret="bench-secret", tokens=cache)
            async with client:
                await client.myself(Deadline(60))

    started = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(CALLS)))
    return time.perf_counter() - started


def main() -> int:
    rows = []
    with FakeJira("cloud", latency=0.02) as fake:
        fake.add_oauth_client("bench", "bench-secret", lifetime=3600)
        before = fake.creds.token_requests
        seconds = asyncio.run(_run(fake, TokenCache))  # a fresh cache per call: none
        rows.append(("(a) no token cache", fake.creds.token_requests - before, seconds))
        shared = TokenCache()
        before = fake.creds.token_requests
        seconds = asyncio.run(_run(fake, shared))
        rows.append(("(b) TokenCache, cold", fake.creds.token_requests - before, seconds))
        fake.expire_access_tokens()
        before = fake.creds.token_requests
        seconds = asyncio.run(_run(fake, shared))
        rows.append(("(c) TokenCache, all expired", fake.creds.token_requests - before, seconds))
    print(f"{CALLS} Jira calls, {IN_FLIGHT} in flight, 20 ms per answer")
    print(f"{'':32} {'token requests':>15} {'wall s':>8} {'calls/s':>8}")
    for name, tokens, seconds in rows:
        print(f"{name:32} {tokens:>15} {seconds:>8.2f} {CALLS / seconds:>8.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
