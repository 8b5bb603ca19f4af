"""Validation API throughput, latency and server CPU per request on loopback, beside ``/healthz``.

Setup: ``jirahooks serve`` in its own process(es) — SQLite in a temporary data directory (one
worker: SQLite is the single-process default), and a scratch PostgreSQL database (dropped
afterwards) with ``--workers 1`` and ``--workers 2`` — one repository with two rules ("Issue key
required in every commit" and "every key must exist in Jira"), one Jira connection to a fake
Jira Cloud on a local HTTP server, a repository validation token. Every request is a signed
(HMAC-SHA256) 5-commit PUSH, evaluated by the engine with the keys resolved through the server's
Jira cache (warmed first: the measured requests reach Jira zero times), stored as an evaluation
(audit trail), and answered.

For every server and every concurrency level, a Validation API phase and a ``GET /healthz``
phase run back to back (interleaved, same server, same connections count). Before and after each
phase the benchmark reads the CPU time (user + system, ``/proc/<pid>/stat``) of every server
process (the ``serve`` process and, with ``--workers``, its worker processes), so it prints the
server CPU each request cost, for both endpoints, and their ratio.

The load generator is a minimal HTTP/1.1 keep-alive client on asyncio streams (pre-built request
bytes), so the client's own CPU — it shares the machine's cores with the server — stays small.

Printed, per server and concurrency level: requests, requests per second, p50 / p99 latency,
errors, server CPU ms per request for validation and ``/healthz``, their ratio, and the Jira
requests made while measuring. Bounded by ``--requests`` and ``--seconds`` per phase.

Run: ``.venv/bin/python benchmarks/validation_api.py`` (``--no-postgres`` for SQLite only).
To measure another checkout's server, put its ``src`` first on ``PYTHONPATH``: the servers are
started with ``sys.executable -m jirahooks`` and inherit it; a server without ``--workers``
gets the 2-worker run skipped. ``--baseline <checkout>/src`` measures that code's server and
this one's interleaved, server configuration by configuration (rows "before" / "after"), and
``--rounds N`` repeats the whole run, so the two meet the same load on the shared machine. Figures depend on the machine; nothing here asserts a
threshold. Exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import hmac
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.fakes

from tests.fakes.fake_jira import FakeJira

from _serve import start_serve

WS = "default"
TICKS = os.sysconf("SC_CLK_TCK")


def supports_workers(env: dict[str, str]) -> bool:
    """Whether the ``jirahooks`` the servers run (PYTHONPATH) has ``serve --workers``."""
    shown = subprocess.run(
        [sys.executable, "-m", "jirahooks", "serve", "--help"],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    return "--workers" in shown.stdout


@dataclass
class Server:
    process: subprocess.Popen[str]
    base: str
    admin: str

    def pids(self) -> list[int]:
        """The serve process and its descendants (uvicorn's worker processes)."""
        found = [self.process.pid]
        queue = [self.process.pid]
        while queue:
            pid = queue.pop()
            for task in Path(f"/proc/{pid}/task").glob("*"):
                with contextlib.suppress(OSError):
                    children = [int(c) for c in (task / "children").read_text().split()]
                    found += children
                    queue += children
        return found

    def cpu_seconds(self) -> float:
        total = 0
        for pid in self.pids():
            with contextlib.suppress(OSError):
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
        return total / TICKS

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()


def start_server(
    data_dir: str, database_url: str, workers: int, env: dict[str, str] | None = None
) -> Server:
    """``jirahooks serve`` in its own process (the client must not share its GIL)."""
    extra = ["--workers", str(workers)] if workers > 1 else []
    if database_url:
        extra += ["--database-url", database_url]
    # a loaded machine starts workers slowly (uvicorn restarts one that misses its 5 s ping)
    environ = dict(os.environ) if env is None else env
    return Server(*start_serve(data_dir, environ, *extra, wait=180))


def code_env(src: str | None) -> dict[str, str]:
    """The environment of a server running the code in ``src`` (None: what PYTHONPATH says)."""
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = os.pathsep.join([src, *filter(None, [env.get("PYTHONPATH")])])
    return env


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


def raw_request(method: str, target: str, host: str, headers: dict[str, str], body: bytes) -> bytes:
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> tuple[int, bytes]:
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return status, await reader.readexactly(length)


async def measure(
    port: int, request: bytes, expect: bytes, *, concurrency: int, requests: int, seconds: float
) -> tuple[list[float], float, int]:
    """Latencies, elapsed seconds and errors of ``requests`` (at most ``seconds``) sent over
    ``concurrency`` keep-alive connections."""
    latencies: list[float] = []
    errors = 0
    remaining = requests
    stop_at = time.perf_counter() + seconds

    async def connection() -> None:
        nonlocal remaining, errors
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while remaining > 0 and time.perf_counter() < stop_at:
                remaining -= 1
                started = time.perf_counter()
                status, body = await _exchange(reader, writer, request)
                latencies.append(time.perf_counter() - started)
                if status != 200 or expect not in body:
                    errors += 1
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(concurrency)))
    return latencies, time.perf_counter() - started, errors


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


@contextlib.contextmanager
def scratch_postgres() -> Iterator[str]:
    """A new database on the local PostgreSQL (trust auth, user postgres), dropped on exit."""
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


HEADER = (
    f"{'server':<26} {'conc':>4} {'endpoint':<9} {'requests':>8} {'req/s':>7} {'p50 ms':>7} "
    f"{'p99 ms':>7} {'errors':>6} {'CPU ms/req':>10} {'ratio':>6} {'Jira':>5}"
)


def bench_server(
    label: str,
    database_url: str,
    workers: int,
    jira: FakeJira,
    args: argparse.Namespace,
    env: dict[str, str] | None = None,
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        server = start_server(tmp, database_url, workers, env)
        try:
            endpoint, secret = configure(server.base, server.admin, jira)
            url = httpx.URL(endpoint)
            target = url.raw_path.decode()
            port = int(url.port or 80)
            body = payload()
            signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
            validate = raw_request(
                "POST",
                target,
                f"127.0.0.1:{port}",
                {"Content-Type": "application/json", "x-hub-signature-256": signature},
                body,
            )
            health = raw_request("GET", "/healthz", f"127.0.0.1:{port}", {}, b"")
            # warm every worker's snapshot and the Jira cache
            for _ in range(4 * workers):
                warm = httpx.post(
                    endpoint, content=body, headers={"x-hub-signature-256": signature}
                )
                assert warm.status_code == 200 and warm.json()["result"] == "PASS", warm.text
            for level in (int(x) for x in args.concurrency.split(",")):
                costs: dict[str, float] = {}
                for name, request, expect in (
                    ("validate", validate, b'"result":"PASS"'),
                    ("healthz", health, b'"ok"'),
                ):
                    jira_before = jira.count()
                    cpu_before = server.cpu_seconds()
                    latencies, elapsed, errors = asyncio.run(
                        measure(
                            port,
                            request,
                            expect,
                            concurrency=level,
                            requests=args.requests,
                            seconds=args.seconds,
                        )
                    )
                    cpu = server.cpu_seconds() - cpu_before
                    costs[name] = cpu / max(1, len(latencies)) * 1000
                    ratio = (
                        f"{costs['validate'] / costs['healthz']:>6.1f}"
                        if name == "healthz" and costs["healthz"] > 0
                        else f"{'':>6}"
                    )
                    print(
                        f"{label:<26} {level:>4} {name:<9} {len(latencies):>8} "
                        f"{len(latencies) / elapsed:>7.1f} "
                        f"{percentile(latencies, 0.5) * 1000:>7.2f} "
                        f"{percentile(latencies, 0.99) * 1000:>7.2f} {errors:>6} "
                        f"{costs[name]:>10.3f} {ratio} {jira.count() - jira_before:>5}",
                        flush=True,
                    )
        finally:
            server.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=3000, help="per phase")
    parser.add_argument("--seconds", type=float, default=8.0, help="time bound per phase")
    parser.add_argument("--concurrency", default="1,8,32", help="comma-separated levels")
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    parser.add_argument("--workers", default="1,2", help="PostgreSQL worker counts")
    parser.add_argument(
        "--baseline",
        metavar="SRC",
        help="another checkout's src: its server measured before this one's, configuration by "
        "configuration",
    )
    parser.add_argument("--rounds", type=int, default=1, help="repeat the whole run")
    args = parser.parse_args()
    codes: list[tuple[str, dict[str, str]]] = [("", code_env(None))]
    if args.baseline:
        baseline = str(Path(args.baseline).resolve())
        here = str(Path(__file__).resolve().parents[1] / "src")
        codes = [("before", code_env(baseline)), ("after", code_env(here))]
    workers_ok = {name: supports_workers(env) for name, env in codes}
    print(
        "Validation API (5-commit PUSH, 2 rules, warm Jira cache) and GET /healthz, side by side; "
        f"server CPU from /proc; {os.cpu_count()} CPUs, load average "
        f"{os.getloadavg()[0]:.2f} at start"
    )
    print(HEADER)
    with FakeJira("cloud") as jira:
        for n in range(1, 6):
            jira.add_issue(f"ABC-{n}", status="In Progress")
        for round_ in range(1, args.rounds + 1):
            if args.rounds > 1:
                print(f"round {round_}, load average {os.getloadavg()[0]:.2f}")
            servers = [("SQLite, 1 worker", 1)]
            if not args.no_postgres:
                servers += [(f"PostgreSQL, {w} wkr", w) for w in map(int, args.workers.split(","))]
            for base_label, workers in servers:
                for name, env in codes:
                    label = f"{base_label}{', ' + name if name else ''}"
                    if workers > 1 and not workers_ok[name]:
                        print(f"{label:<26} skipped: this server has no serve --workers")
                        continue
                    if base_label.startswith("SQLite"):
                        bench_server(label, "", 1, jira, args, env)
                        continue
                    with scratch_postgres() as url:
                        bench_server(label, url, workers, jira, args, env)
    print(f"load average {os.getloadavg()[0]:.2f} at the end")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
