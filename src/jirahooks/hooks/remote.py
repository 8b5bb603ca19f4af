"""The Validation API client of the local hooks (remote mode). Standard library only.

Speaks the protocol of docs/validation-api.md exactly as the reference client (``jhfb_hooks``)
does, so the signature a server verifies covers the same bytes:

* ``POST <endpoint>`` with ``Content-Type: application/json``; the body is compact JSON
  (``separators=(",", ":")``) with non-ASCII escaped as ``\\uXXXX`` (``ensure_ascii=True``);
* ``x-hub-signature-256: sha256=<lowercase hex HMAC-SHA256(secret, body)>``;
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
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import urllib.parse
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jirahooks.errors import EXIT_BLOCKED, EnvironmentProblem, JirahooksError
from jirahooks.event import Commit

ENV_FILES = ("jirahooks.env", "commit-check.env")
SIGNATURE_HEADER = "x-hub-signature-256"
DEFAULT_TIMEOUT = 30.0
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
}


@dataclass(frozen=True)
class RemoteConfig:
    """Where and how to reach the Validation API."""

    endpoint: str
    secret: str = field(repr=False)
    locale: str = "en-US"
    timeout: float = DEFAULT_TIMEOUT
    fail_open: bool = False
    verbose: bool = False
    source: str = "environment"


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


def _read_env_files(directories: Iterable[Path]) -> tuple[dict[str, str], str]:
    merged: dict[str, str] = {}
    sources: list[str] = []
    for directory in dict.fromkeys(directories):
        for name in ENV_FILES:
            path = directory / name
            try:
                text = path.read_text(encoding="utf-8")
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
    hook_dirs: Iterable[Path] = (), *, environ: Mapping[str, str] | None = None
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
    parts = urllib.parse.urlsplit(endpoint)
    query = urllib.parse.parse_qs(parts.query)
    if "repoSlug" in query or "repositoryUuid" in query:
        return endpoint
    extra = urllib.parse.urlencode({"repoSlug": slug})
    return urllib.parse.urlunsplit(parts._replace(query=f"{parts.query}&{extra}".lstrip("&")))


def payload(
    trigger: str, branch: str, commits: Sequence[Commit], *, locale: str = "en-US"
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
    return "sha256=" + hmac.new(secret.encode("utf-8"), raw, hashlib.sha256).hexdigest()


def post(config: RemoteConfig, body: Mapping[str, Any]) -> dict[str, Any]:
    """Send one validation request; return the 200 result document.

    Raises ``ServerRejected`` for any other status and ``ServerUnreachable`` when no usable
    answer arrived.
    """
    scheme = urllib.parse.urlsplit(config.endpoint).scheme
    if scheme not in ("http", "https"):
        raise ServerUnreachable(
            f"JIRAHOOKS_ENDPOINT is not an http(s) URL: {config.endpoint!r}",
            hint="e.g. https://jirahooks.example.com/api/validate/<workspace>?repoSlug=<slug>",
        )
    # imported here: http.client, email and ssl cost ~40 ms, and only this function needs them
    from http.client import HTTPException
    from urllib.error import HTTPError
    from urllib.request import HTTPRedirectHandler, Request, build_opener

    class NoRedirect(HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None  # the 3xx surfaces as an HTTPError: a non-200 answer

    raw = encode(body)
    headers = {"Content-Type": "application/json", "User-Agent": "jirahooks-hook"}
    if config.secret:
        headers[SIGNATURE_HEADER] = sign(config.secret, raw)
    request = Request(config.endpoint, data=raw, headers=headers, method="POST")
    opener = build_opener(NoRedirect)
    try:
        with opener.open(request, timeout=config.timeout) as response:
            status = response.status
            data = response.read()
    except HTTPError as exc:
        data = exc.read() if exc.fp is not None else b""
        raise _rejection(exc.code, data) from None
    except (OSError, HTTPException) as exc:  # URLError, timeouts, resets
        reason = getattr(exc, "reason", exc)
        raise ServerUnreachable(
            f"cannot reach the validation server {_origin(config.endpoint)}: {reason}",
            hint="check JIRAHOOKS_ENDPOINT and your network; JIRAHOOKS_FAIL_OPEN=1 lets "
            "changes through while the server is down",
        ) from exc
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


def _origin(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


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
