"""The Validation API's request: its error answer (``Rejection``) and its body — the
``Content-Encoding`` (none, ``identity`` or ``gzip``, else 415), the size as sent and inflated
(``max_body_bytes``, else 413 with what to do), inflating a gzip body in steps so a zip bomb
costs at most the limit (docs/validation-api.md, "Size and compression").

The signature covers the bytes as sent and is checked (server/validation.py) before
``inflate_body`` runs, on the CPU pool.
"""

from __future__ import annotations

import gc
import threading
import zlib

from fastapi import Request
from fastapi.responses import JSONResponse


class Rejection(Exception):
    """A request-level error of the Validation API."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers

    def response(self) -> JSONResponse:
        return JSONResponse(
            {"error": self.message, "errorCode": self.code},
            status_code=self.status,
            headers=self.headers,
        )


GZIP_CODINGS = frozenset({"gzip", "x-gzip"})
# RFC 7694: a server names the content codings it accepts in requests with Accept-Encoding
ACCEPTED_CODINGS = {"Accept-Encoding": "gzip"}
_INFLATE_STEP = 1024 * 1024


def content_coding(request: Request) -> str:
    """``"identity"`` or ``"gzip"`` from ``Content-Encoding``; anything else is 415."""
    raw = request.headers.get("content-encoding", "")
    codings = [c.strip().lower() for c in raw.split(",")]
    codings = [c for c in codings if c and c != "identity"]
    if not codings:
        return "identity"
    if len(codings) == 1 and codings[0] in GZIP_CODINGS:
        return "gzip"
    raise Rejection(
        415,
        "UNSUPPORTED_CONTENT_ENCODING",
        "The request body's Content-Encoding is not supported: send it as it is, "
        "or gzip-compressed with Content-Encoding: gzip",
        headers=ACCEPTED_CODINGS,
    )


async def read_body(request: Request, limit: int) -> bytes:
    """The body as sent (compressed or not), at most ``limit`` bytes: the declared
    ``Content-Length`` is checked first, then the bytes are counted as they stream in."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(limit: int, what: str = "The request body") -> Rejection:
    return Rejection(
        413,
        "PAYLOAD_TOO_LARGE",
        f"{what} exceeds {limit} bytes, this server's limit: push fewer commits at a time "
        "(e.g. git push origin <older commit>:<branch> first), or ask the administrator to "
        "raise JIRAHOOKS_MAX_BODY_BYTES",
    )


def inflate_body(body: bytes, limit: int) -> bytes:
    """A gzip body's JSON bytes (concatenated gzip members too), at most ``limit`` of them:
    inflated in steps, so a zip bomb costs at most ``limit`` bytes before it is refused (413).
    Not gzip, or cut short: 400 ``JSON_PARSE_ERROR``. Runs on the CPU pool."""
    out: list[bytes] = []
    size = 0
    data = body
    try:
        while True:
            inflater = zlib.decompressobj(wbits=31)  # the gzip wrapper, nothing else
            while not inflater.eof:
                chunk = inflater.decompress(data, _INFLATE_STEP)
                data = inflater.unconsumed_tail
                if not chunk and not data:
                    raise Rejection(400, "JSON_PARSE_ERROR", "The gzip body is cut short")
                size += len(chunk)
                if size > limit:
                    raise _too_large(limit, "The request body, decompressed,")
                out.append(chunk)
            data = inflater.unused_data
            if not data.strip(b"\0"):  # padding after the last member, as gzip(1) allows
                break
    except zlib.error as exc:
        raise Rejection(400, "JSON_PARSE_ERROR", f"The body is not valid gzip: {exc}") from exc
    return b"".join(out)


class CollectorPause:
    """Python's cyclic garbage collector paused while big pushes are evaluated.

    A 100,000-commit push builds millions of objects that live until the answer (commits, key
    matches, facts); every few hundred allocations the collector walks the young ones, and
    whenever the survivors grew by a quarter it walks *all* of them — 75 % of such a request's
    CPU (8.5 s of 10 s measured, decision 0014). Reference counting still frees everything
    that is not a cycle; the cycles made meanwhile wait for the collector's next run.

    ``begin`` / ``end`` nest across concurrent requests: the collector runs again when the last
    big request is done — unless it was off before the first one began (then it stays off).
    Process-wide, as ``gc`` is; only requests whose signature was verified pause it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._holders = 0
        self._resume = False

    def begin(self) -> None:
        with self._lock:
            if self._holders == 0:
                self._resume = gc.isenabled()
                gc.disable()
            self._holders += 1

    def end(self) -> None:
        with self._lock:
            self._holders -= 1
            if self._holders == 0 and self._resume:
                gc.enable()

    @property
    def holders(self) -> int:
        return self._holders


class Pause:
    """One request's hold on a ``CollectorPause``: ``begin`` at most once, ``end`` always."""

    def __init__(self, collector: CollectorPause) -> None:
        self._collector = collector
        self._held = False

    def begin(self) -> None:
        if not self._held:
            self._collector.begin()
            self._held = True

    def end(self) -> None:
        if self._held:
            self._held = False
            self._collector.end()


COLLECTOR = CollectorPause()
# Bodies (as sent) above this pause the collector once their signature is verified: ~1,500
# real-length commits, or a few hundred gzip-compressed.
PAUSE_COLLECTOR_ABOVE = 512 * 1024
