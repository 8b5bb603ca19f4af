"""The installed hooks' light entry point (``python -m jirahooks.hooks``): its command line, its
hand-off to the full CLI, its HTTP client, the branch read from HEAD, and the compiled rules
cache under ``.git/jirahooks/``."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import ClassVar

import pytest
from tests.conftest import GitRepo
from tests.fakes.loopback import LoopbackServer
from tests.hooks.conftest import KEY_RULES_TOML, ValidationStub, git_run, stage, write_file

from jirahooks.hooks import entry, gitpush, local, remote

Install = Callable[..., object]
PASS_DOCUMENT = b'{"timestamp":0,"result":"PASS","ruleValidations":[],"errorValidations":[]}'


def hook_module(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "jirahooks.hooks", *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


# --- the command line ------------------------------------------------------------------------


def test_the_installed_scripts_command_line_is_read_without_argparse() -> None:
    call = entry.parse(
        ["--hooks-dir", "/h", "--mode", "remote", "--timeout=2.5", "-v", "commit-msg", "F"]
    )
    assert call is not None
    assert (call.hook, call.args, call.mode, call.timeout, call.hooks_dir, call.verbose) == (
        "commit-msg",
        ("F",),
        "remote",
        2.5,
        "/h",
        True,
    )
    call = entry.parse(["--config", "/c.yml", "--repo", "api", "pre-push", "origin", "url"])
    assert call is not None and (call.config, call.repo, call.args) == (
        "/c.yml",
        "api",
        ("origin", "url"),
    )


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        ["commit-msg", "--mode", "local", "F"],  # options after the hook (pre-commit framework)
        ["--mode", "sideways", "commit-msg", "F"],
        ["--timeout", "soon", "commit-msg", "F"],
        ["--unknown", "commit-msg", "F"],
        ["pre-receive"],
        ["update", "refs/heads/x", "a", "b"],
        [],
    ],
)
def test_anything_else_goes_to_the_full_command_line(argv: list[str]) -> None:
    assert entry.parse(argv) is None


def test_help_and_usage_errors_come_from_the_full_cli(tmp_path: Path) -> None:
    shown = hook_module("--help", cwd=tmp_path)
    assert shown.returncode == 0 and "commit-msg" in shown.stdout
    wrong = hook_module("--mode", "sideways", "commit-msg", "F", cwd=tmp_path)
    assert wrong.returncode == 2 and "sideways" in wrong.stderr


def test_options_after_the_hook_name_still_work(git_repo: GitRepo) -> None:
    write_file(git_repo.path / ".jirahooks.toml", KEY_RULES_TOML)
    message = write_file(git_repo.path.parent / "msg", "no key here\n")
    result = hook_module("commit-msg", "--mode", "local", str(message), cwd=git_repo.path)
    assert result.returncode == 1, result.stderr
    assert "BLOCK" in result.stderr


def test_missing_message_file_is_an_environment_error(
    git_repo: GitRepo, stub: ValidationStub
) -> None:
    result = hook_module(
        "commit-msg", str(git_repo.path / "gone"), cwd=git_repo.path, env=stub.env()
    )
    assert result.returncode == 4
    assert "cannot read the commit message file" in result.stderr and "hint:" in result.stderr
    assert stub.received == []


# --- the branch, from HEAD -------------------------------------------------------------------


def test_branch_is_read_from_head_and_detached_head_is_empty(git_repo: GitRepo) -> None:
    git_dir = str(git_repo.path / ".git")
    git_repo.commit("ABC-1 first")
    git_repo.checkout("-b", "feature/ABC-2-x")
    assert gitpush.head_branch(git_dir, cwd=git_repo.path) == "feature/ABC-2-x"
    git_repo.checkout("--detach")
    assert gitpush.head_branch(git_dir, cwd=git_repo.path) == ""
    # a HEAD that is not a plain branch or commit id: git is asked
    assert gitpush.head_branch("", cwd=git_repo.path) == ""


def test_branch_in_a_linked_worktree(git_repo: GitRepo, tmp_path: Path) -> None:
    git_repo.commit("ABC-1 first")
    other = tmp_path / "other"
    git_repo.git("worktree", "add", "-q", "-b", "wt-branch", str(other))
    repo = subprocess.run(
        ["git", "rev-parse", "--path-format=absolute", "--git-dir"],
        cwd=other,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert gitpush.head_branch(repo, cwd=other) == "wt-branch"


# --- the HTTP client -------------------------------------------------------------------------


class _Answer(BaseHTTPRequestHandler):
    """Answers every POST with ``mode``: chunked, or without a length (to the close)."""

    mode = "chunked"
    seen: ClassVar[list[str]] = []

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        type(self).seen.append(self.requestline)
        self.protocol_version = "HTTP/1.1"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        if self.mode == "chunked":
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for start in range(0, len(PASS_DOCUMENT), 10):
                piece = PASS_DOCUMENT[start : start + 10]
                self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
        else:
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(PASS_DOCUMENT)
        self.close_connection = True


@pytest.fixture
def answer() -> Iterator[tuple[LoopbackServer, type[_Answer]]]:
    class Handler(_Answer):
        seen: ClassVar[list[str]] = []

    server = LoopbackServer(Handler).start()
    yield server, Handler
    server.stop()


def _config(port: int, path: str = "/api/validate/acme?repoSlug=demo") -> remote.RemoteConfig:
    return remote.RemoteConfig(f"http://127.0.0.1:{port}{path}", "s", timeout=10)


@pytest.mark.parametrize("mode", ["chunked", "to-close"])
def test_chunked_and_unsized_answers_are_read_whole(
    answer: tuple[LoopbackServer, type[_Answer]], mode: str
) -> None:
    server, handler = answer
    handler.mode = mode
    document = remote.post(_config(server.port), {"triggerType": "COMMIT"})
    assert document["result"] == "PASS"
    assert handler.seen == ["POST /api/validate/acme?repoSlug=demo HTTP/1.1"]


def test_http_proxy_gets_the_absolute_url_and_no_proxy_bypasses_it(
    answer: tuple[LoopbackServer, type[_Answer]], monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy, seen_by_proxy = answer  # a "proxy" that answers itself, recording the request line
    seen_by_proxy.mode = "to-close"
    monkeypatch.setenv("http_proxy", f"http://user:pw@127.0.0.1:{proxy.port}")
    monkeypatch.setenv("no_proxy", "example.invalid")
    document = remote.post(_config(9), {"triggerType": "COMMIT"})  # port 9: nobody listens
    assert document["result"] == "PASS"
    assert seen_by_proxy.seen == [
        "POST http://127.0.0.1:9/api/validate/acme?repoSlug=demo HTTP/1.1"
    ]
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    with pytest.raises(remote.ServerUnreachable):
        remote.post(_config(9), {"triggerType": "COMMIT"})
    assert len(seen_by_proxy.seen) == 1


def test_a_server_that_closes_without_answering_is_unreachable() -> None:
    import socket

    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def close_at_once() -> None:
        connection, _ = listener.accept()
        connection.recv(65536)
        connection.close()

    thread = threading.Thread(target=close_at_once, daemon=True)
    thread.start()
    try:
        with pytest.raises(remote.ServerUnreachable) as caught:
            remote.post(_config(port), {"triggerType": "COMMIT"})
        assert "no answer" in caught.value.message and caught.value.hint
    finally:
        thread.join(timeout=5)
        listener.close()


def test_endpoint_urls_are_split_like_urllib() -> None:
    url = remote._split_url("https://[::1]:8443/api/validate/w?repoSlug=r#frag")
    assert url is not None and (url.host, url.port, url.target) == (
        "::1",
        8443,
        "/api/validate/w?repoSlug=r",
    )
    assert url.origin == "https://[::1]:8443"
    plain = remote._split_url("http://jh.example?repoSlug=r")
    assert plain is not None and (plain.port, plain.target, plain.authority) == (
        80,
        "/?repoSlug=r",
        "jh.example",
    )
    assert remote._split_url("ftp://x/") is None
    assert remote._split_url("http://host:port/") is None
    assert remote._split_url("http:///path") is None


# --- the compiled rules cache ----------------------------------------------------------------


def _cache_entries(repo: GitRepo) -> list[Path]:
    return sorted((repo.path / ".git" / local.CACHE_DIR).glob("rules-*.json"))


def test_rules_cache_is_written_reused_and_follows_an_edited_file(
    git_repo: GitRepo, install: Install
) -> None:
    rules = git_repo.path / ".jirahooks.yml"
    write_file(rules, "rules:\n  - template: commit-key-required\n")
    install(git_repo.path, "commit-msg", "--mode", "local")
    stage(git_repo.path)
    assert git_run(git_repo.path, "commit", "-m", "ABC-1 first").returncode == 0
    (entry_file,) = _cache_entries(git_repo)
    cached = json.loads(entry_file.read_text(encoding="utf-8"))
    assert cached["data"] == {"rules": [{"template": "commit-key-required"}]}
    # stale: the file changes, the old entry is not used (and is replaced)
    write_file(rules, "rules:\n  - template: commit-key-required\n    enabled: false\n")
    stage(git_repo.path)
    passed = git_run(git_repo.path, "commit", "-m", "no key, but the rule is off now")
    assert passed.returncode == 0, passed.stderr
    (new_entry,) = _cache_entries(git_repo)
    assert new_entry != entry_file


@pytest.mark.parametrize(
    "garbage",
    ["{not json", "", json.dumps({"key": "someone else's", "data": {"rules": []}}), "[1, 2]"],
)
def test_a_corrupt_or_foreign_cache_entry_is_ignored_and_rewritten(
    git_repo: GitRepo, install: Install, garbage: str
) -> None:
    write_file(git_repo.path / ".jirahooks.yml", "rules:\n  - template: commit-key-required\n")
    install(git_repo.path, "commit-msg", "--mode", "local")
    stage(git_repo.path)
    assert git_run(git_repo.path, "commit", "-m", "ABC-1 first").returncode == 0
    (entry_file,) = _cache_entries(git_repo)
    entry_file.write_text(garbage, encoding="utf-8")  # e.g. an empty rules list: would pass
    stage(git_repo.path)
    blocked = git_run(git_repo.path, "commit", "-m", "no key here")
    assert blocked.returncode == 1, blocked.stderr
    assert "BLOCK" in blocked.stderr
    assert json.loads(entry_file.read_text(encoding="utf-8"))["data"] == {
        "rules": [{"template": "commit-key-required"}]
    }


def test_data_that_json_cannot_keep_is_not_cached(tmp_path: Path) -> None:
    rules = write_file(tmp_path / "rules.yml", "note: 2026-01-01\nrules: []\n")
    cache = tmp_path / "cache"
    data = local.read_rules_cached(rules, cache)
    assert isinstance(data, dict) and str(data["note"]) == "2026-01-01"
    assert not cache.exists() or list(cache.iterdir()) == []


def test_an_invalid_rules_file_is_reported_not_cached(git_repo: GitRepo) -> None:
    write_file(git_repo.path / ".jirahooks.yml", "rules: [\n")
    message = write_file(git_repo.path.parent / "msg", "ABC-1 x\n")
    result = hook_module("--mode", "local", "commit-msg", str(message), cwd=git_repo.path)
    assert result.returncode == 3, result.stderr
    assert "not valid yml" in result.stderr
    assert _cache_entries(git_repo) == []


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[str, str]:
    """A self-signed certificate for 127.0.0.1."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    cert, key = tmp_path / "hook.pem", tmp_path / "hook.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return str(cert), str(key)


def test_https_endpoint_is_verified_against_the_system_trust(
    certificate: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    class Handler(_Answer):
        seen: ClassVar[list[str]] = []
        mode = "to-close"

    server = LoopbackServer(Handler, tls=certificate).start()
    try:
        config = remote.RemoteConfig(f"https://127.0.0.1:{server.port}/api/validate/acme", "s")
        # not trusted: a TLS failure is "unreachable" (exit 4), never a pass
        with pytest.raises(remote.ServerUnreachable) as caught:
            remote.post(config, {"triggerType": "COMMIT"})
        assert "CERTIFICATE_VERIFY_FAILED" in caught.value.message
        monkeypatch.setenv("SSL_CERT_FILE", certificate[0])  # as with urllib: the default trust
        assert remote.post(config, {"triggerType": "COMMIT"})["result"] == "PASS"
        assert Handler.seen == ["POST /api/validate/acme HTTP/1.1"]
    finally:
        server.stop()
