"""The Validation API client's own socket code (``remote._connect``, ``remote._Reader``): an
https endpoint through a ``CONNECT`` proxy, answers that arrive a byte at a time, a host name
that resolves to an address nobody listens on first, and the signature's built-in SHA-256."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import socket
import threading
from collections.abc import Iterator

import pytest
from tests.fakes.loopback import LoopbackServer
from tests.hooks.test_entry import PASS_DOCUMENT, _Answer
from tests.hooks.test_entry import certificate as certificate  # the fixture, shared

from jirahooks.hooks import remote


class _Tunnel:
    """A ``CONNECT`` proxy on 127.0.0.1: answers 200, then pipes bytes both ways."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.requests: list[bytes] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            head = b""
            while b"\r\n\r\n" not in head:
                head += client.recv(1)  # byte by byte: nothing of the TLS hello is taken
            self.requests.append(head)
            host, _, port = head.split()[1].decode().rpartition(":")
            upstream = socket.create_connection((host, int(port)))
            client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):  # either side done: both connections end
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()

    def close(self) -> None:
        # shutdown first: a close() alone does not wake the thread blocked in accept(), which
        # then kept the port listening and took connections meant for later tests' servers
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()
        self.thread.join(timeout=5)


@pytest.fixture
def tunnel() -> Iterator[_Tunnel]:
    proxy = _Tunnel()
    yield proxy
    proxy.close()


def test_https_through_a_connect_proxy(
    tunnel: _Tunnel, certificate: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    class Handler(_Answer):
        mode = "chunked"
        seen: list[str] = []  # noqa: RUF012

    server = LoopbackServer(Handler, tls=certificate).start()
    try:
        monkeypatch.setenv("SSL_CERT_FILE", certificate[0])
        monkeypatch.setenv("https_proxy", f"http://user:p%40ss@127.0.0.1:{tunnel.port}")
        monkeypatch.setenv("no_proxy", "example.invalid")
        config = remote.RemoteConfig(f"https://127.0.0.1:{server.port}/api/validate/acme", "s")
        assert remote.post(config, {"triggerType": "COMMIT"})["result"] == "PASS"
        assert Handler.seen == ["POST /api/validate/acme HTTP/1.1"]  # inside the tunnel
        (request,) = tunnel.requests
        assert request.startswith(f"CONNECT 127.0.0.1:{server.port} HTTP/1.1\r\n".encode())
        assert b"Proxy-Authorization: Basic dXNlcjpwQHNz\r\n" in request  # user:p@ss
    finally:
        server.stop()


def _serve_once(answer: bytes, *, step: int) -> tuple[int, threading.Thread]:
    """A server that reads the request and writes ``answer`` ``step`` bytes at a time."""
    listener = socket.create_server(("127.0.0.1", 0))

    def run() -> None:
        connection, _ = listener.accept()
        with connection:
            request = b""
            while b"\r\n\r\n" not in request:
                request += connection.recv(65536)
            for start in range(0, len(answer), step):
                connection.sendall(answer[start : start + step])
        listener.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return listener.getsockname()[1], thread


@pytest.mark.parametrize("step", [1, 7, 65536])
def test_answers_in_small_pieces_are_read_exactly(step: int) -> None:
    head = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: "
    answer = head + str(len(PASS_DOCUMENT)).encode() + b"\r\n\r\n" + PASS_DOCUMENT + b"junk"
    port, thread = _serve_once(answer, step=step)
    config = remote.RemoteConfig(f"http://localhost:{port}/api/validate/acme", "s", timeout=10)
    assert remote.post(config, {"triggerType": "COMMIT"})["result"] == "PASS"
    thread.join(timeout=5)


def test_an_answer_cut_short_is_unreachable() -> None:
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n" + PASS_DOCUMENT
    port, thread = _serve_once(answer, step=5)
    config = remote.RemoteConfig(f"http://127.0.0.1:{port}/api/validate/acme", "s", timeout=10)
    with pytest.raises(remote.ServerUnreachable) as caught:
        remote.post(config, {"triggerType": "COMMIT"})
    assert "ended early" in caught.value.message
    thread.join(timeout=5)


def test_the_signature_is_hmac_sha256_for_any_key_length() -> None:
    for length in (0, 1, 32, 63, 64, 65, 200):
        secret = "k" * length + "Ü"
        body = os.urandom(length * 3 + 1)
        expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        assert remote.sign(secret, body) == "sha256=" + expected
