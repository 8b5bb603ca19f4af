"""A real jirahooks server (uvicorn on 127.0.0.1, worker running) wired to a fake Bitbucket and a
fake Jira — for the webhook tests and benchmarks/pr_webhooks.py."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from tests.fakes.fake_bitbucket import ACCESS_TOKEN, FakeBitbucket, FakePullRequest, FakeRepo
from tests.fakes.fake_jira import FakeJira
from tests.platforms.payloads import pull_request_event
from tests.support.live import UvicornThread, free_port

from jirahooks.crypto import generate_key
from jirahooks.pipeline.options import WorkerOptions
from jirahooks.retry import RetryPolicy
from jirahooks.server import ServerSettings, create_app

WS = "default"
SECRET = "webhook-s3cret"
FAST_OPTIONS = WorkerOptions(
    poll_seconds=0.2,
    reconcile_seconds=0,
    backoff_base=0.05,
    backoff_cap=0.2,
    retry=RetryPolicy(max_attempts=3, backoff_base=0.01, backoff_cap=0.05, max_wait=2.0),
)
PR_RULES = [
    {
        "id": "title-key",
        "title": "PR title names a valid issue",
        "triggers": ["PULL_REQUEST"],
        "targets": ["PR_TITLE"],
        "hint": "Start the title with the issue key, e.g. ABC-1 Login form",
        "checks": {"key_present": True, "keys_valid": "ALL"},
    },
    {
        "id": "commit-keys",
        "title": "Commits reference an issue",
        "triggers": ["PULL_REQUEST"],
        "targets": ["COMMITS"],
        "strategy": "ALL",
        "checks": {"key_present": True},
    },
]


def wait_until(predicate: Callable[[], Any], timeout: float = 10.0, step: float = 0.02) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(step)
    return bool(predicate())


@dataclass
class LiveServer:
    """uvicorn serving ``create_app(settings)`` in a thread, on its own event loop."""

    settings: ServerSettings
    options: WorkerOptions = FAST_OPTIONS
    port: int = field(default_factory=free_port)
    app: Any = None
    _live: UvicornThread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LiveServer:
        self.app = create_app(self.settings)
        self.app.state.pr_worker_options = self.options
        self._live = UvicornThread(self.app, port=self.port).start()
        return self

    def stop(self) -> None:
        if self._live is not None:
            self._live.stop()
        self._live = None

    @property
    def state(self) -> Any:
        return self.app.state.jirahooks

    @property
    def worker(self) -> Any:
        return self.state.extras["pr_worker"]

    def run(self, coro: Any) -> Any:
        """Run a coroutine on the server's event loop (e.g. ``worker.reconcile()``)."""
        assert self._live is not None
        return asyncio.run_coroutine_threadsafe(coro, self.worker.loop).result(timeout=30)


def admin_call(http: httpx.Client, token: str, method: str, path: str, **kwargs: Any) -> Any:
    """One admin API call that must succeed; its JSON (None for an empty body)."""
    response = http.request(
        method, "/api/v1" + path, headers={"Authorization": f"Bearer {token}"}, **kwargs
    )
    assert response.status_code < 300, (method, path, response.status_code, response.text)
    return response.json() if response.content else None


class Settles:
    """Waiting for a live server's results, for every host's test object: it has ``server``
    and ``status(commit)`` (the build status the fake host holds under the Guardian's key)."""

    server: LiveServer

    def status(self, commit: str) -> dict[str, Any] | None:
        raise NotImplementedError

    def settle(self, timeout: float = 15.0) -> None:
        """Wait until the worker has nothing pending, claimed or running."""
        assert wait_until(lambda: self.server.run(busy(self.server)) == 0, timeout, 0.05)

    def final_status(self, commit: str, timeout: float = 15.0) -> dict[str, Any]:
        def done() -> bool:
            status = self.status(commit)
            return status is not None and status["state"] in ("SUCCESSFUL", "FAILED")

        assert wait_until(done, timeout), f"no final status on {commit[:12]}: {self.status(commit)}"
        self.settle(timeout)
        status = self.status(commit)
        assert status is not None
        return status


@dataclass
class Guardian(Settles):
    """A configured jirahooks (live), a fake Bitbucket and a fake Jira."""

    server: LiveServer
    bitbucket: FakeBitbucket
    jira: FakeJira
    repo: FakeRepo
    admin_token: str
    http: httpx.Client

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        return admin_call(self.http, self.admin_token, method, path, **kwargs)

    def deliver(
        self,
        pr: FakePullRequest,
        event_key: str = "pullrequest:created",
        *,
        secret: str | None = SECRET,
        request_id: str = "",
        attempt: int = 1,
    ) -> httpx.Response:
        headers, body = pull_request_event(
            self.bitbucket,
            self.repo,
            pr,
            event_key,
            secret=secret or "",
            request_id=request_id,
            attempt=attempt,
        )
        return self.http.post(f"/webhooks/bitbucket/{WS}", content=body, headers=headers)

    def status(self, commit: str) -> dict[str, Any] | None:
        return self.bitbucket.status(self.repo, commit, "jirahooks-process-guardian")


async def busy(server: LiveServer) -> int:
    """Deliveries still waiting or in progress (0 when the worker is idle)."""
    from sqlalchemy import func, select

    from jirahooks.store.deliveries import DeliveryRow

    async with server.state.database.session() as session:
        count = await session.scalar(
            select(func.count())
            .select_from(DeliveryRow)
            .where(DeliveryRow.state.in_(("pending", "processing")))
        )
    return int(count or 0) + len(server.worker._running)


def make_due(server: LiveServer, delivery_id: int) -> None:
    """A rescheduled delivery's time has come (``next_attempt_at`` = now); the worker is woken."""
    from datetime import UTC, datetime

    from sqlalchemy import update

    from jirahooks.store.deliveries import DeliveryRow

    async def now_due() -> None:
        async with server.state.database.session() as session:
            await session.execute(
                update(DeliveryRow)
                .where(DeliveryRow.id == delivery_id)
                .values(next_attempt_at=datetime.now(UTC))
            )
            await session.commit()

    server.run(now_due())
    server.worker.wake()


def settings_for(tmp: Path, database_url: str = "") -> ServerSettings:
    """Settings on ``database_url`` (the tests' SQLite / PostgreSQL fixture), or SQLite."""
    return ServerSettings(
        data_dir=tmp / "data",
        database_url=database_url or f"sqlite:///{tmp / 'jirahooks.sqlite3'}",
        secret_key=generate_key(),
    )


def setup_workspace(
    api: Callable[..., Any],
    jira: FakeJira,
    *,
    review: bool = True,
    rules: list[dict[str, Any]] | None = None,
    connection: dict[str, Any] | None = None,
) -> None:
    """What every host's tests configure through the admin API (``api(method, path, json=…)``):
    the Jira connection to the fake (ABC-1 and ABC-2 exist), the rules, the review setting."""
    if not jira.issues:
        jira.add_issue("ABC-1", status="In Progress")
        jira.add_issue("ABC-2", status="Done")
    body = {
        "name": "jira",
        "url": jira.url,
        "deployment": "cloud",
        "email": jira.user.email,
        "token": jira.token,
    }
    api("POST", f"/workspaces/{WS}/connections", json=body | (connection or {}))
    for rule in rules if rules is not None else PR_RULES:
        api("POST", f"/workspaces/{WS}/rules", json=rule)
    api("PUT", f"/workspaces/{WS}/settings", json={"review_pull_requests": review})


def configure(
    server: LiveServer,
    bitbucket: FakeBitbucket,
    jira: FakeJira,
    *,
    admin_token: str,
    review: bool = True,
    rules: list[dict[str, Any]] | None = None,
    connection: dict[str, Any] | None = None,
) -> Guardian:
    """``connection``: fields of the Jira connection created (merged over the default: a Cloud
    connection with the fake's user's e-mail and API token) — e.g. ``deployment``/``auth`` and
    the credential of another kind (tests/platforms/test_pr_worker_jira_auth.py)."""
    http = httpx.Client(base_url=server.url, timeout=30)
    repo = bitbucket.repos.get(("acme", "api-service")) or bitbucket.add_repo(
        "acme", "api-service", name="API Service"
    )
    guardian = Guardian(server, bitbucket, jira, repo, admin_token, http)
    setup_workspace(guardian.api, jira, review=review, rules=rules, connection=connection)
    guardian.api(
        "PUT", f"/workspaces/{WS}/bitbucket", json=bitbucket_settings(bitbucket, server.url)
    )
    return guardian


def bitbucket_settings(bitbucket: FakeBitbucket, public_url: str) -> dict[str, Any]:
    """``PUT …/bitbucket`` for the fake Bitbucket Cloud (workspace ``acme``, an access token)."""
    return {
        "auth_kind": "access_token",
        "token": ACCESS_TOKEN,
        "webhook_secret": SECRET,
        "public_url": public_url,
        "bitbucket_workspace": "acme",
        "api_url": bitbucket.url,
    }


@contextmanager
def live_guardian(tmp: Path, database_url: str = "") -> Iterator[Guardian]:
    """A live server (``FAST_OPTIONS``) configured against a fresh fake Bitbucket and Jira."""
    with FakeBitbucket() as bitbucket, FakeJira("cloud") as jira:
        server = LiveServer(settings_for(tmp, database_url)).start()
        try:
            made = configure(server, bitbucket, jira, admin_token=server.state.first_start.token)
            yield made
            made.http.close()
        finally:
            server.stop()


def delivery_rows(g: Settles) -> list[Any]:
    """Every stored delivery (``DeliveryRow``), oldest first."""
    from sqlalchemy import select

    from jirahooks.store.deliveries import DeliveryRow

    async def read() -> list[DeliveryRow]:
        async with g.server.state.database.session() as session:
            found = await session.execute(select(DeliveryRow).order_by(DeliveryRow.id))
            return list(found.scalars())

    rows: list[DeliveryRow] = g.server.run(read())
    return rows


def run_delivery(server: LiveServer, delivery_id: int) -> None:
    """Claim and process one delivery now, on the server's loop (its worker not started)."""

    async def go() -> None:
        worker = server.worker
        assert await worker._claim(delivery_id, "pending"), f"delivery {delivery_id} not pending"
        await worker._process(delivery_id)

    server.run(go())


def run_pending(g: Settles) -> None:
    """Process whatever is queued, oldest first, one at a time, until nothing is left."""
    for _ in range(20):
        pending = [r.id for r in delivery_rows(g) if r.state == "pending"]
        if not pending:
            return
        run_delivery(g.server, pending[0])
    raise AssertionError("the queue did not drain")
