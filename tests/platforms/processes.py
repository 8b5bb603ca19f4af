"""Real ``jirahooks serve`` processes on one database — two of them are two hosts — wired to the
fake Bitbucket and Jira of the test (or benchmark) process: for the multi-process queue tests
(tests/platforms/test_queue_processes.py) and benchmarks/pr_webhooks.py.

Each process is started as an operator would (``python -m jirahooks serve --port … --database-url
…``, the secret key in ``JIRAHOOKS_SECRET_KEY``), on its own free loopback port; the first one
creates the schema and prints the one-time admin token, which is read from its output. Output
goes to a file per process (never a pipe that could fill up and block the server).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from tests.fakes.fake_bitbucket import FakeBitbucket, FakePullRequest, FakeRepo
from tests.fakes.fake_jira import FakeJira
from tests.platforms.harness import SECRET, WS, Guardian, configure
from tests.platforms.payloads import pull_request_event
from tests.support.live import free_port

from jirahooks.crypto import generate_key

KEY = "jirahooks-process-guardian"
FINAL = ("SUCCESSFUL", "FAILED")
_TOKEN = re.compile(r"^\s+(jh_\S+)\s*$", re.MULTILINE)


@dataclass
class ServeProcess:
    """One ``jirahooks serve`` process (``start()`` waits for ``/healthz``)."""

    database_url: str
    data_dir: Path
    secret_key: str
    env: Mapping[str, str] = field(default_factory=dict)
    src: str = ""  # a jirahooks source tree to run instead of the installed one (benchmark)
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> ServeProcess:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.data_dir / f"serve-{self.port}.log"
        env = {
            **os.environ,
            "JIRAHOOKS_SECRET_KEY": self.secret_key,
            "JIRAHOOKS_JIRA_SWEEP_SECONDS": "0",
            "JIRAHOOKS_RECONCILE_SECONDS": "0",
            **self.env,
        }
        if self.src:
            env["PYTHONPATH"] = self.src
        command = [
            sys.executable,
            "-m",
            "jirahooks",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--database-url",
            self.database_url,
            "--data-dir",
            str(self.data_dir),
            "--log-level",
            "warning",
            "--no-access-log",
        ]
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"jirahooks serve exited: {self.output()[-2000:]}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"jirahooks serve did not answer in {timeout}s: {self.output()[-2000:]}")

    def output(self) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")

    def admin_token(self) -> str:
        found = _TOKEN.search(self.output())
        assert found, f"no first-start token in the output of {self.url}"
        return found.group(1)

    def kill(self) -> None:
        """``kill -9``: no shutdown, no lease released, connections dropped by the kernel."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.kill()


@dataclass
class Deployment:
    """N serve processes on one database, configured against the fakes."""

    processes: list[ServeProcess]
    guardian: Guardian

    @property
    def bitbucket(self) -> FakeBitbucket:
        return self.guardian.bitbucket

    @property
    def repo(self) -> FakeRepo:
        return self.guardian.repo

    def close(self) -> None:
        self.guardian.http.close()
        for process in self.processes:
            process.stop()


def deploy(
    count: int,
    database_url: str,
    data_dir: Path,
    bitbucket: FakeBitbucket,
    jira: FakeJira,
    *,
    env: Mapping[str, str] | None = None,
    src: str = "",
    review: bool = True,
) -> Deployment:
    """Start ``count`` processes one after another (the first creates the schema) and configure
    the workspace through the first one's admin API."""
    key = generate_key()
    processes: list[ServeProcess] = []
    try:
        for _ in range(count):
            processes.append(
                ServeProcess(database_url, data_dir, key, dict(env or {}), src=src).start()
            )
        first = processes[0]
        guardian = configure(
            first,  # type: ignore[arg-type]  # only its url is used
            bitbucket,
            jira,
            admin_token=first.admin_token(),
            review=review,
        )
    except BaseException:
        for process in processes:
            process.stop()
        raise
    return Deployment(processes, guardian)


def make_prs(bitbucket: FakeBitbucket, repo: FakeRepo, count: int) -> list[FakePullRequest]:
    """``count`` passing PRs of 3 commits each (title and commits name ABC-1)."""
    return [
        bitbucket.add_pr(
            repo,
            f"ABC-1 Change {i}",
            source=f"feature/ABC-1-change-{i}",
            commits=[f"ABC-1 step {j} of change {i}" for j in range(3)],
        )
        for i in range(count)
    ]


def send(
    client: httpx.Client,
    url: str,
    bitbucket: FakeBitbucket,
    repo: FakeRepo,
    pr: FakePullRequest,
    attempt: int = 1,
) -> tuple[int, float, float]:
    """POST one signed ``pullrequest:created``: (HTTP status, sent at, acknowledged at). Like
    Bitbucket, a retry (``attempt`` 2) carries the same ``X-Request-UUID``."""
    headers, body = pull_request_event(
        bitbucket, repo, pr, secret=SECRET, request_id=f"burst-{repo.slug}-{pr.id}", attempt=attempt
    )
    sent = time.monotonic()
    try:
        response = client.post(f"{url}/webhooks/bitbucket/{WS}", content=body, headers=headers)
        status = response.status_code
    except httpx.HTTPError:
        status = 0
    return status, sent, time.monotonic()


def final_statuses(bitbucket: FakeBitbucket, heads: Iterable[str]) -> dict[str, list[float]]:
    """For each head, when the fake received a final (SUCCESSFUL / FAILED) status under the
    Guardian's key — one entry per evaluation that published."""
    wanted = set(heads)
    out: dict[str, list[float]] = {h: [] for h in wanted}
    for record in bitbucket.requests_to("/statuses/build", method="POST"):
        body = record.body if isinstance(record.body, dict) else {}
        head = record.path.split("/commit/", 1)[1].split("/", 1)[0]
        if head in wanted and body.get("key") == KEY and body.get("state") in FINAL:
            out[head].append(record.at)
    return out


def wait_final(bitbucket: FakeBitbucket, heads: Iterable[str], timeout: float) -> bool:
    wanted = list(heads)
    deadline = time.monotonic() + timeout
    while True:
        done = final_statuses(bitbucket, wanted)
        if all(done[h] for h in wanted):
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)


def requests_by_pr(bitbucket: FakeBitbucket, repo: FakeRepo) -> dict[str, int]:
    """Bitbucket requests per PR (by id, the head commit's requests counted to its PR)."""
    heads = {pr.head: str(pr.id) for pr in repo.prs.values()}
    out: dict[str, int] = {}
    for record in bitbucket.requests:
        match = re.search(r"/pullrequests/(\d+)|/commit/([0-9a-f]{40})", record.path)
        pr_id = (match.group(1) or heads.get(match.group(2) or "", "")) if match else ""
        out[pr_id or "?"] = out.get(pr_id or "?", 0) + 1
    return out


def psql_rows(database_url: str, query: str) -> list[tuple[Any, ...]]:
    """Rows of ``query`` on the PostgreSQL database of ``database_url`` (psycopg, sync)."""
    import psycopg

    plain = database_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as conn:
        return [tuple(r) for r in conn.execute(query).fetchall()]


def evaluations_per_head(database_url: str) -> dict[str, int]:
    """Stored PULL_REQUEST evaluations per PR head (from the evaluations table)."""
    counts: dict[str, int] = {}
    for (event,) in psql_rows(database_url, "SELECT event FROM evaluations"):
        data = event if isinstance(event, dict) else json.loads(event)
        head = str((data.get("pullRequest") or {}).get("head") or "")
        counts[head] = counts.get(head, 0) + 1
    return counts


@dataclass
class Burst:
    """What a burst sent: per head, (HTTP status, sent at, acknowledged at)."""

    sent: dict[str, tuple[int, float, float]] = field(default_factory=dict)
    ended: float = 0.0

    @property
    def accepted(self) -> list[str]:
        """Heads whose delivery was acknowledged (202, or 200 ``duplicate`` for a retry of one
        stored before its answer was lost)."""
        return [h for h, (status, _, _) in self.sent.items() if status in (200, 202)]


def burst(
    urls: list[str],
    bitbucket: FakeBitbucket,
    repo: FakeRepo,
    prs: list[FakePullRequest],
    *,
    senders: int,
    midway: Any = None,
    after: int = -1,
) -> Burst:
    """Send one ``pullrequest:created`` per PR from ``senders`` threads, PR ``i`` to
    ``urls[i % len(urls)]``. ``midway()`` is called once ``after`` deliveries were sent and
    returns the URLs to use from then on (e.g. without a killed process)."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    result = Burst()
    lock = threading.Lock()
    targets = list(urls)
    count = [0]
    local = threading.local()
    clients: list[httpx.Client] = []

    def one(index_pr: tuple[int, FakePullRequest]) -> None:
        index, pr = index_pr
        with lock:
            count[0] += 1
            if midway is not None and count[0] == after + 1:
                targets[:] = midway()
            url = targets[index % len(targets)]
        client = getattr(local, "client", None)
        if client is None:
            client = local.client = httpx.Client(timeout=30)
            with lock:
                clients.append(client)
        outcome = send(client, url, bitbucket, repo, pr)
        if outcome[0] != 202 and midway is not None:  # the process died under us: retry
            with lock:
                url = targets[index % len(targets)]
            outcome = send(client, url, bitbucket, repo, pr, attempt=2)
        with lock:
            result.sent[pr.head] = outcome

    try:
        with ThreadPoolExecutor(max_workers=max(1, senders)) as pool:
            list(pool.map(one, enumerate(prs)))
    finally:
        for client in clients:
            client.close()
    result.ended = time.monotonic()
    return result
