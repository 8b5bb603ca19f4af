"""The hook client gzips big pushes, signed as sent, and falls back to plain JSON for a server
without gzip (issue 11, section 3). Small bodies — every commit-msg call — stay plain.

On b9f4856 the client sends every body plain: the gzip assertions fail there.
"""

from __future__ import annotations

import gzip
import hashlib
import hmac
from types import SimpleNamespace
from typing import Any

import pytest
from tests.hooks.conftest import RealServer, ValidationStub
from tests.support.pushes import commits

from jirahooks.errors import EXIT_BLOCKED
from jirahooks.hooks import remote


def _commits(count: int, failing_every: int = 0) -> list[Any]:
    return [
        SimpleNamespace(hash=c["hash"], message=c["message"], author_name=c["authorDisplayName"])
        for c in commits(count, failing_every=failing_every)
    ]


def _signed(secret: str, raw: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()


def test_a_big_push_goes_gzip_and_falls_back_for_a_server_without_it(
    stub: ValidationStub,
) -> None:
    """The stub is a server that knows no gzip: it reads the compressed bytes as JSON (400
    ``JSON_PARSE_ERROR``), so the client sends the same push again, plain."""
    config = remote.RemoteConfig(stub.endpoint, stub.secret, timeout=30)
    body = remote.payload("PUSH", "feature/ABC-1", _commits(300, failing_every=100))
    document = remote.post(config, body)
    assert document["result"] == "BLOCK"
    first, second = stub.received
    assert first.headers.get("content-encoding") == "gzip"
    assert first.headers["x-hub-signature-256"] == _signed(stub.secret, first.raw)
    assert gzip.decompress(first.raw) == remote.encode(body) == second.raw
    assert "content-encoding" not in second.headers
    assert second.headers["x-hub-signature-256"] == _signed(stub.secret, second.raw)


def test_a_415_also_falls_back(stub: ValidationStub) -> None:
    stub.answer = (415, b'{"error": "no", "errorCode": "UNSUPPORTED_CONTENT_ENCODING"}')
    config = remote.RemoteConfig(stub.endpoint, stub.secret, timeout=30)
    with pytest.raises(remote.ServerRejected):
        remote.post(config, remote.payload("PUSH", "main", _commits(300)))
    assert [r.headers.get("content-encoding") for r in stub.received] == ["gzip", None]


def test_small_bodies_stay_plain(stub: ValidationStub) -> None:
    config = remote.RemoteConfig(stub.endpoint, stub.secret, timeout=30)
    remote.post(config, remote.payload("COMMIT", "main", _commits(1)))
    (request,) = stub.received
    assert "content-encoding" not in request.headers


def test_413_blocks_with_a_hint(stub: ValidationStub) -> None:
    stub.answer = (
        413,
        b'{"error": "The request body exceeds 1 bytes", "errorCode": "PAYLOAD_TOO_LARGE"}',
    )
    config = remote.RemoteConfig(stub.endpoint, stub.secret, timeout=30)
    with pytest.raises(remote.ServerRejected) as caught:
        remote.post(config, remote.payload("PUSH", "main", _commits(300)))
    assert caught.value.exit_code == EXIT_BLOCKED
    assert caught.value.error_code == "PAYLOAD_TOO_LARGE"
    assert "push fewer commits" in caught.value.hint
    assert len(stub.received) == 1  # a 413 is not retried: plain is bigger still


def test_the_real_server_takes_the_gzip_push(
    real_server: RealServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent: list[tuple[bool, int]] = []
    send = remote._send

    def spy(config: Any, url: Any, raw: bytes, *, gzip: bool = False) -> tuple[int, bytes]:
        status, data = send(config, url, raw, gzip=gzip)
        sent.append((gzip, status))
        return status, data

    monkeypatch.setattr(remote, "_send", spy)
    config = remote.RemoteConfig(real_server.endpoint, real_server.secret, timeout=120)
    failing = _commits(5_000, failing_every=1_000)
    document = remote.post(config, remote.payload("PUSH", "feature/ABC-1", failing))
    assert sent == [(True, 200)]  # one request, gzip, accepted
    assert document["result"] == "BLOCK"
    (keys,) = [v for v in document["ruleValidations"] if v["rule"]["id"] == "commit-key-required"]
    assert keys["failingCommits"] == [c.hash for c in failing[::1_000]]
