"""Does one hostile request freeze the server? ``/healthz`` latency while hostile inputs are
evaluated, beside the same figure with no load, in one run (issue 10, section 1).

Setup per case: ``jirahooks serve`` in its own process (SQLite in a temporary data directory, so
a case that freezes the server cannot spoil the next), a repository ``api`` with the templates
"branch-key-required" and "commit-key-required" (format checks: no Jira connection, so only the
server's own CPU work is measured) and a validation token, all through the admin API. Then one
signed Validation API request is sent while a prober asks ``GET /healthz`` one request after the
other until the answer arrives (or ``--limit`` seconds pass: the server is then killed).

Cases: no load; a 1 MB branch name (letters, no key); one commit whose message is 1 MB of
``A``; a 10,000-commit push; a 100-commit push to a repository with 1,000 rules. Each line gives
the hostile request's time and status and the ``/healthz`` probes answered meanwhile with their
p50 / p99 / max latency; a probe still waiting when the request ends (or at the limit) counts
with the time it has waited.

``--source DIR`` runs the server from another source tree (``DIR/src`` first on its path), e.g.
a scratch worktree of an older commit, to compare before and after with the same benchmark:
``git worktree add /tmp/old b9f4856 && .venv/bin/python benchmarks/adversarial.py --source
/tmp/old``. Figures depend on the machine; nothing here asserts a threshold. Exits 0.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from _serve import start_serve

WS = "default"
MB = 1_000_000


@dataclass
class Server:
    process: subprocess.Popen[str]
    base: str
    admin: str

    def stop(self) -> None:
        self.process.kill()
        self.process.wait(timeout=30)


def start_server(data_dir: str, source: str) -> Server:
    """`jirahooks serve` in its own process; its URL and the first-start admin token."""
    env = dict(os.environ)
    if source:
        env["PYTHONPATH"] = os.pathsep.join(
            [str(Path(source, "src")), *filter(None, [env.get("PYTHONPATH")])]
        )
    return Server(*start_serve(data_dir, env))


def configure(server: Server, extra_rules: int) -> tuple[str, str]:
    """Repository, rules and validation token through the admin API; (endpoint, secret)."""
    headers = {"Authorization": f"Bearer {server.admin}"}
    with httpx.Client(
        base_url=f"{server.base}/api/v1/workspaces/{WS}", headers=headers, timeout=60
    ) as api:

        def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
            response = api.post(path, json=body)
            response.raise_for_status()
            result: dict[str, Any] = response.json()
            return result

        post("/repositories", {"slug": "api"})
        for template in ("branch-key-required", "commit-key-required"):
            post("/rules/from-template", {"template": template})
        for i in range(extra_rules):
            post(
                "/repositories/api/rules",
                {
                    "id": f"rule-{i}",
                    "title": f"Rule {i}",
                    "triggers": ["PUSH"],
                    "targets": ["COMMIT"] if i % 2 else ["BRANCH", "COMMITS"],
                    "checks": {"key_present": True},
                },
            )
        token = post("/validation-tokens", {"name": "bench", "repository": "api"})
        return token["endpoint"], token["secret"]


def push(branch: str, messages: list[str]) -> bytes:
    commits = [{"hash": f"{i:040x}", "message": m} for i, m in enumerate(messages, 1)]
    body = {"triggerType": "PUSH", "branchName": branch, "commits": commits, "locale": "en-US"}
    return json.dumps(body, separators=(",", ":")).encode()


@dataclass(frozen=True)
class Case:
    name: str
    body: Callable[[], bytes] | None  # None: no load
    extra_rules: int = 0


CASES = [
    Case("no load", None),
    Case("1 MB branch name", lambda: push("feature/" + "b" * MB, ["ABC-1 fix"])),
    Case("1 MB commit message", lambda: push("feature/ABC-1", ["A" * MB])),
    Case(
        "10,000-commit push",
        lambda: push("feature/ABC-1", [f"ABC-{i} change {i}" for i in range(1, 10_001)]),
    ),
    Case(
        "1,000 rules, 100 commits",
        lambda: push("feature/ABC-1", [f"ABC-{i} change {i}" for i in range(1, 101)]),
        extra_rules=1000,
    ),
]


@dataclass
class Result:
    seconds: float
    outcome: str
    probes: list[float]


def probe_while(base: str, busy: Callable[[], bool], until: float, minimum: int) -> list[float]:
    """GET /healthz one after the other while ``busy()`` (at least ``minimum`` times)."""
    latencies: list[float] = []
    with httpx.Client(timeout=1) as client:
        while (busy() or len(latencies) < minimum) and time.monotonic() < until:
            started = time.monotonic()
            while True:
                try:
                    client.get(f"{base}/healthz", timeout=max(0.05, until - time.monotonic()))
                    break
                except httpx.TimeoutException:
                    if not busy() or time.monotonic() >= until:
                        break  # still unanswered: counted with the time waited
                except httpx.TransportError:
                    if time.monotonic() >= until:
                        break
                    time.sleep(0.01)
            latencies.append(time.monotonic() - started)
    return latencies


def run_case(case: Case, source: str, limit: float) -> Result:
    with tempfile.TemporaryDirectory() as tmp:
        server = start_server(tmp, source)
        try:
            endpoint, secret = configure(server, case.extra_rules)
            if case.body is None:
                probes = probe_while(server.base, lambda: False, time.monotonic() + 60, 500)
                return Result(0.0, "-", probes)
            body = case.body()
            signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
            headers = {"Content-Type": "application/json", "x-hub-signature-256": signature}
            answer: list[str] = []
            started = time.monotonic()
            finished: list[float] = []

            def send() -> None:
                try:
                    response = httpx.post(endpoint, content=body, headers=headers, timeout=limit)
                    result = response.json().get("result") if response.status_code == 200 else ""
                    answer.append(f"{response.status_code} {result}".strip())
                except httpx.HTTPError as exc:
                    answer.append(type(exc).__name__)
                finished.append(time.monotonic())

            thread = threading.Thread(target=send, daemon=True)
            thread.start()
            probes = probe_while(server.base, lambda: not answer, started + limit, 1)
            thread.join(timeout=max(0.0, started + limit - time.monotonic()) + 5)
            if not answer:
                return Result(limit, f"no answer in {limit:.0f} s (killed)", probes)
            return Result(finished[0] - started, answer[0], probes)
        finally:
            server.stop()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", default="", help="run the server from this source tree")
    parser.add_argument(
        "--limit", type=float, default=60.0, help="seconds a hostile request may take"
    )
    args = parser.parse_args()
    tree = args.source or str(Path(__file__).resolve().parents[1])
    commit = subprocess.run(
        ["git", "-C", tree, "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "-C", tree, "status", "--porcelain", "--", "src"], capture_output=True, text=True
    ).stdout.strip()
    print(
        f"/healthz while one hostile Validation API request is evaluated; server from {tree} "
        f"({commit or '?'}{' + local changes' if dirty else ''}), SQLite, uvicorn on loopback"
    )
    print(
        f"{'case':<26} {'request s':>9} {'answer':<26} {'probes':>6} "
        f"{'p50 ms':>8} {'p99 ms':>9} {'max ms':>9}"
    )
    for case in CASES:
        result = run_case(case, args.source, args.limit)
        probes = result.probes or [0.0]
        print(
            f"{case.name:<26} {result.seconds:>9.2f} {result.outcome:<26} {len(result.probes):>6} "
            f"{statistics.median(probes) * 1000:>8.1f} {percentile(probes, 0.99) * 1000:>9.1f} "
            f"{max(probes) * 1000:>9.1f}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
