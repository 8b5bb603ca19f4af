"""Validation API throughput and latency on loopback: a real uvicorn server, a 5-commit PUSH.

Setup: `jirahooks serve` in its own process on its embedded default (SQLite in a temporary data
directory), on a scratch PostgreSQL database (``--postgres``, dropped afterwards) or on an empty
``--database-url``; one repository with two rules ("Issue key required in every commit" and
"every key must exist in Jira"), one Jira connection to a fake Jira Cloud on a local HTTP server,
a repository validation token. Every request is signed (HMAC-SHA256 over the compact JSON body),
evaluated by the engine with the keys resolved through the server's Jira cache (warmed first:
the measured requests reach Jira zero times), stored as an evaluation, and answered.

Printed, per concurrency level: requests, requests per second, mean / p50 / p99 / max latency,
and the Jira requests made while measuring. Bounded by ``--requests`` and ``--seconds`` per level.
Run: ``.venv/bin/python benchmarks/validation_api.py``. Figures depend on the machine; nothing
here asserts a threshold. Exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import hmac
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.fakes

from tests.fakes.fake_jira import FakeJira

from jirahooks.crypto import generate_key

WS = "default"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(data_dir: str, database_url: str) -> tuple[subprocess.Popen[str], str, str]:
    """`jirahooks serve` in its own process (the client must not share its GIL); returns the
    process, base URL and the first-start admin token it prints."""
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "jirahooks",
        "serve",
        "--data-dir",
        data_dir,
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--no-access-log",
    ]
    if database_url:
        command += ["--database-url", database_url]
    env = {**os.environ, "JIRAHOOKS_SECRET_KEY": generate_key()}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
    assert process.stdout is not None
    token = ""
    deadline = time.monotonic() + 60
    for line in process.stdout:
        # "Admin API: curl -H 'Authorization: Bearer <token>' <url>" (older releases printed the
        # header on a line of its own): the token is the word after "Bearer".
        found = re.search(r"Authorization: Bearer ([^'\s]+)", line)
        if found:
            token = found.group(1)
            break
        if time.monotonic() > deadline:
            break
    base = f"http://127.0.0.1:{port}"
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return process, base, token
        except httpx.TransportError:
            time.sleep(0.05)
    process.kill()
    raise SystemExit("the server did not start")


def configure(base: str, admin: str, jira: FakeJira) -> tuple[str, str]:
    """Repository, rules, connection and token through the admin API; (endpoint, secret)."""
    with httpx.Client(
        base_url=f"{base}/api/v1/workspaces/{WS}", headers={"Authorization": f"Bearer {admin}"}
    ) as api:

        def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
            response = api.post(path, json=body)
            response.raise_for_status()
            result: dict[str, Any] = response.json()
            return result

        post("/repositories", {"slug": "api"})
        post("/rules/from-template", {"template": "commit-key-required"})
        post("/rules", {"id": "keys-exist", "title": "Keys exist", "checks": {"keys_valid": "ALL"}})
        post(
            "/connections",
            {
                "name": "jira",
                "url": jira.url,
                "deployment": "cloud",
                "email": jira.user.email,
                "token": jira.token,
            },
        )
        token = post("/validation-tokens", {"name": "bench", "repository": "api"})
        return token["endpoint"], token["secret"]


def payload() -> bytes:
    commits = [
        {
            "hash": f"{i:040x}",
            "message": f"ABC-{i} change number {i}\n\nDetails.",
            "authorDisplayName": "Bench",
        }
        for i in range(1, 6)
    ]
    body = {
        "triggerType": "PUSH",
        "branchName": "feature/ABC-1-bench",
        "commits": commits,
        "locale": "en-US",
    }
    return json.dumps(body, separators=(",", ":")).encode()


async def measure(
    endpoint: str,
    headers: dict[str, str],
    body: bytes,
    *,
    concurrency: int,
    requests: int,
    seconds: float,
) -> tuple[list[float], float, int]:
    latencies: list[float] = []
    errors = 0
    stop_at = time.perf_counter() + seconds
    remaining = requests
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:

        async def worker() -> None:
            nonlocal remaining, errors
            while remaining > 0 and time.perf_counter() < stop_at:
                remaining -= 1
                started = time.perf_counter()
                response = await client.post(endpoint, content=body, headers=headers)
                latencies.append(time.perf_counter() - started)
                if response.status_code != 200 or response.json().get("result") != "PASS":
                    errors += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return latencies, elapsed, errors


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000, help="per concurrency level")
    parser.add_argument("--seconds", type=float, default=15.0, help="time bound per level")
    parser.add_argument("--concurrency", default="1,8", help="comma-separated levels")
    parser.add_argument(
        "--database-url", default="", help="an EMPTY database (default: SQLite in a temp dir)"
    )
    parser.add_argument(
        "--postgres",
        action="store_true",
        help="a scratch database on the PostgreSQL at 127.0.0.1:5432, dropped afterwards",
    )
    args = parser.parse_args()
    if args.postgres:
        with scratch_postgres() as url:
            args.database_url = url
            return run(args)
    return run(args)


@contextlib.contextmanager
def scratch_postgres() -> Iterator[str]:
    """A new database on the local PostgreSQL (trust auth, user postgres), dropped on exit, so
    a benchmark never leaves tables behind in a shared database."""
    import psycopg

    name = f"jirahooks_bench_{os.urandom(6).hex()}"
    admin = {"host": "127.0.0.1", "port": 5432, "user": "postgres", "dbname": "postgres"}
    with psycopg.connect(**admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(**admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run(args: argparse.Namespace) -> int:

    with tempfile.TemporaryDirectory() as tmp, FakeJira("cloud") as jira:
        for n in range(1, 6):
            jira.add_issue(f"ABC-{n}", status="In Progress")
        process, base, admin = start_server(tmp, args.database_url)
        try:
            endpoint, secret = configure(base, admin, jira)
            body = payload()
            signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
            headers = {"Content-Type": "application/json", "x-hub-signature-256": signature}
            warm = httpx.post(endpoint, content=body, headers=headers, timeout=30)
            assert warm.status_code == 200 and warm.json()["result"] == "PASS", warm.text
            database = "PostgreSQL" if args.database_url.startswith("postgres") else "SQLite"
            print(
                f"Validation API, 5-commit PUSH, 2 rules, warm Jira cache, {database}, uvicorn on loopback"
            )
            print(
                f"{'concurrency':>11} {'requests':>9} {'req/s':>8} {'mean ms':>8} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'errors':>6} {'Jira calls':>10}"
            )
            for level in (int(x) for x in args.concurrency.split(",")):
                jira_before = jira.count()
                latencies, elapsed, errors = asyncio.run(
                    measure(
                        endpoint,
                        headers,
                        body,
                        concurrency=level,
                        requests=args.requests,
                        seconds=args.seconds,
                    )
                )
                print(
                    f"{level:>11} {len(latencies):>9} {len(latencies) / elapsed:>8.1f} "
                    f"{statistics.mean(latencies) * 1000:>8.2f} "
                    f"{statistics.median(latencies) * 1000:>8.2f} {percentile(latencies, 0.99) * 1000:>8.2f} "
                    f"{max(latencies) * 1000:>8.2f} {errors:>6} {jira.count() - jira_before:>10}"
                )
        finally:
            process.terminate()
            process.wait(timeout=30)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
