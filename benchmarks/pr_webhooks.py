"""Pull-request webhooks end to end on loopback: how fast jirahooks acknowledges a Bitbucket
delivery, and how long until the build status is on the commit.

A real jirahooks server (uvicorn, background worker) on 127.0.0.1, the fake Bitbucket Cloud and
the fake Jira (tests/fakes) on their own ports. After one warm-up PR (so the Jira cache is warm),
N signed ``pullrequest:created`` deliveries for N different PRs are sent one after another as fast
as the server acknowledges them; each PR has 3 commits and a title referencing ABC-1.

Prints:
* ack latency p50 / p99 — webhook POST until the 202 (the delivery is stored durably by then);
* receipt-to-status latency p50 / p99 — webhook POST until the fake Bitbucket received the final
  SUCCESSFUL / FAILED build status (INPROGRESS, fetch PR + commits, evaluate, store, status,
  report, approval);
* Bitbucket and Jira requests per event.

Run: ``.venv/bin/python benchmarks/pr_webhooks.py [--events 200] [--time-limit 120]``. Bounded in
count (at most 1000 events) and in time; figures depend on the machine; nothing asserts.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from tests.fakes.fake_bitbucket import FakeBitbucket  # noqa: E402
from tests.fakes.fake_jira import FakeJira  # noqa: E402
from tests.platforms.harness import (  # noqa: E402
    FAST_OPTIONS,
    SECRET,
    WS,
    LiveServer,
    configure,
    settings_for,
)
from tests.platforms.payloads import pull_request_event  # noqa: E402

FINAL = ("SUCCESSFUL", "FAILED")


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--time-limit", type=float, default=120.0, help="seconds, overall")
    args = parser.parse_args()
    events = max(1, min(args.events, 1000))
    deadline = time.monotonic() + args.time_limit

    with tempfile.TemporaryDirectory() as tmp, FakeBitbucket() as bitbucket, FakeJira() as jira:
        server = LiveServer(settings_for(Path(tmp)), FAST_OPTIONS).start()
        try:
            g = configure(server, bitbucket, jira, admin_token=server.state.first_start.token)
            prs = [
                bitbucket.add_pr(
                    g.repo,
                    f"ABC-1 Change {i}",
                    source=f"feature/ABC-1-change-{i}",
                    commits=[f"ABC-1 step {j} of change {i}" for j in range(3)],
                )
                for i in range(events + 1)
            ]
            warm, prs = prs[0], prs[1:]
            g.deliver(warm)
            g.final_status(warm.head, timeout=30)
            bitbucket.reset_log()
            jira_before = len(jira.requests)

            sent: dict[str, float] = {}
            acks: list[float] = []
            with httpx.Client(base_url=server.url, timeout=30) as http:
                for pr in prs:
                    if time.monotonic() > deadline:
                        break
                    headers, body = pull_request_event(bitbucket, g.repo, pr, secret=SECRET)
                    t0 = time.monotonic()
                    response = http.post(f"/webhooks/bitbucket/{WS}", content=body, headers=headers)
                    acks.append(time.monotonic() - t0)
                    if response.status_code != 202:
                        print(f"unexpected answer {response.status_code}: {response.text}")
                        return 0
                    sent[pr.head] = t0

            done: dict[str, float] = {}
            while len(done) < len(sent) and time.monotonic() < deadline:
                for record in bitbucket.requests_to("/statuses/build", method="POST"):
                    body = record.body if isinstance(record.body, dict) else {}
                    head = record.path.split("/commit/", 1)[1].split("/", 1)[0]
                    if body.get("state") in FINAL and head in sent and head not in done:
                        done[head] = record.at
                time.sleep(0.02)
            g.settle(timeout=max(1.0, deadline - time.monotonic()))
            latencies = [done[h] - sent[h] for h in done]
            bb_requests = len(bitbucket.requests)
            jira_requests = len(jira.requests) - jira_before
            g.http.close()
        finally:
            server.stop()

    ms = 1000.0
    print(f"PR webhook events: {len(acks)} sent, {len(latencies)} with a final status")
    print(
        f"ack latency:               p50 {percentile(acks, 50) * ms:.1f} ms   "
        f"p99 {percentile(acks, 99) * ms:.1f} ms"
    )
    print(
        f"receipt-to-status latency: p50 {percentile(latencies, 50) * ms:.1f} ms   "
        f"p99 {percentile(latencies, 99) * ms:.1f} ms"
    )
    if acks:
        print(
            f"Bitbucket requests per event: {bb_requests / len(acks):.1f}; "
            f"Jira requests during the run (warm cache): {jira_requests}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
