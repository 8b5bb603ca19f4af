"""Reading a repository's rule set from a jirahooks server (``replay --server URL --repo SLUG``).

One authenticated ``GET /api/v1/workspaces/{workspace}/repositories/{repo}/rule-set`` (see
``jirahooks.server.admin.ruleset``) with the API token from ``JIRAHOOKS_API_TOKEN`` — never a
command-line argument, which shell histories and process lists would keep. The answer is a
configuration document without connections, loaded by the same reader as a local file. Every
failure is an error with a code and a hint; the token is never printed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from jirahooks.errors import EnvironmentProblem, JirahooksError, UsageError
from jirahooks.rules.config import ConfigDocument, load_document

TOKEN_ENV = "JIRAHOOKS_API_TOKEN"


@dataclass(frozen=True)
class RemoteRules:
    document: ConfigDocument
    source: str  # for the report: server, workspace, repository, configuration version
    broken: tuple[tuple[str, str], ...]


def fetch(
    server: str, workspace: str, repository: str, token: str, *, timeout: float = 30.0
) -> RemoteRules:
    import httpx

    parts = urlsplit(server)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise UsageError(
            f"--server: expected the server's base URL, got {server!r}",
            hint="for example --server https://jirahooks.example.com",
            code="BAD_SERVER_URL",
        )
    if not token:
        raise UsageError(
            f"--server needs an API token in {TOKEN_ENV}",
            hint="create one in the web UI (your name → API tokens) and export "
            f"{TOKEN_ENV}=…; it is never passed on the command line",
            code="API_TOKEN_MISSING",
        )
    base = server.rstrip("/")
    url = (
        f"{base}/api/v1/workspaces/{quote(workspace, safe='')}/repositories/"
        f"{quote(repository, safe='')}/rule-set"
    )
    try:
        with httpx.Client(timeout=timeout, follow_redirects=False) as client:
            response = client.get(url, headers={"Authorization": f"Bearer {token}"})
    except httpx.HTTPError as exc:
        raise EnvironmentProblem(
            f"the jirahooks server at {base} cannot be reached: {type(exc).__name__}",
            hint="check --server and that the server runs (GET /healthz)",
            code="SERVER_UNREACHABLE",
        ) from exc
    body = _json(response)
    if response.status_code == 401:
        raise EnvironmentProblem(
            f"the server rejected the API token in {TOKEN_ENV}",
            hint="the token may be revoked or expired: create a new one in the web UI",
            code="API_TOKEN_REJECTED",
        )
    if response.status_code == 404:
        what = str(body.get("message") or "not found") if isinstance(body, dict) else "not found"
        raise UsageError(
            f"{what} (workspace '{workspace}', repository '{repository}')",
            hint="check --workspace and --repo: the repositories you can see are listed in the "
            "web UI and by GET /api/v1/workspaces/WORKSPACE/repositories",
            code="UNKNOWN_REPOSITORY",
        )
    if response.status_code != 200 or not isinstance(body, dict):
        message = body.get("message") if isinstance(body, dict) else None
        raise EnvironmentProblem(
            f"the server answered {response.status_code}"
            + (f": {message}" if isinstance(message, str) else ""),
            hint="a jirahooks server of this version serves GET …/rule-set; check --server",
            code="SERVER_ERROR",
        )
    document_data = body.get("document")
    try:
        document = load_document(document_data, source=f"{base} rule-set")
    except JirahooksError:
        raise
    broken = tuple(
        (str(b.get("id", "")), str(b.get("problem", "")))
        for b in body.get("broken_rules") or []
        if isinstance(b, dict)
    )
    source = (
        f"{base} ({workspace}/{repository}, configuration version {body.get('config_version')})"
    )
    return RemoteRules(document, source, broken)


def _json(response: Any) -> Any:
    try:
        return response.json()
    except ValueError:
        return None
