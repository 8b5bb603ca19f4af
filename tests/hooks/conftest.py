"""Fixtures for the hook tests: hooks installed into real repositories, a stdlib Validation API
stub that verifies signatures like the server does, and the real ``jirahooks serve``.

Everything listens on 127.0.0.1 only; proxies are switched off so that urllib never routes a
loopback request through a proxy from the developer's environment.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from tests.fakes.loopback import LoopbackServer
from tests.support.live import free_port

from jirahooks.engine import evaluate
from jirahooks.event import Commit, Event, Trigger
from jirahooks.rules.config import load_document

PYTHON = sys.executable
SECRET = "hook-secret-Ünïcode-free-but-long-0123456789"


@pytest.fixture(autouse=True)
def _no_proxies_no_hook_config(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "http_proxy",
        "https_proxy",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "all_proxy",
        "ALL_PROXY",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("no_proxy", "*")
    for name in list(os.environ):
        if name.startswith(("JIRAHOOKS_", "JHFB_", "PRE_COMMIT_")):
            monkeypatch.delenv(name, raising=False)


def jirahooks(
    *args: str,
    cwd: Path,
    env: dict[str, str] | None = None,
    input: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run the CLI as a user would (``python -m jirahooks``)."""
    return subprocess.run(
        [PYTHON, "-m", "jirahooks", *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        input=input,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def git_run(
    repo: Path, *args: str, env: dict[str, str] | None = None, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    """git with hooks enabled (``GitRepo.commit`` uses --no-verify), output captured."""
    from tests.conftest import IDENTITY

    return subprocess.run(
        ["git", *args],
        cwd=repo,
        env={**os.environ, **IDENTITY, **(env or {})},
        input=input,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def write_file(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def stage(repo: Path, name: str = "f.txt") -> None:
    """Change a file and stage it, so the next ``git commit`` has something to commit."""
    target = repo / name
    with target.open("a", encoding="utf-8") as fh:
        fh.write(f"{time.monotonic_ns()}\n")
    git_run(repo, "add", name)


# --- a Validation API stub ------------------------------------------------------------------


@dataclass
class Received:
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    raw: bytes

    @property
    def body(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.raw)
        return data


@dataclass
class ValidationStub:
    """The Validation API as validation-api.md describes it, on the standard library: the
    signature is verified over the raw bytes before parsing, errors are ``{error, errorCode}``,
    and a valid request is evaluated by the real engine against ``rules``.

    ``answer`` (status, body bytes) overrides everything, to simulate broken servers.
    """

    secret: str = SECRET
    rules: list[dict[str, Any]] = field(
        default_factory=lambda: [{"template": "commit-key-required"}]
    )
    answer: tuple[int, bytes] | None = None
    received: list[Received] = field(default_factory=list)
    server: LoopbackServer | None = None

    @property
    def endpoint(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.port}/api/validate/acme?repoSlug=demo"

    def handle(self, request: Received) -> tuple[int, dict[str, Any]]:
        self.received.append(request)
        if not request.path.startswith("/api/validate/acme"):
            return 400, {"error": "No workspace", "errorCode": "WORKSPACE_CONTEXT_MISSING"}
        signature = request.headers.get("x-hub-signature-256", "")
        if not signature:
            return 401, {"error": "Signature missing", "errorCode": "HMAC_AUTH_MISSING"}
        expected = (
            "sha256=" + hmac.new(self.secret.encode(), request.raw, hashlib.sha256).hexdigest()
        )
        if not hmac.compare_digest(signature, expected):
            return 401, {"error": "Signature invalid", "errorCode": "HMAC_SIGNATURE_INVALID"}
        try:
            body = json.loads(request.raw)
        except ValueError:
            return 400, {"error": "Not JSON", "errorCode": "JSON_PARSE_ERROR"}
        if body.get("triggerType") not in ("COMMIT", "PUSH"):
            return 400, {"error": "Unsupported trigger", "errorCode": "UNSUPPORTED_TRIGGER_TYPE"}
        if "repoSlug" not in request.query and "repoSlug" not in body:
            return 400, {"error": "No repository", "errorCode": "REPOSITORY_ID_MISSING"}
        event = Event(
            Trigger(body["triggerType"]),
            body.get("branchName") or "",
            tuple(
                Commit(c["hash"], c["message"], author_name=c.get("authorDisplayName", ""))
                for c in body.get("commits") or ()
            ),
        )
        document = load_document({"rules": self.rules})
        evaluation = asyncio.run(evaluate(event, document.rules_for(None)))
        return 200, evaluation.to_document(body.get("locale") or "en-US")

    def start(self) -> ValidationStub:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                parts = urlsplit(self.path)
                request = Received(
                    parts.path,
                    parse_qs(parts.query),
                    {k.lower(): v for k, v in self.headers.items()},
                    raw,
                )
                if stub.answer is not None:
                    stub.received.append(request)
                    status, data = stub.answer
                else:
                    status, document = stub.handle(request)
                    data = json.dumps(document).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = LoopbackServer(Handler).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()

    def env(self, **extra: str) -> dict[str, str]:
        return {"JIRAHOOKS_ENDPOINT": self.endpoint, "JIRAHOOKS_SECRET": self.secret, **extra}


@pytest.fixture
def stub() -> Iterator[ValidationStub]:
    server = ValidationStub().start()
    yield server
    server.stop()


# --- the real server ------------------------------------------------------------------------


@dataclass
class RealServer:
    endpoint: str
    secret: str
    process: subprocess.Popen[bytes]
    log: Path


SERVER_DOCUMENT = """\
workspace: acme
repositories:
  - slug: demo
rules:
  - template: commit-key-required
  - template: branch-key-required
    checks: {key_present: true, keys_valid: "OFF"}
validation_tokens:
  - name: hooks
    secret: ${HOOKS_TEST_SECRET}
    repository: demo
"""


@pytest.fixture(scope="module")
def real_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealServer]:
    """``jirahooks serve`` as a subprocess on a free loopback port, configured by
    ``jirahooks apply`` with a repository token."""
    pytest.importorskip("uvicorn", reason="the server extra is not installed")
    base = tmp_path_factory.mktemp("server")
    secret = "real-server-secret-" + os.urandom(8).hex()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("JIRAHOOKS_", "GIT_"))},
        "HOOKS_TEST_SECRET": secret,
        "JIRAHOOKS_DEFAULT_WORKSPACE": "acme",
    }
    document = write_file(base / "acme.yml", SERVER_DOCUMENT)
    data_dir = base / "data"
    applied = subprocess.run(
        [PYTHON, "-m", "jirahooks", "apply", str(document), "--data-dir", str(data_dir)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert applied.returncode == 0, applied.stderr + applied.stdout
    port = free_port()
    log = base / "serve.log"
    with log.open("wb") as fh:
        process = subprocess.Popen(
            [
                PYTHON,
                "-m",
                "jirahooks",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--data-dir",
                str(data_dir),
                "--no-access-log",
                "--log-level",
                "warning",
            ],
            env=env,
            stdout=fh,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                pytest.fail(f"jirahooks serve exited: {log.read_text(errors='replace')}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"jirahooks serve did not start: {log.read_text(errors='replace')}")
                time.sleep(0.1)
        yield RealServer(
            f"http://127.0.0.1:{port}/api/validate/acme?repoSlug=demo", secret, process, log
        )
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# --- repositories with hooks ----------------------------------------------------------------


@pytest.fixture
def install(tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """``install(repo_path, *args)`` runs ``jirahooks install`` there and asserts success."""

    def run(repo: Path, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        result = jirahooks("install", *args, cwd=repo)
        if ok:
            assert result.returncode == 0, result.stderr + result.stdout
        return result

    return run


KEY_RULES_TOML = """\
[[rules]]
template = "commit-key-required"
"""
