"""Pull-request webhooks at scale, end to end on loopback: a burst of signed Bitbucket deliveries
to real ``jirahooks serve`` processes, side by side for every configuration in one run.

Configurations: SQLite with 1 process; PostgreSQL with 1 and 2 processes (two processes are two
hosts on one database); each with 1 and 16 concurrent senders. Every configuration gets a fresh
database, fresh ``serve`` processes (started as an operator would, tests/platforms/processes.py)
and a fresh fake Bitbucket and Jira (tests/fakes) in a process of their own (benchmarks/_fakes.py),
so neither the senders' threads here nor the fakes' request threads there wait on the other's
GIL. After one warm-up PR per process (imports done, Jira cache warm), ``--events``
``pullrequest:created`` deliveries for as many PRs (3 commits each, title and commits naming
ABC-1; the reviewer veto on), made and signed by the fakes' process beforehand, are spread over
the processes.

Prints per configuration:
* ack p50 / p99 — webhook POST until its 202 (the delivery is durably stored by then);
* receipt→final p50 / p99 — webhook POST until the fake Bitbucket received the PR's final
  SUCCESSFUL / FAILED build status;
* Bitbucket requests per PR — every request the fake received during the burst, divided by the
  PRs that got a final status;
* server CPU per PR (a second line): user + system CPU seconds of every ``serve`` process from
  the burst's start until its last final status (+0.5 s), from ``/proc/<pid>/stat``, divided
  by the PRs with a final status — the figure least moved by other load on the machine;
* where the time went (the second line): the mean per delivery of the PR worker's stages, read
  from every process's ``/metrics`` (``jirahooks_evaluation_stage_duration_seconds``,
  ``source="bitbucket-cloud"``, pipeline/timing.py): ``queue`` (receipt → claimed), ``claim``,
  ``db`` (time in database sessions), ``bitbucket`` (time in Bitbucket requests), ``jira``,
  ``final`` (receipt → final status sent, as the server sees it), ``process`` (claim →
  outcome recorded) — a tree without the worker's stages (an older ``--baseline``) prints only
  the engine's (``jira``, ``store``).

``--env NAME=VALUE`` (repeatable) passes settings to the ``serve`` processes, e.g.
``--env JIRAHOOKS_PR_CONCURRENCY=16``.

``--baseline SRC`` runs another jirahooks source tree (e.g. an export of main before a change,
``git archive <commit> src | tar -x -C /tmp/before``) as well, interleaved with this one
configuration by configuration, and prints both rows.

Run: ``.venv/bin/python benchmarks/pr_webhooks.py [--events 200] [--baseline /tmp/before/src]``.
Bounded: at most 1000 events, ``--time-limit`` seconds per configuration. Needs PostgreSQL on
127.0.0.1:5432 for the PostgreSQL rows (skipped, saying so, without it). Figures depend on the
machine (2 shared cores, loaded, here); nothing asserts.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.platforms.harness import WS  # noqa: E402
from tests.platforms.processes import ServeProcess  # noqa: E402
from tests.support.databases import PG_HOST, PG_PORT, PG_USER, postgres_reachable  # noqa: E402

from _fakes import Delivery, FakesProcess  # noqa: E402
from jirahooks.crypto import generate_key  # noqa: E402

CONFIGS = [("sqlite", 1), ("postgres", 1), ("postgres", 2)]
SENDERS = [1, 16]
STAGES = ("queue", "claim", "db", "bitbucket", "jira", "store", "final", "process")
METRICS_TOKEN = "pr-webhooks-benchmark-metrics"
EXTRA_ENV: dict[str, str] = {}  # --env NAME=VALUE
_STAGE_SERIES = re.compile(
    r'^jirahooks_evaluation_stage_duration_seconds_(sum|count)\{(?=[^}]*source="bitbucket-cloud")'
    r'[^}]*stage="([a-z_]+)"[^}]*\} ([0-9.e+-]+)$',
    re.MULTILINE,
)


def scrape_stages(urls: list[str]) -> dict[str, tuple[float, float]]:
    """(sum, count) per PR worker stage, added up over the processes' ``/metrics``."""
    import httpx

    out: dict[str, tuple[float, float]] = {}
    for url in urls:
        try:
            text = httpx.get(
                url + "/metrics",
                headers={"Authorization": f"Bearer {METRICS_TOKEN}"},
                timeout=10,
            ).text
        except httpx.HTTPError:
            continue
        for kind, stage, value in _STAGE_SERIES.findall(text):
            total, count = out.get(stage, (0.0, 0.0))
            if kind == "sum":
                total += float(value)
            else:
                count += float(value)
            out[stage] = (total, count)
    return out


def stage_means(
    before: dict[str, tuple[float, float]], after: dict[str, tuple[float, float]]
) -> dict[str, float]:
    means = {}
    for stage, (total, count) in after.items():
        total0, count0 = before.get(stage, (0.0, 0.0))
        if count - count0 > 0:
            means[stage] = (total - total0) / (count - count0)
    return means


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def figures(result: Any, label_width: int, per_pr_width: int) -> str:
    """One row: label, final/sent, ack p50/p99, receipt→final p50/p99 (ms), requests per PR
    (``result`` has ``label, sent, final, ack, latency, requests``; also pr_webhooks_hosts)."""
    ms = 1000.0
    per_pr = result.requests / result.final if result.final else float("nan")
    ack, latency = result.ack, result.latency
    return (
        f"{result.label:<{label_width}} {result.final:>4}/{result.sent:<4} "
        f"{percentile(ack, 50) * ms:>7.1f} {percentile(ack, 99) * ms:>8.1f}   "
        f"{percentile(latency, 50) * ms:>7.0f} {percentile(latency, 99) * ms:>8.0f}"
        f"   {per_pr:>{per_pr_width}.2f}"
    )


@dataclass
class Result:
    label: str
    sent: int
    final: int
    ack: list[float]
    latency: list[float]
    requests: int
    stages: dict[str, float]
    cpu: float = 0.0  # server CPU seconds (user + system) over the burst, every process

    def line(self) -> str:
        return figures(self, 38, 5) + self.stage_line()

    def stage_line(self) -> str:
        shown = [s for s in STAGES if s in self.stages]
        cpu = f"server CPU {self.cpu * 1000 / self.final:.1f} ms per PR" if self.final else ""
        if not shown:
            return f"\n{'':<38}   {cpu}" if cpu else ""
        means = ", ".join(f"{s} {self.stages[s] * 1000:.0f}" for s in shown)
        return f"\n{'':<38}   {cpu}; mean ms per delivery: {means}"


HEADER = (
    f"{'configuration':<38} {'final':>9} {'ack p50':>7} {'ack p99':>8}   "
    f"{'r→f p50':>7} {'r→f p99':>8}   {'BB/PR':>5}\n"
    f"{'':<38} {'':>9} {'ms':>7} {'ms':>8}   {'ms':>7} {'ms':>8}"
)


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds the processes used so far (``/proc/<pid>/stat``; 0 where it
    cannot be read)."""
    import os

    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return total


def create_pg() -> tuple[str, str]:
    import psycopg

    name = f"jirahooks_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(
        host=PG_HOST, port=PG_PORT, user=PG_USER, dbname="postgres", autocommit=True
    ) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return name, f"postgresql+psycopg://{PG_USER}@{PG_HOST}:{PG_PORT}/{name}"


def drop_pg(name: str) -> None:
    import psycopg

    with psycopg.connect(
        host=PG_HOST, port=PG_PORT, user=PG_USER, dbname="postgres", autocommit=True
    ) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def send_burst(
    urls: list[str], deliveries: list[Delivery], senders: int
) -> dict[str, tuple[int, float, float]]:
    """POST every delivery from ``senders`` threads (one keep-alive client each), delivery ``i``
    to ``urls[i % len(urls)]``: per head (HTTP status, sent at, acknowledged at)."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    import httpx

    local = threading.local()
    clients: list[httpx.Client] = []
    lock = threading.Lock()

    def one(item: tuple[int, Delivery]) -> tuple[str, tuple[int, float, float]]:
        index, (head, headers, body) = item
        client = getattr(local, "client", None)
        if client is None:
            client = local.client = httpx.Client(timeout=30)
            with lock:
                clients.append(client)
        url = f"{urls[index % len(urls)]}/webhooks/bitbucket/{WS}"
        sent = time.monotonic()
        try:
            status = client.post(url, content=body, headers=headers).status_code
        except httpx.HTTPError:
            status = 0
        return head, (status, sent, time.monotonic())

    try:
        with ThreadPoolExecutor(max_workers=max(1, senders)) as pool:
            return dict(pool.map(one, enumerate(deliveries)))
    finally:
        for client in clients:
            client.close()


def wait_finals(fakes: FakesProcess, heads: list[str], timeout: float) -> dict[str, list[float]]:
    deadline = time.monotonic() + timeout
    while True:
        done = fakes.finals(heads)
        if all(done[h] for h in heads) or time.monotonic() > deadline:
            return done
        time.sleep(0.1)


def run_one(
    label: str, database: str, processes: int, senders: int, events: int, src: str, limit: float
) -> Result:
    deadline = time.monotonic() + limit
    pg_name = ""
    with tempfile.TemporaryDirectory() as tmp, FakesProcess() as fakes:
        if database == "postgres":
            pg_name, url = create_pg()
        else:
            url = f"sqlite:///{Path(tmp) / 'jirahooks.sqlite3'}"
        env = {
            "JIRAHOOKS_PR_POLL_SECONDS": "0.2",
            "JIRAHOOKS_METRICS_TOKEN": METRICS_TOKEN,
            **EXTRA_ENV,
        }
        key = generate_key()
        started: list[ServeProcess] = []
        try:
            for _ in range(processes):  # one after another: the first creates the schema
                started.append(ServeProcess(url, Path(tmp) / "data", key, env, src=src).start())
            fakes.configure(started[0].url, started[0].admin_token())
            urls = [p.url for p in started]
            warm = fakes.make_prs(processes)
            send_burst(urls, warm, senders=1)
            wait_finals(fakes, [head for head, _, _ in warm], timeout=60)
            deliveries = fakes.make_prs(events)
            stages_before = scrape_stages(urls)
            fakes.reset_log()
            pids = [p.process.pid for p in started if p.process is not None]
            cpu_before = cpu_seconds(pids)
            sent = send_burst(urls, deliveries, senders)
            heads = [head for head, _, _ in deliveries]
            accepted = [h for h, (status, _, _) in sent.items() if status in (200, 202)]
            done = wait_finals(fakes, accepted, timeout=max(1.0, deadline - time.monotonic()))
            latency = [min(done[h]) - sent[h][1] for h in heads if done.get(h)]
            ack = [acked - at for _, at, acked in sent.values()]
            time.sleep(0.5)  # requests still on their way for the last PRs (the veto)
            cpu = cpu_seconds(pids) - cpu_before
            requests = fakes.request_count()
            stages = stage_means(stages_before, scrape_stages(urls))
            return Result(label, len(accepted), len(latency), ack, latency, requests, stages, cpu)
        finally:
            for process in started:
                process.stop()
            if pg_name:
                drop_pg(pg_name)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--time-limit", type=float, default=120.0, help="seconds per config")
    parser.add_argument("--baseline", default="", help="another jirahooks src/ to compare")
    parser.add_argument(
        "--only", default="", help="e.g. postgres:2:16 (database:processes:senders)"
    )
    parser.add_argument(
        "--env", action="append", default=[], help="NAME=VALUE for the serve processes"
    )
    args = parser.parse_args()
    EXTRA_ENV.update(item.split("=", 1) for item in args.env if "=" in item)
    events = max(1, min(args.events, 1000))
    trees = [("before", args.baseline), ("after", "")] if args.baseline else [("", "")]
    have_pg = postgres_reachable()
    if not have_pg:
        print(f"PostgreSQL is not reachable on {PG_HOST}:{PG_PORT}: its rows are skipped")
    print(f"{events} pullrequest:created webhooks per configuration; machine: see caveat below")
    print(HEADER)
    for database, processes in CONFIGS:
        if database == "postgres" and not have_pg:
            continue
        for senders in SENDERS:
            if args.only and args.only != f"{database}:{processes}:{senders}":
                continue
            for name, src in trees:
                label = f"{database}, {processes} proc, {senders:>2} senders"
                label = f"{label} {name}".rstrip()
                try:
                    result = run_one(
                        label, database, processes, senders, events, src, args.time_limit
                    )
                except Exception as exc:  # a benchmark reports, it does not stop
                    print(f"{label:<38} failed: {type(exc).__name__}: {exc}"[:300])
                    continue
                print(result.line(), flush=True)
    print(
        "r→f = receipt to final status; BB/PR = Bitbucket requests per evaluated PR. "
        "Loopback; the fake Bitbucket and Jira in a process of their own, the senders in "
        "this one, each serve process in its own; compare rows of one run, not across "
        "machines."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
