"""Several server processes, one ``PROMETHEUS_MULTIPROC_DIR``: whichever process answers
``/metrics``, the figures are the sum over every process (``serve --workers N`` sets the
directory up with :func:`jirahooks.server.metrics.prepare_multiprocess`)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from tests.support.live import free_port

from jirahooks.crypto import generate_key
from jirahooks.server.metrics import MULTIPROC_ENV, prepare_multiprocess

TOKEN = "multiprocess-scrape-token"


def _serve(tmp_path: Path, env: dict[str, str], name: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    command = [sys.executable, "-m", "jirahooks", "serve", "--data-dir", str(tmp_path / "data")]
    command += ["--port", str(port), "--no-access-log", "--log-level", "warning"]
    log = (tmp_path / f"{name}.log").open("wb")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    log.close()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return process, base
        except httpx.TransportError:
            time.sleep(0.05)
    process.kill()
    process.wait(timeout=30)
    raise AssertionError((tmp_path / f"{name}.log").read_text())


@pytest.fixture
def two_servers(tmp_path: Path) -> Iterator[tuple[str, str, Path]]:
    directory = tmp_path / "metrics"
    directory.mkdir()
    env = {
        **os.environ,
        MULTIPROC_ENV: str(directory),
        "JIRAHOOKS_SECRET_KEY": generate_key(),
        "JIRAHOOKS_METRICS_TOKEN": TOKEN,
        "JIRAHOOKS_PR_WORKER": "0",
    }
    first, first_url = _serve(tmp_path, env, "first")  # the first start creates the schema
    second = None
    try:
        second, second_url = _serve(tmp_path, env, "second")
        yield first_url, second_url, directory
    finally:
        for process in (first, second):
            if process is not None:
                process.terminate()
                process.wait(timeout=30)


def _healthz_count(base: str) -> float:
    answer = httpx.get(f"{base}/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 200, answer.text
    found = 0.0
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            if (
                sample.name == "jirahooks_http_requests_total"
                and sample.labels.get("route") == "/healthz"
            ):
                found += sample.value
    return found


def test_figures_add_up_across_processes(two_servers: tuple[str, str, Path]) -> None:
    first, second, directory = two_servers
    before = _healthz_count(first)
    for _ in range(3):
        assert httpx.get(f"{first}/healthz").status_code == 200
    for _ in range(2):
        assert httpx.get(f"{second}/healthz").status_code == 200
    # each process wrote its own file; either one answers with the sum
    assert len({p.name.rsplit("_", 1)[-1] for p in directory.glob("counter_*.db")}) == 2
    assert _healthz_count(first) - before == 5
    assert _healthz_count(second) - before == 5


def test_prepare_multiprocess(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # setenv first, so monkeypatch undoes what prepare_multiprocess sets (a bare delenv of an
    # unset name records nothing: the variable leaked into later tests' single-process apps)
    monkeypatch.setenv(MULTIPROC_ENV, str(tmp_path / "unused"))
    monkeypatch.delenv(MULTIPROC_ENV)
    prepare_multiprocess(1, tmp_path)
    assert MULTIPROC_ENV not in os.environ and not (tmp_path / "metrics").exists()
    prepare_multiprocess(2, tmp_path)
    directory = Path(os.environ[MULTIPROC_ENV])
    assert directory == tmp_path / "metrics" and directory.is_dir()
    (directory / "counter_123.db").write_bytes(b"old run")
    (directory / "keep.txt").write_text("not ours")
    prepare_multiprocess(4, tmp_path)  # a restart: the last run's figures go, nothing else
    assert not (directory / "counter_123.db").exists()
    assert (directory / "keep.txt").exists()


@pytest.mark.postgres
def test_serve_workers_sums_its_workers(tmp_path: Path, database_url: str) -> None:
    """``serve --workers 2`` sets the directory up itself; any worker answers for both."""
    if not database_url.startswith("postgresql"):
        pytest.skip("--workers needs PostgreSQL")
    port = free_port()
    command = [sys.executable, "-m", "jirahooks", "serve", "--data-dir", str(tmp_path / "data")]
    command += ["--port", str(port), "--database-url", database_url, "--workers", "2"]
    command += ["--log-format", "json", "--log-level", "warning"]
    env = {**os.environ, "JIRAHOOKS_SECRET_KEY": generate_key(), "JIRAHOOKS_METRICS_TOKEN": TOKEN}
    env.pop(MULTIPROC_ENV, None)
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and process.poll() is None:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        directory = tmp_path / "data" / "metrics"

        def writers() -> set[str]:
            return {p.stem.rsplit("_", 1)[-1] for p in directory.glob("*.db")}

        # each worker writes its own files (its pool gauge from its start on); the first answers
        # /healthz before the second has started on a loaded machine, so wait for both
        while time.monotonic() < deadline and len(writers()) < 2:
            time.sleep(0.1)
        assert len(writers()) == 2, (writers(), log.read_text()[-2000:])
        before = _healthz_count(base)
        with httpx.Client(timeout=10) as http:  # new connections: both workers answer some
            for _ in range(20):
                assert http.get(f"{base}/healthz", headers={"Connection": "close"}).is_success
        # whichever worker answers: the 20 requests of both (plus the scrapes' own /healthz: 0)
        assert _healthz_count(base) - before == 20
        assert _healthz_count(base) - before == 20
    finally:
        process.terminate()
        process.wait(timeout=60)
