"""Validation API by push size: 1 / 100 / 1,000 / 10,000 / 100,000 commits, before and after.

Setup: `jirahooks serve` in its own process on SQLite in a temporary data directory, one
repository with two rules ("Issue key required in every commit", "Issue key required in the
branch name"), a repository validation token. The pushes are first pushes of real-length
commits (tests/support/pushes.py: ~600 bytes of JSON each, one commit in 100 without a key),
signed as the hook clients sign them.

With ``--before-src DIR`` (e.g. a checkout of main's code: ``--before-src /work/main/src``) a
second server runs that code side by side, and the sizes are measured interleaved: for each
size, before then after. The before server gets ``JIRAHOOKS_MAX_BODY_BYTES`` raised to
``--before-limit`` so its big pushes are evaluated at all (at its own default it answers them
413: the column "at default" says what it would have answered).

Printed per size and server: the request bytes (plain JSON as the published client sends it,
and gzip level 1 as our hook client sends bodies above 64 KiB), the status, latency (median of
``--repeat`` requests for pushes up to 1,000 commits, one request above), the answer bytes, and
the server's RSS after the request and its peak so far (VmRSS / VmHWM from /proc). gzip is
sent only to a server that accepts it (a 1-commit probe).

Run: ``.venv/bin/python benchmarks/push_size.py [--before-src DIR] [--sizes 1,100,1000]``.
Figures depend on the machine (2 shared cores, loaded); nothing here asserts a threshold.
Exits 0.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import hashlib
import hmac
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.support

from tests.support.pushes import commits, compact, push

from _serve import start_serve

WS = "default"
OLD_DEFAULT_LIMIT = 1024 * 1024


@dataclass
class Server:
    name: str
    process: subprocess.Popen[str]
    base: str
    endpoint: str = ""
    secret: str = ""
    gzip: bool = False

    def memory_mb(self) -> tuple[float, float]:
        """(VmRSS, VmHWM) in MB."""
        fields = {}
        with open(f"/proc/{self.process.pid}/status", encoding="ascii") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                if key in ("VmRSS", "VmHWM"):
                    fields[key] = int(value.split()[0]) / 1024
        return fields.get("VmRSS", 0.0), fields.get("VmHWM", 0.0)


def start_server(name: str, data_dir: str, src: str | None, limit: int | None) -> Server:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JIRAHOOKS_")}
    if src:
        env["PYTHONPATH"] = src
    if limit:
        env["JIRAHOOKS_MAX_BODY_BYTES"] = str(limit)
    process, base, token = start_serve(data_dir, env, wait=90)
    server = Server(name, process, base)
    configure(server, token)
    return server


def configure(server: Server, admin: str) -> None:
    with httpx.Client(
        base_url=f"{server.base}/api/v1/workspaces/{WS}",
        headers={"Authorization": f"Bearer {admin}"},
        timeout=60,
    ) as api:

        def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
            response = api.post(path, json=body)
            response.raise_for_status()
            result: dict[str, Any] = response.json()
            return result

        post("/repositories", {"slug": "api"})
        post("/rules/from-template", {"template": "commit-key-required"})
        post("/rules/from-template", {"template": "branch-key-required"})
        token = post("/validation-tokens", {"name": "bench", "repository": "api"})
    server.endpoint = f"{server.base}/api/validate/{WS}?repoSlug=api"
    server.secret = token["secret"]
    probe = gzip.compress(compact(push(commits(1))), 1)
    server.gzip = send(server, probe, gzip_body=True).status_code == 200


def send(server: Server, body: bytes, *, gzip_body: bool) -> httpx.Response:
    signature = "sha256=" + hmac.new(server.secret.encode(), body, hashlib.sha256).hexdigest()
    headers = {"Content-Type": "application/json", "x-hub-signature-256": signature}
    if gzip_body:
        headers["Content-Encoding"] = "gzip"
    return httpx.post(server.endpoint, content=body, headers=headers, timeout=900)


def measure(server: Server, plain: bytes, packed: bytes, repeat: int, size: int) -> str:
    use_gzip = server.gzip and len(plain) > 64 * 1024
    body = packed if use_gzip else plain
    latencies: list[float] = []
    response: httpx.Response | None = None
    for _ in range(repeat):
        started = time.perf_counter()
        try:
            response = send(server, body, gzip_body=use_gzip)
        except httpx.HTTPError as exc:
            return f"  {server.name:<7} {size:>7,}  failed: {type(exc).__name__}: {exc}"
        latencies.append(time.perf_counter() - started)
    assert response is not None
    rss, peak = server.memory_mb()
    sent = f"{len(body):>11,} {'gzip' if use_gzip else 'plain'}"
    at_default = ""
    if server.name == "before":
        at_default = "413" if len(plain) > OLD_DEFAULT_LIMIT else str(response.status_code)
    return (
        f"  {server.name:<7} {size:>7,}  {sent}  {response.status_code:>3} {at_default:>4}  "
        f"{statistics.median(latencies) * 1000:>9,.0f} ms  {len(response.content):>12,} B  "
        f"{rss:>7,.0f} / {peak:>7,.0f} MB"
    )


@contextlib.contextmanager
def servers(args: argparse.Namespace) -> Iterator[list[Server]]:
    started: list[Server] = []
    with tempfile.TemporaryDirectory(prefix="jh-push-size-") as tmp:
        try:
            if args.before_src:
                before = Path(tmp, "before")
                before.mkdir()
                started.append(
                    start_server("before", str(before), args.before_src, args.before_limit)
                )
            after = Path(tmp, "after")
            after.mkdir()
            started.append(start_server("after", str(after), None, None))
            yield started
        finally:
            for server in started:
                server.process.terminate()
                try:
                    server.process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    server.process.kill()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1,100,1000,10000,100000")
    parser.add_argument("--before-src", help="source tree (…/src) of the code to compare with")
    parser.add_argument("--before-limit", type=int, default=512 * 1024 * 1024)
    parser.add_argument("--repeat", type=int, default=5, help="requests per size up to 1,000")
    parser.add_argument("--failing-every", type=int, default=100)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    with servers(args) as started:
        print("== Validation API by push size (first pushes, real-length messages)")
        for server in started:
            print(
                f"  {server.name}: gzip request bodies {'accepted' if server.gzip else 'refused'}"
            )
        print(
            f"  {'server':<7} {'commits':>7}  {'request bytes':>17}  {'st':>3} {'dflt':>4}  "
            f"{'latency':>12}  {'answer':>14}  {'RSS / peak':>17}"
        )
        for size in sizes:
            plain = compact(push(commits(size, failing_every=args.failing_every)))
            packed = gzip.compress(plain, 1)
            print(
                f"  -- {size:,} commits: {len(plain):,} B plain, {len(packed):,} B gzip "
                f"({len(plain) / len(packed):.1f}x)"
            )
            repeat = args.repeat if size <= 1000 else 1
            for server in started:
                print(measure(server, plain, packed, repeat, size), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
