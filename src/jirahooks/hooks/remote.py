"""The Validation API client of the local hooks (remote mode). Standard library only.

Speaks the protocol of docs/validation-api.md exactly as the reference client (``jhfb_hooks``)
does, so the signature a server verifies covers the same bytes:

* ``POST <endpoint>`` with ``Content-Type: application/json``; the body is compact JSON
  (``separators=(",", ":")``) with non-ASCII escaped as ``\\uXXXX`` (``ensure_ascii=True``);
* ``x-hub-signature-256: sha256=<lowercase hex HMAC-SHA256(secret, body)>``;
* a body above 64 KiB (a push of ~100 commits) is sent ``Content-Encoding: gzip``, signed as
  sent; a server that answers it 415 (or 400 ``JSON_PARSE_ERROR``: one without gzip) gets it
  again as plain JSON;
* 30 s timeout; redirects are not followed (a redirected POST would lose its body).

Configuration comes from the environment, or from ``jirahooks.env`` / ``commit-check.env`` (the
reference client's name) in the hooks directory; the environment wins. Both naming schemes are
read, ours first::

    JIRAHOOKS_ENDPOINT / JHFB_ENDPOINT   full URL, e.g. https://jh.example/api/validate/acme?repoSlug=api
    JIRAHOOKS_SECRET   / JHFB_SECRET     the validation token (HMAC secret)
    JIRAHOOKS_LOCALE   / JHFB_LOCALE     en-US (default) or de-DE
    JIRAHOOKS_REPO_SLUG                  appended as ?repoSlug= when the endpoint has none
    JIRAHOOKS_TIMEOUT                    seconds (default 30)
    JIRAHOOKS_FAIL_OPEN=1                let changes through when the server cannot be reached
    JIRAHOOKS_VERBOSE=1                  print every fact, passes included

The installed hook imports this module on every commit, so it imports little: ``os``,
``json`` and ``jirahooks.errors``; then ``_socket`` (the C module under ``socket``) and the
interpreter's built-in SHA-256 for the signature. HTTP is spoken over a plain socket
(``http.client`` pulls in ``email``; ``urllib.request`` more): one ``POST`` with
``Content-Length`` and ``Connection: close``, the answer read by ``Content-Length``, chunked, or
to the end. ``socket`` and ``ssl`` load only for an https endpoint, ``urllib.parse`` only for
``JIRAHOOKS_REPO_SLUG``. Like
``urllib.request`` before, the ``http_proxy`` / ``https_proxy`` / ``no_proxy`` variables are
honoured: an http endpoint is asked through the proxy with an absolute URL, an https one through a
``CONNECT`` tunnel; a proxy URL's ``user:password@`` becomes a ``Proxy-Authorization`` header.
"""

from __future__ import annotations

import json
import os

from jirahooks.errors import EXIT_BLOCKED, EnvironmentProblem, JirahooksError

TYPE_CHECKING = False  # the hook path does not import typing
if TYPE_CHECKING:
    import _socket
    from collections.abc import Callable, Iterable, Mapping, Sequence
    from hashlib import _Hash
    from typing import Any, Protocol

    class CommitLike(Protocol):
        @property
        def hash(self) -> str: ...
        @property
        def message(self) -> str: ...
        @property
        def author_name(self) -> str: ...


ENV_FILES = ("jirahooks.env", "commit-check.env")
SIGNATURE_HEADER = "x-hub-signature-256"
DEFAULT_TIMEOUT = 30.0
MAX_ANSWER_BYTES = 64 * 1024 * 1024
GZIP_ABOVE = 64 * 1024  # bodies above this (a push of ~100 commits) are sent gzip-compressed
_TRUE = {"1", "true", "yes", "on"}


class ServerUnreachable(EnvironmentProblem):
    """The Validation API could not be asked: network error, timeout, or an answer that is not
    a result document. Fail closed (exit 4) unless ``JIRAHOOKS_FAIL_OPEN=1``."""

    code = "VALIDATION_SERVER_UNREACHABLE"


class ServerRejected(JirahooksError):
    """The Validation API answered with an error (any status but 200): the change is blocked
    (exit 1), as with the reference client. ``error_code`` is the server's ``errorCode``."""

    code = "VALIDATION_REQUEST_REJECTED"
    exit_code = EXIT_BLOCKED

    def __init__(self, status: int, error: str, error_code: str, *, hint: str = "") -> None:
        super().__init__(
            f"the validation server answered HTTP {status}"
            + (f" {error_code}" if error_code else "")
            + (f": {error}" if error else ""),
            hint=hint,
        )
        self.status = status
        self.error = error
        self.error_code = error_code


_HINTS = {
    "HMAC_AUTH_MISSING": "set JIRAHOOKS_SECRET (or JHFB_SECRET) to the repository's validation token",
    "HMAC_SECRET_NOT_CONFIGURED": "ask an administrator to create a validation token for this "
    "repository or workspace",
    "HMAC_SIGNATURE_INVALID": "JIRAHOOKS_SECRET does not match a validation token of this "
    "repository; ask an administrator for the current one",
    "REPOSITORY_ID_MISSING": "add ?repoSlug=<slug> to JIRAHOOKS_ENDPOINT (or set JIRAHOOKS_REPO_SLUG)",
    "REPOSITORY_NOT_FOUND": "check the repoSlug in JIRAHOOKS_ENDPOINT; the repository must exist "
    "on the server",
    "WORKSPACE_CONTEXT_MISSING": "JIRAHOOKS_ENDPOINT must name the workspace, e.g. "
    "https://jh.example/api/validate/<workspace>?repoSlug=<slug>",
    "FEATURE_DISABLED_GLOBAL": "the Validation API is switched off for this workspace",
    "FEATURE_DISABLED_REPO": "the Validation API is switched off for this repository",
    "PAYLOAD_TOO_LARGE": "push fewer commits at a time (git push origin <older commit>:<branch> "
    "first), or ask an administrator to raise JIRAHOOKS_MAX_BODY_BYTES on the server",
}


class RemoteConfig:
    """Where and how to reach the Validation API (immutable; ``replace`` makes a changed copy).
    The secret is never part of ``repr``."""

    __slots__ = ("endpoint", "fail_open", "locale", "secret", "source", "timeout", "verbose")

    def __init__(
        self,
        endpoint: str,
        secret: str,
        locale: str = "en-US",
        timeout: float = DEFAULT_TIMEOUT,
        fail_open: bool = False,
        verbose: bool = False,
        source: str = "environment",
    ) -> None:
        self.endpoint = endpoint
        self.secret = secret
        self.locale = locale
        self.timeout = timeout
        self.fail_open = fail_open
        self.verbose = verbose
        self.source = source

    def replace(self, *, timeout: float) -> RemoteConfig:
        return RemoteConfig(
            self.endpoint,
            self.secret,
            self.locale,
            timeout,
            self.fail_open,
            self.verbose,
            self.source,
        )

    def __repr__(self) -> str:
        return (
            f"RemoteConfig(endpoint={self.endpoint!r}, locale={self.locale!r}, "
            f"timeout={self.timeout!r}, fail_open={self.fail_open!r}, "
            f"verbose={self.verbose!r}, source={self.source!r})"
        )


def parse_env_file(text: str) -> dict[str, str]:
    """``KEY=VALUE`` lines (``export`` prefix, quotes and ``#`` comments allowed), like dotenv."""
    values: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        if line.startswith("export "):
            line = line[len("export ") :].lstrip()
        key, _, value = line.partition("=")
        key, value = key.strip(), value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        elif " #" in value:
            value = value.split(" #", 1)[0].rstrip()
        if key:
            values[key] = value
    return values


def _read_env_files(directories: Iterable[str | os.PathLike[str]]) -> tuple[dict[str, str], str]:
    merged: dict[str, str] = {}
    sources: list[str] = []
    for directory in dict.fromkeys(os.fspath(d) for d in directories):
        for name in ENV_FILES:
            path = os.path.join(directory, name)
            try:
                with open(path, encoding="utf-8") as fh:
                    text = fh.read()
            except OSError:
                continue
            for key, value in parse_env_file(text).items():
                merged.setdefault(key, value)
            sources.append(str(path))
    return merged, ", ".join(sources)


def _pick(names: Sequence[str], *layers: Mapping[str, str]) -> str:
    for layer in layers:
        for name in names:
            value = layer.get(name, "").strip()
            if value:
                return value
    return ""


def load_config(
    hook_dirs: Iterable[str | os.PathLike[str]] = (), *, environ: Mapping[str, str] | None = None
) -> RemoteConfig | None:
    """The remote configuration, or None when no endpoint is configured."""
    env = os.environ if environ is None else environ
    files, file_source = _read_env_files(hook_dirs)
    endpoint = _pick(("JIRAHOOKS_ENDPOINT", "JHFB_ENDPOINT"), env, files)
    if not endpoint:
        return None
    secret = _pick(("JIRAHOOKS_SECRET", "JHFB_SECRET"), env, files)
    slug = _pick(("JIRAHOOKS_REPO_SLUG",), env, files)
    if slug:
        endpoint = with_repo_slug(endpoint, slug)
    timeout_text = _pick(("JIRAHOOKS_TIMEOUT",), env, files)
    try:
        timeout = float(timeout_text) if timeout_text else DEFAULT_TIMEOUT
    except ValueError:
        timeout = DEFAULT_TIMEOUT
    from_env = any(env.get(n) for n in ("JIRAHOOKS_ENDPOINT", "JHFB_ENDPOINT"))
    return RemoteConfig(
        endpoint=endpoint,
        secret=secret,
        locale=_pick(("JIRAHOOKS_LOCALE", "JHFB_LOCALE"), env, files) or "en-US",
        timeout=timeout if timeout > 0 else DEFAULT_TIMEOUT,
        fail_open=_pick(("JIRAHOOKS_FAIL_OPEN",), env, files).lower() in _TRUE,
        verbose=_pick(("JIRAHOOKS_VERBOSE",), env, files).lower() in _TRUE,
        source="environment" if from_env or not file_source else file_source,
    )


def with_repo_slug(endpoint: str, slug: str) -> str:
    """``endpoint`` with ``repoSlug=slug`` in its query, unless it names a repository already."""
    import urllib.parse

    parts = urllib.parse.urlsplit(endpoint)
    query = urllib.parse.parse_qs(parts.query)
    if "repoSlug" in query or "repositoryUuid" in query:
        return endpoint
    extra = urllib.parse.urlencode({"repoSlug": slug})
    return urllib.parse.urlunsplit(parts._replace(query=f"{parts.query}&{extra}".lstrip("&")))


def payload(
    trigger: str, branch: str, commits: Sequence[CommitLike], *, locale: str = "en-US"
) -> dict[str, Any]:
    """The request body (field order as the reference client sends it)."""
    return {
        "triggerType": trigger,
        "branchName": branch,
        "commits": [
            {"hash": c.hash, "message": c.message, "authorDisplayName": c.author_name}
            for c in commits
        ],
        "locale": locale,
    }


def encode(body: Mapping[str, Any]) -> bytes:
    """Compact JSON, non-ASCII as ``\\uXXXX``: the exact bytes that are signed and sent."""
    return json.dumps(body, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def sign(secret: str, raw: bytes) -> str:
    """``sha256=<hex HMAC-SHA256>`` (RFC 2104). Computed with the interpreter's built-in SHA-256
    when it has one: ``hashlib`` and ``hmac`` load OpenSSL, a fifth of a bare interpreter start
    on every commit; else with ``hmac`` — the same bytes either way."""
    key = secret.encode("utf-8")
    sha256 = _builtin_sha256()
    if sha256 is None:
        import hashlib
        import hmac

        return "sha256=" + hmac.new(key, raw, hashlib.sha256).hexdigest()
    block = 64  # SHA-256's block size
    if len(key) > block:
        key = sha256(key).digest()
    key = key.ljust(block, b"\0")
    inner = sha256(bytes(b ^ 0x36 for b in key) + raw).digest()
    return "sha256=" + sha256(bytes(b ^ 0x5C for b in key) + inner).hexdigest()


def _builtin_sha256() -> Callable[[bytes], _Hash] | None:
    """CPython's own SHA-256 (``_sha2`` from 3.12, ``_sha256`` before), or None when the
    interpreter was built without it."""
    for name in ("_sha2", "_sha256"):
        try:
            sha256: Callable[[bytes], _Hash] = __import__(name).sha256
            return sha256
        except (ImportError, AttributeError):
            continue
    return None


def post(config: RemoteConfig, body: Mapping[str, Any]) -> dict[str, Any]:
    """Send one validation request; return the 200 result document.

    Raises ``ServerRejected`` for any other status (redirects are not followed) and
    ``ServerUnreachable`` when no usable answer arrived.
    """
    url = _split_url(config.endpoint)
    if url is None:
        raise ServerUnreachable(
            f"JIRAHOOKS_ENDPOINT is not an http(s) URL: {config.endpoint!r}",
            hint="e.g. https://jirahooks.example.com/api/validate/<workspace>?repoSlug=<slug>",
        )
    raw = encode(body)
    if len(raw) > GZIP_ABOVE:
        status, data = _send(config, url, gzip_body(raw), gzip=True)
        if status == 415 or (status == 400 and b"JSON_PARSE_ERROR" in data):
            status, data = _send(config, url, raw)  # a server without gzip: as it is
    else:
        status, data = _send(config, url, raw)
    if status != 200:
        raise _rejection(status, data)
    try:
        document = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ServerUnreachable(
            "the validation server's answer is not JSON",
            hint="is JIRAHOOKS_ENDPOINT the Validation API URL (…/api/validate/<workspace>)?",
        ) from exc
    if not isinstance(document, dict) or not isinstance(document.get("result"), str):
        raise ServerUnreachable(
            "the validation server's answer is not a result document (no 'result')",
            hint="is JIRAHOOKS_ENDPOINT the Validation API URL (…/api/validate/<workspace>)?",
        )
    return document


def gzip_body(raw: bytes) -> bytes:
    """``raw`` gzip-compressed, fast (level 1: ~100 MB/s, ~3× smaller for commit messages).
    ``zlib`` is imported only for a body this big, never on an ordinary commit."""
    import zlib

    deflater = zlib.compressobj(1, zlib.DEFLATED, 31)  # wbits 31: the gzip wrapper
    return deflater.compress(raw) + deflater.flush()


def _send(config: RemoteConfig, url: _Url, raw: bytes, *, gzip: bool = False) -> tuple[int, bytes]:
    """One signed ``POST`` of ``raw`` (the signature covers the bytes sent, compressed or not)."""
    headers = {"Content-Type": "application/json", "User-Agent": "jirahooks-hook"}
    if gzip:
        headers["Content-Encoding"] = "gzip"
    if config.secret:
        headers[SIGNATURE_HEADER] = sign(config.secret, raw)
    try:
        return _http_post(url, headers, raw, config.timeout)
    except (OSError, ValueError) as exc:  # refused, DNS, timeouts, resets, TLS, bad HTTP
        reason = str(exc) or type(exc).__name__
        if isinstance(exc, TimeoutError):
            reason = "timed out"
        raise ServerUnreachable(
            f"cannot reach the validation server {url.origin}: {reason}",
            hint="check JIRAHOOKS_ENDPOINT and your network; JIRAHOOKS_FAIL_OPEN=1 lets "
            "changes through while the server is down",
        ) from exc


# --- HTTP/1.1 over a socket -----------------------------------------------------------------


class _Url:
    """The parts of an http(s) URL that a request needs."""

    __slots__ = ("host", "port", "scheme", "target", "userinfo")

    def __init__(self, scheme: str, host: str, port: int, target: str, userinfo: str) -> None:
        self.scheme, self.host, self.port, self.target, self.userinfo = (
            scheme,
            host,
            port,
            target,
            userinfo,
        )

    @property
    def authority(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"

    @property
    def origin(self) -> str:
        return f"{self.scheme}://{self.authority}"


def _split_url(url: str) -> _Url | None:
    """``scheme://[user@]host[:port]/path?query`` (the fragment dropped), or None when ``url``
    is not an http(s) URL with a host and a valid port."""
    scheme, sep, rest = url.strip().partition("://")
    scheme = scheme.lower()
    if not sep or scheme not in ("http", "https"):
        return None
    rest = rest.split("#", 1)[0]
    cut = min((i for i in (rest.find("/"), rest.find("?")) if i >= 0), default=len(rest))
    netloc, target = rest[:cut], rest[cut:]
    if not target.startswith("/"):
        target = "/" + target
    userinfo, _, hostport = netloc.rpartition("@")
    if hostport.startswith("["):  # [IPv6]:port
        host, _, after = hostport[1:].partition("]")
        port_text = after[1:] if after.startswith(":") else ""
    else:
        host, _, port_text = hostport.partition(":")
    if not host:
        return None
    if port_text and not port_text.isdigit():
        return None
    port = int(port_text) if port_text else (443 if scheme == "https" else 80)
    if not 0 < port < 65536:
        return None
    return _Url(scheme, host, port, target, userinfo)


def _proxy_for(url: _Url, environ: Mapping[str, str]) -> _Url | None:
    """The proxy ``urllib.request`` would use for ``url``: ``<scheme>_proxy`` (lower case first;
    upper-case ``HTTP_PROXY`` ignored in a CGI environment), unless ``no_proxy`` matches."""
    name = f"{url.scheme}_proxy"
    if name in environ:  # set, even to "": lower case decides
        value = environ[name]
    elif url.scheme == "http" and "REQUEST_METHOD" in environ:
        value = ""
    else:
        value = environ.get(name.upper(), "")
    no_proxy = environ["no_proxy"] if "no_proxy" in environ else environ.get("NO_PROXY", "")
    if not value or _bypass(url, no_proxy):
        return None
    if "://" not in value:
        value = "http://" + value
    proxy = _split_url(value)
    if proxy is None:
        raise ValueError(f"the {name} variable is not a usable proxy URL")
    return proxy


def _bypass(url: _Url, no_proxy: str) -> bool:
    """``no_proxy`` as ``urllib.request.proxy_bypass_environment`` reads it: ``*`` matches all,
    else comma-separated host names (a leading dot optional; a name matches itself and its
    subdomains), each optionally with ``:port``."""
    if no_proxy.strip() == "*":
        return True
    host, authority = url.host.lower(), f"{url.host.lower()}:{url.port}"
    for entry in no_proxy.split(","):
        name = entry.strip().lstrip(".").lower()
        if name.startswith("[") and "]" in name:
            name = name[1:].replace("]", "", 1)
        if not name:
            continue
        candidate = authority if ":" in name and ":" not in host else host
        if candidate == name or candidate.endswith("." + name):
            return True
    return False


def _basic(userinfo: str) -> str:
    import base64
    from urllib.parse import unquote

    return "Basic " + base64.b64encode(unquote(userinfo).encode("utf-8")).decode("ascii")


def _connect(host: str, port: int, timeout: float) -> _socket.socket:
    """``socket.create_connection`` on ``_socket``, the C module under ``socket``: importing
    ``socket`` builds its enums and imports ``selectors`` and ``array``, a fifth of a bare
    interpreter start on every commit. The first address that accepts wins."""
    import _socket

    # an ASCII host name as bytes: a str would load the idna codec (and unicodedata) first
    name = host.encode("ascii") if host.isascii() else host
    error: OSError | None = None
    for family, kind, proto, _, address in _socket.getaddrinfo(name, port, 0, _socket.SOCK_STREAM):
        sock = _socket.socket(family, kind, proto)
        try:
            sock.settimeout(timeout)
            sock.connect(address)
            return sock
        except OSError as exc:
            error = exc
            sock.close()
    raise error or OSError(f"no address for {host}")


class _Reader:
    """``readline`` and ``read`` over a socket's ``recv``, as ``socket.makefile("rb")`` gave."""

    __slots__ = ("_buffer", "_sock")

    def __init__(self, sock: Any) -> None:
        self._sock = sock
        self._buffer = bytearray()

    def _fill(self) -> bool:
        chunk = self._sock.recv(65536)
        self._buffer += chunk
        return bool(chunk)

    def readline(self, limit: int) -> bytes:
        """One line with its newline (at most ``limit`` bytes; less at the end)."""
        while b"\n" not in self._buffer and len(self._buffer) < limit and self._fill():
            pass
        end = self._buffer.find(b"\n", 0, limit)
        end = min(limit, len(self._buffer)) if end < 0 else end + 1
        line = bytes(self._buffer[:end])
        del self._buffer[:end]
        return line

    def read(self, size: int) -> bytes:
        """``size`` bytes, or what came before the connection closed."""
        while len(self._buffer) < size and self._fill():
            pass
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data


def _http_post(
    url: _Url, headers: Mapping[str, str], body: bytes, timeout: float
) -> tuple[int, bytes]:
    """One ``POST``; (status, body). ``timeout`` bounds each blocking socket operation, as
    ``urllib.request`` did. Raises OSError (network, TLS, timeouts) or ValueError (not HTTP)."""
    proxy = _proxy_for(url, os.environ)
    target, extra = url.target, dict[str, str]()
    via = proxy or url
    sock: Any = _connect(via.host, via.port, timeout)
    try:
        if proxy is not None and url.scheme == "https":
            _tunnel(sock, url, proxy)
        elif proxy is not None:
            target = f"{url.origin}{url.target}"  # a plain proxy gets the absolute URL
            if proxy.userinfo:
                extra["Proxy-Authorization"] = _basic(proxy.userinfo)
        if url.scheme == "https":
            import socket
            import ssl

            plain = socket.socket(fileno=sock.detach())  # ssl wraps socket.socket objects
            plain.settimeout(timeout)
            sock = ssl.create_default_context().wrap_socket(plain, server_hostname=url.host)
        lines = [f"POST {target} HTTP/1.1", f"Host: {url.authority}"]
        lines += [f"{k}: {v}" for k, v in {**headers, **extra}.items()]
        lines += [f"Content-Length: {len(body)}", "Connection: close", "", ""]
        sock.sendall("\r\n".join(lines).encode("latin-1") + body)
        return _read_response(_Reader(sock))
    finally:
        sock.close()


def _tunnel(sock: _socket.socket, url: _Url, proxy: _Url) -> None:
    lines = [f"CONNECT {url.host}:{url.port} HTTP/1.1", f"Host: {url.host}:{url.port}"]
    if proxy.userinfo:
        lines.append(f"Proxy-Authorization: {_basic(proxy.userinfo)}")
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
    status, _ = _read_head(_Reader(sock))
    if status != 200:
        raise OSError(f"the proxy refused the tunnel: HTTP {status}")


def _read_head(reader: Any) -> tuple[int, dict[str, str]]:
    """Status line and headers (names in lower case; repeated ones joined with ``,``)."""
    while True:
        line = reader.readline(65537)
        parts = line.decode("latin-1").split(None, 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
            raise ValueError("the answer is not HTTP" if line else "no answer (connection closed)")
        status = int(parts[1])
        headers: dict[str, str] = {}
        while True:
            line = reader.readline(65537)
            if line in (b"\r\n", b"\n", b""):
                break
            name, sep, value = line.decode("latin-1").partition(":")
            if not sep:
                raise ValueError("a malformed header line in the answer")
            key = name.strip().lower()
            headers[key] = f"{headers[key]}, {value.strip()}" if key in headers else value.strip()
        if status != 100:  # "100 Continue" is followed by the real answer
            return status, headers


def _read_response(reader: Any) -> tuple[int, bytes]:
    status, headers = _read_head(reader)
    if "chunked" in headers.get("transfer-encoding", "").lower():
        chunks, size = [], 0
        while True:
            line = reader.readline(65537).split(b";", 1)[0].strip()
            try:
                length = int(line, 16)
            except ValueError:
                raise ValueError("a malformed chunk in the answer") from None
            if length == 0:
                break
            size += length
            if size > MAX_ANSWER_BYTES:
                raise ValueError("the answer is too large")
            chunk = reader.read(length)
            if len(chunk) != length:
                raise ValueError("the answer ended inside a chunk")
            chunks.append(chunk)
            reader.readline(65537)  # the CRLF after each chunk
        return status, b"".join(chunks)
    if "content-length" in headers:
        try:
            length = int(headers["content-length"].split(",")[0])
        except ValueError:
            raise ValueError("a malformed Content-Length in the answer") from None
        if length > MAX_ANSWER_BYTES:
            raise ValueError("the answer is too large")
        data = reader.read(length)
        if len(data) != length:
            raise ValueError("the answer ended early")
        return status, data
    data = reader.read(MAX_ANSWER_BYTES + 1)  # no length: the body ends with the connection
    if len(data) > MAX_ANSWER_BYTES:
        raise ValueError("the answer is too large")
    return status, data


def _rejection(status: int, data: bytes) -> ServerRejected:
    error, code = "", ""
    try:
        parsed = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        parsed = None
    if isinstance(parsed, dict):
        error = str(parsed.get("error") or "")
        code = str(parsed.get("errorCode") or "")
    elif data:
        error = data.decode("utf-8", "replace").strip().splitlines()[0][:200]
    hint = _HINTS.get(code, "")
    if not hint and 300 <= status < 400:
        hint = "the endpoint redirects; put the final URL into JIRAHOOKS_ENDPOINT"
    elif not hint and status >= 500:
        hint = "the validation server failed; its log has the details"
    return ServerRejected(status, error, code, hint=hint)


# --- the message format (prepare-commit-msg) -------------------------------------------------

MESSAGE_FORMAT_PATH = "/message-format"
_FORMAT_FIELDS = {
    "template": "template",
    "source": "source",
    "keyPattern": "key_pattern",
    "ignoredKeys": "ignored_keys",
    "backslashEscape": "backslash_escape",
    "backtickEscape": "backtick_escape",
    "caseInsensitive": "case_insensitive",
}


def message_format_url(endpoint: str) -> str:
    """``…/api/validate/<workspace>/message-format?<the endpoint's query>``: jirahooks' addition
    beside the Validation API endpoint (docs/validation-api.md, "Message format")."""
    base, sep, query = endpoint.partition("?")
    base = base.split("#", 1)[0].rstrip("/")
    return base + MESSAGE_FORMAT_PATH + (sep + query if sep else "")


def message_format(config: RemoteConfig) -> dict[str, Any] | None:
    """How the server wants the issue key in a commit message (the form ``hooks.prepare``
    reads), or None when it does not say: any answer but a 200 ``{"messageFormat": {…}}``, e.g.
    a server that does not know the request. Signed like a validation request (body ``{}``).
    Raises ``ServerUnreachable`` when no answer came."""
    url = _split_url(message_format_url(config.endpoint))
    if url is None:
        return None
    status, data = _send(config, url, b"{}")
    if status != 200:
        return None
    try:
        document = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    answer = document.get("messageFormat") if isinstance(document, dict) else None
    if not isinstance(answer, dict):
        return None
    return {ours: answer[theirs] for theirs, ours in _FORMAT_FIELDS.items() if theirs in answer}
