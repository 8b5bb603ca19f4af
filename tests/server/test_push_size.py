"""Real pushes are never refused (issue 11, section 3).

* A first push of 10,000 and of 100,000 commits with real-length messages (~600 bytes of JSON
  each: 62 MB at 100,000) is evaluated and answered 200 with its verdict, as the published
  client sends it (plain JSON) and gzip-compressed as our hook client does. On b9f4856 both are
  413: the limit was 1 MiB, reached at ~2,000 such commits.
* gzip bodies: the signature covers the compressed bytes (verified before anything is inflated);
  a zip bomb is refused 413 after at most the limit was inflated; other codings are 415.
* The answer is bounded: it grows with the failures, not with the passes, names every failing
  commit by hash, and never echoes a full message; the published client still shows the rule,
  ✗ under a failing commit, "… and N more", and exits 1.
"""

from __future__ import annotations

import gzip
import json
import tracemalloc
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient
from tests.server.conftest import WS, Server, make_settings, sign
from tests.server.test_hook_client_contract import client_view
from tests.support.pushes import commits, compact, push

from jirahooks.server import create_app
from jirahooks.server.settings import DEFAULT_MAX_BODY_BYTES, load_settings

NO_KEY = "Commit does not contain any issue keys."


def _ready(server: Server) -> str:
    server.add_repository("api")
    server.add_rule("commit-key-required")
    secret: str = server.validation_token("hooks", "api")["secret"]
    return secret


@pytest.fixture
def big(tmp_path: Path) -> Iterator[tuple[Server, str]]:
    """A server on SQLite (the database is not what these tests are about) with the default
    settings, the commit-key rule and a repository token."""
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'big.sqlite3'}")
    app = create_app(settings)
    with TestClient(app) as client:
        server = Server(client, settings, app.state.jirahooks.first_start.token)
        yield server, _ready(server)


@pytest.fixture
def small(tmp_path: Path, database_url: str) -> Iterator[tuple[Server, str]]:
    """A server whose body limit is 64 KiB, so limits can be crossed cheaply."""
    settings = make_settings(tmp_path, database_url, max_body_bytes=64 * 1024)
    app = create_app(settings)
    with TestClient(app) as client:
        server = Server(client, settings, app.state.jirahooks.first_start.token)
        yield server, _ready(server)


def _post(server: Server, body: bytes, secret: str, **headers: str) -> Any:
    all_headers = {"Content-Type": "application/json", "x-hub-signature-256": sign(secret, body)}
    all_headers.update(headers)
    return server.client.post(f"/api/validate/{WS}?repoSlug=api", content=body, headers=all_headers)


def _gzip(raw: bytes) -> bytes:
    return gzip.compress(raw, compresslevel=1)


def _assert_verdict(answer: Any, count: int, failing_every: int) -> dict[str, Any]:
    assert answer.status_code == 200, answer.text[:500]
    document: dict[str, Any] = answer.json()
    assert document["result"] == "BLOCK"
    (rv,) = document["ruleValidations"]
    failing = [f"{i + 1:040x}" for i in range(0, count, failing_every)]
    assert rv["failingCommits"] == failing
    return document


def test_the_default_limit_fits_a_first_push_of_100_000_commits() -> None:
    settings = load_settings({})
    assert settings.max_body_bytes >= 100 * 1024 * 1024
    assert settings.webhook_max_body_bytes == DEFAULT_MAX_BODY_BYTES  # webhooks stay small


@pytest.mark.slow
def test_a_10_000_commit_push_is_evaluated(big: tuple[Server, str]) -> None:
    server, secret = big
    raw = compact(push(commits(10_000, failing_every=100)))
    assert len(raw) > 5 * 1024 * 1024  # real-length messages: ~6 MB
    document = _assert_verdict(_post(server, raw, secret), 10_000, 100)
    gz = _assert_verdict(
        _post(server, _gzip(raw), secret, **{"Content-Encoding": "gzip"}), 10_000, 100
    )
    assert (
        gz["ruleValidations"][0]["failingCommits"]
        == document["ruleValidations"][0]["failingCommits"]
    )


@pytest.mark.slow
def test_a_100_000_commit_push_is_evaluated_plain_and_gzip(big: tuple[Server, str]) -> None:
    server, secret = big
    raw = compact(push(commits(100_000, failing_every=1000)))
    assert len(raw) > 50 * 1024 * 1024  # ~62 MB of JSON, as the published client sends it
    _assert_verdict(_post(server, raw, secret), 100_000, 1000)
    compressed = _gzip(raw)
    del raw
    answer = _post(server, compressed, secret, **{"Content-Encoding": "gzip"})
    _assert_verdict(answer, 100_000, 1000)
    assert len(answer.content) < 100_000  # 100 failing commits of 100,000: a few KB


# --- gzip: signature, bombs, codings ----------------------------------------------------------


def test_gzip_is_signed_over_the_bytes_sent(small: tuple[Server, str]) -> None:
    server, secret = small
    raw = compact(push(commits(3, failing_every=2)))
    compressed = _gzip(raw)
    answer = _post(server, compressed, secret, **{"Content-Encoding": "gzip"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["ruleValidations"][0]["failingCommits"] == [f"{1:040x}", f"{3:040x}"]
    # a signature over the decompressed JSON does not match what was sent
    headers = {
        "Content-Type": "application/json",
        "Content-Encoding": "gzip",
        "x-hub-signature-256": sign(secret, raw),
    }
    wrong = server.client.post(
        f"/api/validate/{WS}?repoSlug=api", content=compressed, headers=headers
    )
    assert wrong.status_code == 401
    assert wrong.json() == {
        "error": "The request signature does not match",
        "errorCode": "HMAC_SIGNATURE_INVALID",
    }


def test_a_zip_bomb_is_refused_after_the_limit(small: tuple[Server, str]) -> None:
    """64 MiB of zeros in ~64 KB of gzip against a 64 KiB limit: 413, and the server never
    held more than a few MB for it (traced allocations, all threads)."""
    server, secret = small
    deflater = zlib.compressobj(9, zlib.DEFLATED, 31)
    parts = [deflater.compress(b'{"triggerType":"PUSH","branchName":"' + b"0" * 1024)]
    block = b"0" * (1024 * 1024)
    parts += [deflater.compress(block) for _ in range(64)]
    parts.append(deflater.flush())
    bomb = b"".join(parts)
    assert len(bomb) < server.settings.max_body_bytes  # as sent, it is within the limit
    tracemalloc.start()
    try:
        answer = _post(server, bomb, secret, **{"Content-Encoding": "gzip"})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert answer.status_code == 413
    body = answer.json()
    assert set(body) == {"error", "errorCode"} and body["errorCode"] == "PAYLOAD_TOO_LARGE"
    assert "decompressed" in body["error"] and "JIRAHOOKS_MAX_BODY_BYTES" in body["error"]
    assert "[" not in body["error"]
    assert peak < 16 * 1024 * 1024


def test_a_zip_bomb_from_a_caller_without_a_token_is_not_inflated(
    small: tuple[Server, str],
) -> None:
    server, _secret = small
    bomb = _gzip(b"[" * (8 * 1024 * 1024))
    answer = _post(server, bomb, "not-a-token", **{"Content-Encoding": "gzip"})
    assert answer.status_code == 401
    assert answer.json()["errorCode"] == "HMAC_SIGNATURE_INVALID"


def test_broken_gzip_is_a_parse_error(small: tuple[Server, str]) -> None:
    server, secret = small
    raw = _gzip(compact(push(commits(3))))
    for body in (raw[: len(raw) // 2], b"not gzip at all"):
        answer = _post(server, body, secret, **{"Content-Encoding": "gzip"})
        assert answer.status_code == 400, answer.text
        assert answer.json()["errorCode"] == "JSON_PARSE_ERROR"


def test_other_codings_are_415_with_accept_encoding(small: tuple[Server, str]) -> None:
    server, secret = small
    raw = compact(push(commits(1)))
    for coding in ("br", "deflate", "gzip, gzip"):
        answer = _post(server, raw, secret, **{"Content-Encoding": coding})
        assert answer.status_code == 415, (coding, answer.text)
        assert answer.json()["errorCode"] == "UNSUPPORTED_CONTENT_ENCODING"
        assert answer.headers["accept-encoding"] == "gzip"
    assert _post(server, raw, secret, **{"Content-Encoding": "identity"}).status_code == 200


def test_an_oversize_plain_body_is_413_with_a_hint(small: tuple[Server, str]) -> None:
    server, secret = small
    raw = compact(push(commits(200)))
    assert len(raw) > server.settings.max_body_bytes
    answer = _post(server, raw, secret)
    assert answer.status_code == 413
    body = answer.json()
    assert set(body) == {"error", "errorCode"} and body["errorCode"] == "PAYLOAD_TOO_LARGE"
    assert "push fewer commits" in body["error"] and "JIRAHOOKS_MAX_BODY_BYTES" in body["error"]
    assert "[" not in body["error"]  # the published client prints error bodies as markup
    # the limit is on the JSON: gzip-compressed, the same push is still too large
    compressed = _gzip(raw)
    assert len(compressed) < server.settings.max_body_bytes
    answer = _post(server, compressed, secret, **{"Content-Encoding": "gzip"})
    assert answer.status_code == 413 and "decompressed" in answer.json()["error"]


def test_webhooks_keep_their_own_small_limit(big: tuple[Server, str]) -> None:
    """Raising the Validation API's limit does not let 100 MB webhook bodies in: a Bitbucket
    webhook of 2 MiB is refused 413 before its signature is looked at (with the Validation
    API's 128 MiB it would be read whole and answered 401)."""
    server, _secret = big
    server.ok(
        "PUT",
        f"/workspaces/{WS}/bitbucket",
        json={
            "auth_kind": "access_token",
            "token": "bitbucket-access-token",
            "webhook_secret": "webhook-secret",
            "public_url": "http://127.0.0.1:9",
            "bitbucket_workspace": "acme",
            "api_url": "http://127.0.0.1:9/2.0",
        },
    )
    body = b"{" + b" " * (2 * 1024 * 1024) + b"}"
    answer = server.client.post(
        f"/webhooks/bitbucket/{WS}",
        content=body,
        headers={"Content-Type": "application/json", "X-Hub-Signature": "sha256=00"},
    )
    assert answer.status_code == 413, answer.text
    assert answer.json()["code"] == "PAYLOAD_TOO_LARGE"


# --- the bounded answer ---------------------------------------------------------------------


def _answer_bytes(server: Server, secret: str, count: int, failing_every: int) -> tuple[int, Any]:
    answer = _post(
        server,
        _gzip(compact(push(commits(count, failing_every=failing_every)))),
        secret,
        **{"Content-Encoding": "gzip"},
    )
    assert answer.status_code == 200, answer.text
    return len(answer.content), answer.json()


@pytest.mark.slow
def test_the_answer_grows_with_failures_not_passes(big: tuple[Server, str]) -> None:
    server, secret = big
    few_passes, _ = _answer_bytes(server, secret, 1_000, 100)  # 10 failing, 990 passing
    many_passes, document = _answer_bytes(server, secret, 10_000, 1_000)  # 10 failing, 9,990
    assert many_passes == pytest.approx(few_passes, rel=0.05)
    many_failures, failures_document = _answer_bytes(server, secret, 10_000, 10)  # 1,000
    assert many_failures > few_passes + 990 * 40  # at least each new failing hash
    (rv,) = failures_document["ruleValidations"]
    assert len(rv["failingCommits"]) == 1_000 == len(set(rv["failingCommits"]))
    # ten commits are listed with their facts, and only their subject lines
    assert len(rv["commitsUnderReview"]) == 10
    sent = {c["hash"]: c["message"] for c in commits(10_000, failing_every=10)}
    for commit in rv["commitsUnderReview"].values():
        full = sent[commit["hash"]]
        assert "\n\n" in full and commit["message"] == full.split("\n", 1)[0]
    listed = {f["ref"] for f in rv["checkFacts"] if f.get("ref")}
    assert listed == set(rv["failingCommits"][:10]) == set(rv["commitsUnderReview"])
    summary = [f for f in rv["checkFacts"] if f["source"] == "AGGREGATE"]
    assert [(f["status"], f["params"]["count"]) for f in summary] == [
        ("ERROR", 990),
        ("SUCCESS", 9_000),
    ]
    assert len(json.dumps(document)) < 20_000


def test_the_published_client_still_shows_rule_commit_and_more(small: tuple[Server, str]) -> None:
    server, secret = small
    sent = commits(40, failing_every=3)  # 14 failing: 10 listed, 4 more
    answer = _post(server, _gzip(compact(push(sent))), secret, **{"Content-Encoding": "gzip"})
    view = client_view(answer.status_code, answer.json())
    assert view.exit_code == 1
    lines = view.sections["Commits"]
    assert lines[0] == "Rule: Issue key required in every commit"
    first = sent[0]["hash"]
    at = lines.index("  " + first[:8])
    assert lines[at + 1] == f"    ✗ {NO_KEY}"
    assert "  ✗ … and 4 more commits fail this rule (not listed here)." in lines
    assert sum(line == f"    ✗ {NO_KEY}" for line in lines) == 10
    assert answer.json()["ruleValidations"][0]["failingCommits"] == [
        c["hash"] for i, c in enumerate(sent) if i % 3 == 0
    ]


def test_the_commit_msg_judge_bounds_documents_as_the_engine_does() -> None:
    """hooks/judge.py answers commit-msg without the engine and must give its document: the
    same subject cut (tests/hooks/test_compiled.py compares whole documents)."""
    from jirahooks.engine import listing
    from jirahooks.hooks import judge

    assert judge.SUBJECT_CHARS == listing.SUBJECT_CHARS
    long = "x" * 500 + "\n\nbody"
    assert judge._subject(long) == listing.subject(long)
