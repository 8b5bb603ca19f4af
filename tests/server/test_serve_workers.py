"""``jirahooks serve --workers N`` (issue 11, section 1) as real processes: refused on SQLite
with a code and a hint; on PostgreSQL two worker processes serve one port, and a graceful stop
(SIGTERM) leaves every answered evaluation in the database — the background writer is flushed
before each worker exits. Bounded: every wait has a deadline."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from tests.server.conftest import WS
from tests.support.live import free_port

from jirahooks.crypto import generate_key

DEADLINE = 60.0


def _command(tmp_path: Path, port: int, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "jirahooks",
        "serve",
        "--data-dir",
        str(tmp_path / "data"),
        "--port",
        str(port),
        "--no-access-log",
        "--log-level",
        "warning",
        *extra,
    ]


def test_several_workers_on_sqlite_are_refused(tmp_path: Path) -> None:
    done = subprocess.run(
        _command(tmp_path, free_port(), "--workers", "2"),
        capture_output=True,
        text=True,
        timeout=DEADLINE,
        env={**os.environ, "JIRAHOOKS_SECRET_KEY": generate_key()},
    )
    assert done.returncode == 2
    assert "WORKERS_NEED_POSTGRESQL" in done.stderr
    assert "--database-url postgresql" in done.stderr  # the hint says what to do
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "data").exists()  # refused before anything was created


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def _serve_and_stop(tmp_path: Path, extra: list[str], *, workers: int, requests: int = 60) -> None:
    """Start ``serve``, configure a repository, answer ``requests`` validations, SIGTERM."""
    port = free_port()
    process = subprocess.Popen(
        _command(tmp_path, port, *extra),
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "JIRAHOOKS_SECRET_KEY": generate_key()},
    )
    try:
        assert process.stdout is not None
        admin = ""
        for line in process.stdout:
            found = re.search(r"Authorization: Bearer ([^'\s]+)", line)
            if found:
                admin = found.group(1)
                break
        assert admin, "serve printed no first-start token"
        base = f"http://127.0.0.1:{port}"
        started = time.monotonic()
        while not _healthy(base) or (workers > 1 and len(_children(process.pid)) < workers):
            assert time.monotonic() - started < DEADLINE, "the server did not start"
            time.sleep(0.1)
        if workers > 1:
            assert len(_children(process.pid)) >= workers  # uvicorn's worker processes

        api = f"{base}/api/v1/workspaces/{WS}"
        with httpx.Client(headers={"Authorization": f"Bearer {admin}"}, timeout=30) as client:
            assert client.post(f"{api}/repositories", json={"slug": "api"}).is_success
            rule = client.post(
                f"{api}/rules/from-template", json={"template": "commit-key-required"}
            )
            assert rule.is_success
            token = client.post(f"{api}/validation-tokens", json={"name": "t", "repository": "api"})
            assert token.is_success, token.text
            endpoint, secret = token.json()["endpoint"], token.json()["secret"]

        answered = asyncio.run(_burst(endpoint, secret, requests=requests, connections=8))
        assert answered == requests

        process.send_signal(signal.SIGTERM)
        # a single uvicorn server re-raises the signal it handled once it has stopped
        assert process.wait(timeout=DEADLINE) in (0, -signal.SIGTERM)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=DEADLINE)
        if process.stdout is not None:
            process.stdout.close()


@pytest.mark.postgres
@pytest.mark.slow
def test_two_workers_on_postgresql_serve_and_store_every_evaluation(
    tmp_path: Path, postgres_url: str
) -> None:
    _serve_and_stop(tmp_path, ["--workers", "2", "--database-url", postgres_url], workers=2)
    assert _evaluations(postgres_url) == 60


@pytest.mark.slow
def test_a_graceful_stop_stores_every_evaluation_on_sqlite(tmp_path: Path) -> None:
    import sqlite3

    _serve_and_stop(tmp_path, [], workers=1)
    with sqlite3.connect(tmp_path / "data" / "jirahooks.sqlite3") as conn:
        assert conn.execute("SELECT count(*) FROM evaluations").fetchone() == (60,)


def _healthy(base: str) -> bool:
    try:
        return httpx.get(f"{base}/healthz", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


async def _burst(endpoint: str, secret: str, *, requests: int, connections: int) -> int:
    body = json.dumps(
        {
            "triggerType": "PUSH",
            "branchName": "feature/ABC-1",
            "commits": [{"hash": "a" * 40, "message": "ABC-1 change"}],
        },
        separators=(",", ":"),
    ).encode()
    signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    headers = {"Content-Type": "application/json", "x-hub-signature-256": signature}
    answered = 0
    remaining = requests
    # a fresh connection per request spreads them over both workers (the kernel balances
    # accepts between the processes)
    async with httpx.AsyncClient(
        timeout=30, limits=httpx.Limits(max_keepalive_connections=0)
    ) as client:

        async def worker() -> None:
            nonlocal answered, remaining
            while remaining > 0:
                remaining -= 1
                response = await client.post(endpoint, content=body, headers=headers)
                if response.status_code == 200 and response.json()["result"] == "PASS":
                    answered += 1

        await asyncio.gather(*(worker() for _ in range(connections)))
    return answered


def _evaluations(url: str) -> int:
    import psycopg

    plain = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain) as conn:
        row = conn.execute("SELECT count(*) FROM evaluations").fetchone()
        assert row is not None
        return int(row[0])


def _is_worker(pid: int) -> bool:
    """A uvicorn worker (multiprocessing's spawn child), not its resource tracker."""
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"from multiprocessing.spawn import spawn_main; spawn_main(" in b" ".join(command)


@pytest.mark.postgres
@pytest.mark.slow
def test_a_worker_that_is_slow_to_answer_the_supervisor_is_not_killed(
    tmp_path: Path, postgres_url: str
) -> None:
    """uvicorn's supervisor pings each worker and kills one that does not answer within
    ``timeout_worker_healthcheck`` — 5 s by default, which a busy worker on a loaded host misses
    (the benchmark saw healthy workers killed mid-run). A worker that cannot answer for 8 s (held
    with SIGSTOP, then let go) is still serving afterwards: the same process, not a replacement."""
    port = free_port()
    process = subprocess.Popen(
        _command(tmp_path, port, "--workers", "2", "--database-url", postgres_url),
        stdout=subprocess.DEVNULL,
        env={**os.environ, "JIRAHOOKS_SECRET_KEY": generate_key()},
    )
    try:
        base = f"http://127.0.0.1:{port}"
        started = time.monotonic()
        while not _healthy(base) or len(_children(process.pid)) < 2:
            assert time.monotonic() - started < DEADLINE, "the server did not start"
            time.sleep(0.1)
        time.sleep(1.0)  # both workers past their start-up check
        workers = [pid for pid in _children(process.pid) if _is_worker(pid)]
        assert len(workers) == 2, workers
        held = workers[0]
        os.kill(held, signal.SIGSTOP)
        try:
            time.sleep(8.0)  # longer than uvicorn's default 5 s, well inside ours
        finally:
            with contextlib.suppress(ProcessLookupError):  # killed: the assertion says so
                os.kill(held, signal.SIGCONT)
        time.sleep(1.0)
        assert held in _children(process.pid), "the supervisor killed a worker that was only slow"
        assert process.poll() is None
    finally:
        process.terminate()
        try:
            process.wait(timeout=DEADLINE)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=DEADLINE)
