"""Pull-request webhooks per host, end to end on loopback: the same burst of signed deliveries
for every wired host — Bitbucket Cloud, Bitbucket Data Center, GitLab, GitHub — side by side in
one run, host after host, repeated ``--rounds`` times (round 1 every host, then round 2 …).

Every host in every round gets a fresh jirahooks server (uvicorn on 127.0.0.1, worker running,
``tests/platforms/harness.py``'s ``LiveServer`` and ``FAST_OPTIONS``) on a fresh SQLite file, a
fresh fake of the host (tests/fakes/fake_bitbucket.py, fake_bitbucket_dc.py, fake_gitlab.py,
fake_github.py) and a fresh fake Jira (tests/fakes/fake_jira.py), all in this process, set up
through the admin API exactly as the end-to-end tests do (``live_guardian`` for Cloud, and the
setup functions of tests/pipeline/test_bitbucket_dc_pipeline.py, test_gitlab_pipeline.py,
test_github_end_to_end.py, which this imports). After one warm-up PR (imports done, Jira cache
warm) ``--events`` PR-opened deliveries (Cloud ``pullrequest:created``, Data Center
``pr:opened``, GitLab Merge Request Hook ``open``, GitHub ``pull_request`` ``opened``), one per
PR of 3 commits (title and commits naming ABC-1, so every PR passes; the review setting on), are
sent from ``--senders`` threads, signed the way each host signs.

Prints per host (a row per host and round):
* final / sent — PRs whose final result was published / deliveries answered 202;
* ack p50 / p99 — webhook POST until its 202 (the delivery is durably stored by then);
* receipt→final p50 / p99 — webhook POST until the fake host holds the PR's final result:
  Bitbucket (Cloud, Data Center) a SUCCESSFUL / FAILED build status under the Guardian's key,
  GitLab a ``success`` / ``failed`` commit status, GitHub a ``completed`` check run. One watcher
  thread reads every fake's own state every 5 ms, the same way for every host, so these figures
  carry up to ~5 ms of sampling (the Cloud-only benchmarks/pr_webhooks.py times the request
  itself instead);
* host requests per PR — every request the fake host received during the burst (its request
  log, cleared after the warm-up; 0.5 s allowed for the last PRs' trailing requests), divided
  by the PRs with a final result.

Run: ``.venv/bin/python benchmarks/pr_webhooks_hosts.py [--events 100] [--senders 8]
[--rounds 1] [--only gitlab] [--time-limit 120]``. Bounded: at most 500 events and 64 senders,
``--time-limit`` seconds per host and round for the results to arrive (plus the 0.5 s
allowance), at most 10 rounds. A host that fails prints its error and the run goes on; nothing
asserts. Figures depend on the machine: compare rows of one run, not across machines.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from tests.fakes.fake_jira import FakeJira  # noqa: E402
from tests.platforms.harness import SECRET as CLOUD_SECRET  # noqa: E402
from tests.platforms.harness import WS, LiveServer, live_guardian, settings_for  # noqa: E402
from tests.platforms.payloads import pull_request_event  # noqa: E402

from pr_webhooks import figures  # noqa: E402

HOSTS = ("bitbucket-cloud", "bitbucket-dc", "gitlab", "github")
POLL = 0.005  # the watcher's period (seconds)


@dataclass
class Wired:
    """One host wired to a live server: how to make a PR, its signed delivery, its result."""

    url: str  # the server's base URL
    path: str  # the webhook path
    make_pr: Callable[[int], Any]  # PR number i → the fake's PR (its head is ``head(pr)``)
    head: Callable[[Any], str]
    hook: Callable[[Any, int], tuple[dict[str, str], bytes]]  # (PR, i) → headers, body
    final: Callable[[str], bool]  # head → the final result is on the fake host
    log: Callable[[], list[Any]]  # the fake host's request log (a copy)
    clear_log: Callable[[], None]


def commits_for(i: int) -> list[str]:
    return [f"ABC-1 step {j} of change {i}" for j in range(3)]


def clear(fake: Any) -> None:
    with fake.lock:
        fake.requests.clear()


# -- the four hosts, each set up as its end-to-end tests do ---------------------------------


@contextmanager
def bitbucket_cloud(tmp: Path) -> Iterator[Wired]:
    from tests.platforms.processes import FINAL

    with live_guardian(tmp) as g:

        def final(head: str) -> bool:
            status = g.status(head)
            return status is not None and status["state"] in FINAL

        def hook(pr: Any, i: int) -> tuple[dict[str, str], bytes]:
            return pull_request_event(
                g.bitbucket, g.repo, pr, secret=CLOUD_SECRET, request_id=f"bench-{pr.id}"
            )

        yield Wired(
            g.server.url,
            f"/webhooks/bitbucket/{WS}",
            lambda i: g.bitbucket.add_pr(
                g.repo, f"ABC-1 Change {i}", source=f"feature/ABC-1-{i}", commits=commits_for(i)
            ),
            lambda pr: str(pr.head),
            hook,
            final,
            lambda: list(g.bitbucket.requests),
            g.bitbucket.reset_log,
        )


@contextmanager
def bitbucket_dc(tmp: Path) -> Iterator[Wired]:
    from tests.pipeline import test_bitbucket_dc_pipeline as dc_tests
    from tests.pipeline.hosts import dc_pr_hook

    made = dc_tests.start(tmp, "")
    try:

        def hook(pr: Any, i: int) -> tuple[dict[str, str], bytes]:
            return dc_pr_hook(
                made.dc, made.repo, pr, secret=dc_tests.SECRET, request_id=f"bench-{pr.id}"
            )

        def final(head: str) -> bool:
            status = made.status(head)
            return status is not None and status["state"] in ("SUCCESSFUL", "FAILED")

        yield Wired(
            made.server.url,
            dc_tests.URL,
            lambda i: made.dc.add_pr(
                made.repo, f"ABC-1 Change {i}", source=f"feature/ABC-1-{i}", commits=commits_for(i)
            ),
            lambda pr: str(pr.head),
            hook,
            final,
            lambda: list(made.dc.requests),
            lambda: clear(made.dc),
        )
    finally:
        dc_tests.stop(made)


@contextmanager
def gitlab(tmp: Path) -> Iterator[Wired]:
    from tests.fakes.fake_gitlab import FakeGitLab
    from tests.pipeline import test_gitlab_pipeline as gl_tests

    with FakeGitLab() as fake, FakeJira("cloud") as jira:
        server = gl_tests.start(tmp, "")
        try:
            g = gl_tests.configure(server, fake, jira)

            def hook(mr: Any, i: int) -> tuple[dict[str, str], bytes]:
                headers, body = fake.merge_request_hook(g.project, mr, action="open")
                return {**headers, "X-Gitlab-Token": gl_tests.SECRET}, body

            def final(sha: str) -> bool:
                status = g.status(sha)
                return status is not None and status["state"] in ("SUCCESSFUL", "FAILED")

            yield Wired(
                server.url,
                gl_tests.URL,
                lambda i: fake.add_mr(
                    g.project,
                    f"ABC-1 Change {i}",
                    source=f"feature/ABC-1-{i}",
                    commits=commits_for(i),
                ),
                lambda mr: str(mr.sha),
                hook,
                final,
                lambda: list(fake.requests),
                lambda: clear(fake),
            )
            g.http.close()
        finally:
            server.stop()


@contextmanager
def github(tmp: Path) -> Iterator[Wired]:
    from tests.fakes.fake_github import APP_ID, INSTALLATION_ID, FakeGitHub, app_key_pem
    from tests.pipeline import test_github_end_to_end as gh_tests
    from tests.platforms import github_payloads as payloads
    from tests.platforms.harness import FAST_OPTIONS, setup_workspace

    with FakeGitHub() as fake, FakeJira("cloud") as jira:
        server = LiveServer(settings_for(tmp), FAST_OPTIONS).start()
        http = httpx.Client(base_url=server.url, timeout=30)
        try:
            # what the ``hub`` fixture of test_github_end_to_end.py sets up
            hub = gh_tests.Hub(
                server,
                fake,
                jira,
                fake.add_repo("acme", "api-service"),
                http,
                server.state.first_start.token,
            )
            setup_workspace(hub.api, jira, rules=gh_tests.RULES)
            hub.api(
                "PUT",
                f"/workspaces/{WS}/platforms/github",
                json={
                    "api_url": fake.url,
                    "app_id": APP_ID,
                    "installation_id": INSTALLATION_ID,
                    "owner": "acme",
                    "private_key": app_key_pem(),
                    "webhook_secret": payloads.SECRET,
                    "public_url": server.url,
                },
            )

            def final(sha: str) -> bool:
                runs = hub.runs(sha)
                return bool(runs) and runs[-1]["status"] == "completed"

            yield Wired(
                server.url,
                gh_tests.URL,
                lambda i: fake.add_pr(
                    hub.repo,
                    f"ABC-1 Change {i}",
                    source=f"feature/ABC-1-{i}",
                    commits=commits_for(i),
                ),
                lambda pr: str(pr.head),
                lambda pr, i: payloads.deliver(
                    "pull_request", payloads.pull_request(fake, hub.repo, pr)
                ),
                final,
                lambda: list(fake.requests),
                lambda: clear(fake),
            )
        finally:
            http.close()
            server.stop()


SETUP: dict[str, Callable[[Path], Any]] = {
    "bitbucket-cloud": bitbucket_cloud,
    "bitbucket-dc": bitbucket_dc,
    "gitlab": gitlab,
    "github": github,
}


# -- the burst ------------------------------------------------------------------------------


@dataclass
class Result:
    label: str
    sent: int
    final: int
    ack: list[float]
    latency: list[float]
    requests: int
    note: str = ""

    def line(self) -> str:
        return figures(self, 26, 7) + (f"  ({self.note})" if self.note else "")


HEADER = (
    f"{'host, round':<26} {'final':>9} {'ack p50':>7} {'ack p99':>8}   "
    f"{'r→f p50':>7} {'r→f p99':>8}   {'host/PR':>7}\n"
    f"{'':<26} {'':>9} {'ms':>7} {'ms':>8}   {'ms':>7} {'ms':>8}"
)


@dataclass
class Watcher:
    """When each head's final result first showed on the fake host (one thread, every POLL)."""

    final: Callable[[str], bool]
    pending: set[str] = field(default_factory=set)
    seen: dict[str, float] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    stop: threading.Event = field(default_factory=threading.Event)

    def watch(self, heads: list[str]) -> None:
        with self.lock:
            self.pending.update(heads)

    def run(self) -> None:
        while not self.stop.is_set():
            with self.lock:
                heads = list(self.pending)
            for head in heads:
                if self.final(head):
                    now = time.monotonic()
                    with self.lock:
                        self.pending.discard(head)
                        self.seen.setdefault(head, now)
            self.stop.wait(POLL)

    def wait(self, heads: list[str], deadline: float) -> None:
        while time.monotonic() < deadline:
            with self.lock:
                if all(h in self.seen for h in heads):
                    return
            time.sleep(0.05)


def run_host(host: str, label: str, events: int, senders: int, limit: float) -> Result:
    with tempfile.TemporaryDirectory() as tmp, SETUP[host](Path(tmp)) as wired:
        watcher = Watcher(wired.final)
        thread = threading.Thread(target=watcher.run, daemon=True)
        thread.start()
        local = threading.local()
        clients: list[httpx.Client] = []
        clients_lock = threading.Lock()

        def post(pr: Any, i: int) -> tuple[int, float, float]:
            client = getattr(local, "client", None)
            if client is None:
                client = local.client = httpx.Client(base_url=wired.url, timeout=30)
                with clients_lock:
                    clients.append(client)
            headers, body = wired.hook(pr, i)
            sent = time.monotonic()
            try:
                status = client.post(wired.path, content=body, headers=headers).status_code
            except httpx.HTTPError:
                status = 0
            return status, sent, time.monotonic()

        try:
            warm = wired.make_pr(-1)
            watcher.watch([wired.head(warm)])
            post(warm, -1)
            watcher.wait([wired.head(warm)], time.monotonic() + 60)
            if wired.head(warm) not in watcher.seen:
                raise RuntimeError("the warm-up PR got no final result within 60 s")
            time.sleep(0.5)  # the warm-up's trailing requests, before the log is cleared
            prs = [wired.make_pr(i) for i in range(events)]
            heads = [wired.head(pr) for pr in prs]
            wired.clear_log()
            watcher.watch(heads)
            deadline = time.monotonic() + limit
            with ThreadPoolExecutor(max_workers=senders) as pool:
                answers = list(pool.map(post, prs, range(events)))
            accepted = [
                h for h, (status, _, _) in zip(heads, answers, strict=True) if status == 202
            ]
            watcher.wait(accepted, deadline)
            time.sleep(0.5)  # requests still on their way for the last PRs (review, notes)
            with watcher.lock:
                seen = dict(watcher.seen)
            sent_at = {h: at for h, (_, at, _) in zip(heads, answers, strict=True)}
            latency = [seen[h] - sent_at[h] for h in accepted if h in seen]
            ack = [acked - at for status, at, acked in answers if status == 202]
            refused = len(answers) - len(accepted)
            note = f"{refused} not answered 202" if refused else ""
            return Result(label, len(accepted), len(latency), ack, latency, len(wired.log()), note)
        finally:
            watcher.stop.set()
            thread.join(timeout=5)
            for client in clients:
                client.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--events", type=int, default=100, help="PRs per host and round (≤ 500)")
    parser.add_argument("--senders", type=int, default=8, help="concurrent sender threads")
    parser.add_argument("--rounds", type=int, default=1, help="times every host is run")
    parser.add_argument("--only", default="", choices=("", *HOSTS), help="one host only")
    parser.add_argument(
        "--time-limit", type=float, default=120.0, help="seconds per host and round"
    )
    args = parser.parse_args()
    events = max(1, min(args.events, 500))
    senders = max(1, min(args.senders, 64))
    rounds = max(1, min(args.rounds, 10))
    hosts = [args.only] if args.only else list(HOSTS)
    print(
        f"{events} PR-opened webhooks per host and round, {senders} senders, {rounds} round(s); "
        "SQLite, one server process"
    )
    print(HEADER)
    for round_no in range(1, rounds + 1):
        for host in hosts:
            label = f"{host}, round {round_no}"
            try:
                result = run_host(host, label, events, senders, args.time_limit)
            except Exception as exc:  # a benchmark reports, it does not stop
                where = traceback.extract_tb(exc.__traceback__)[-1]
                print(
                    f"{label:<26} failed: {type(exc).__name__}: {exc} "
                    f"({Path(where.filename).name}:{where.lineno})"[:300],
                    flush=True,
                )
                continue
            print(result.line(), flush=True)
    print(
        "r→f = receipt to the host's final result (Bitbucket build status, GitLab commit status, "
        "GitHub completed check run); host/PR = requests the fake host received per PR with a "
        "final result. Loopback, the server and every fake in this process, 2 shared cores "
        "under other load: compare rows of one run, not across machines."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
