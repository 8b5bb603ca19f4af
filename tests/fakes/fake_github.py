"""A stateful fake GitHub REST API (a GitHub App's view) on a real HTTP server, for tests.

It answers as ../shared/specs/github-rest.json says (tests/platforms/test_github_conformance.py
checks it; every answer is completed with the document's required fields, tests/fakes/github_schema.py), and
as GitHub behaves where the document is silent:

- **App auth**: ``POST /app/installations/{id}/access_tokens`` and ``GET /app`` take only an
  RS256 JWT, verified with the App's public key (``iss`` = the App id, ``exp`` in the future and
  at most 10 minutes after ``iat``); every repository endpoint takes only an installation token
  it issued and that has not expired (``expire_tokens()``) — else 401 "Bad credentials".
- **Rate limits**: ``x-ratelimit-limit/-remaining/-reset/-used/-resource`` on every answer;
  ``fail(403, retry_after=…)`` is a secondary limit, ``exhaust()`` the primary one (403 with
  ``x-ratelimit-remaining: 0``).
- **Pagination**: ``per_page`` (at most 100) / ``page`` with ``Link: <…>; rel="next"``.
- ``GET …/pulls/{n}/commits`` lists at most **250** commits, whatever the page;
  ``GET …/compare/{base}...{head}`` lists them all (paginated).
- ``POST|PATCH …/check-runs`` refuse more than **50** annotations in one request (422), and a
  PATCH *appends* annotations.
- **Installations**: one per account (``installations``: owner → id; the first account gets
  :data:`INSTALLATION_ID`), found with the App JWT through ``GET /repos/{owner}/{repo}/
  installation`` and ``GET /app/installations``; ``reinstall(owner)`` gives the account a new
  one (the old id then answers 404, as after uninstalling and installing the App again).
- **Commit statuses**: ``POST …/statuses/{sha}`` (state, description ≤ 140 characters),
  ``GET …/commits/{ref}/statuses`` (newest first) and ``GET …/commits/{ref}/status`` (the
  combined state: the latest status of each context).

::

    with FakeGitHub() as gh:
        repo = gh.add_repo("acme", "api")
        pr = gh.add_pr(repo, "ABC-1 Login", source="feature/ABC-1", commits=["ABC-1 add form"])
        credentials = gh.credentials()            # App id, private key, installation id
        ...                                        # point the adapter at gh.url
        assert gh.check_runs(repo, pr.head)[-1]["conclusion"] == "success"
"""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import itertools
import json
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from tests.fakes.github_schema import rest_conform
from tests.fakes.loopback import LoopbackServer

from jirahooks.platforms.github_client import GitHubAppCredentials

APP_ID = "424242"
APP_SLUG = "process-guardian"
BOT_LOGIN = f"{APP_SLUG}[bot]"
INSTALLATION_ID = "31337"
PR_COMMITS_CAP = 250
ANNOTATIONS_PER_REQUEST = 50
MAX_PER_PAGE = 100
DOCS = "https://docs.github.com/rest"


def iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@functools.cache
def app_key() -> rsa.RSAPrivateKey:
    """The fake App's RSA key (made once per test process, never at import)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def app_key_pem() -> str:
    return (
        app_key()
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
        .decode()
    )


@dataclass
class FakeCommit:
    sha: str
    message: str
    author: str = "Ada Tester"
    email: str = "ada@example.com"
    parents: list[str] = field(default_factory=list)


@dataclass
class FakePullRequest:
    number: int
    title: str
    body: str
    source: str
    destination: str
    author: str
    commits: list[str]  # full hashes, oldest first
    base_sha: str
    state: str = "open"
    merged: bool = False

    @property
    def head(self) -> str:
        return self.commits[-1]


@dataclass
class FakeRepo:
    owner: str
    name: str
    id: int
    commits: dict[str, FakeCommit] = field(default_factory=dict)
    branches: dict[str, str] = field(default_factory=dict)
    prs: dict[int, FakePullRequest] = field(default_factory=dict)
    check_runs: dict[int, dict[str, Any]] = field(default_factory=dict)
    annotations: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    statuses: list[dict[str, Any]] = field(default_factory=list)
    reviews: dict[int, list[dict[str, Any]]] = field(default_factory=dict)

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"


@dataclass
class Fault:
    status: int
    times: int = 1  # -1: forever
    path: str = ""
    method: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None


@dataclass
class RecordedRequest:
    method: str
    path: str  # without the API prefix
    query: dict[str, list[str]]
    body: Any
    headers: dict[str, str]
    status: int = 0
    response: Any = None
    route: str = ""  # the spec's path template that answered


class ApiError(Exception):
    def __init__(self, status: int, message: str, errors: list[Any] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors


class FakeGitHub:
    """See the module docstring. Thread-safe; every request is recorded in ``requests``."""

    def __init__(self, *, prefix: str = "", rate_limit: int = 5000) -> None:
        self.prefix = prefix.rstrip("/")  # "/api/v3": GitHub Enterprise Server's layout
        self.repos: dict[tuple[str, str], FakeRepo] = {}
        self.faults: list[Fault] = []
        self.requests: list[RecordedRequest] = []
        self.lock = threading.RLock()
        self.token_lifetime = 3600.0
        self.tokens: dict[str, float] = {}  # installation token → expiry (epoch seconds)
        self.tokens_issued = 0
        self.jwt_refusals: list[str] = []
        self.rate_limit = rate_limit
        self.rate_used = 0
        self.rate_reset = time.time() + 3600
        self.checks_enabled = True  # False: a GitHub Enterprise Server without the Checks API
        self.installations: dict[str, str] = {}  # account login → installation id
        self._ids = itertools.count(1000)
        self._server: LoopbackServer | None = None

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> FakeGitHub:
        fake = self

        class Handler(_Handler):
            pass

        Handler.fake = fake
        self._server = LoopbackServer(Handler).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def __enter__(self) -> FakeGitHub:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def origin(self) -> str:
        assert self._server is not None, "start the fake first"
        return f"http://127.0.0.1:{self._server.port}"

    @property
    def url(self) -> str:
        """The API base URL a client is configured with."""
        return self.origin + self.prefix

    def credentials(self, *, installation_id: str = INSTALLATION_ID) -> GitHubAppCredentials:
        return GitHubAppCredentials(APP_ID, app_key_pem(), installation_id)

    # -- data -------------------------------------------------------------------------------

    def add_repo(self, owner: str, name: str) -> FakeRepo:
        with self.lock:
            repo = FakeRepo(owner, name, next(self._ids))
            self.repos[(owner, name)] = repo
            if owner not in self.installations:
                taken = INSTALLATION_ID in self.installations.values()
                self.installations[owner] = str(next(self._ids)) if taken else INSTALLATION_ID
            root = self.add_commit(repo, "Initial commit")
            repo.branches["main"] = root.sha
        return repo

    def add_commit(
        self, repo: FakeRepo, message: str, *, parents: list[str] | None = None, author: str = ""
    ) -> FakeCommit:
        n = next(self._ids)
        sha = hashlib.sha1(f"{repo.full_name}\n{n}\n{message}".encode()).hexdigest()
        commit = FakeCommit(sha, message, author or "Ada Tester", parents=parents or [])
        with self.lock:
            repo.commits[sha] = commit
        return commit

    def add_pr(
        self,
        repo: FakeRepo,
        title: str,
        *,
        source: str,
        destination: str = "main",
        body: str = "",
        commits: list[str] | None = None,
        author: str = "ada",
    ) -> FakePullRequest:
        """A PR whose commits have the given messages (oldest first), branched off ``main``."""
        with self.lock:
            base = repo.branches.get(destination) or repo.branches["main"]
            hashes: list[str] = []
            for message in commits or [title]:
                parent = hashes[-1] if hashes else base
                hashes.append(self.add_commit(repo, message, parents=[parent]).sha)
            number = max(repo.prs, default=0) + 1
            pr = FakePullRequest(number, title, body, source, destination, author, hashes, base)
            repo.prs[number] = pr
            repo.branches[source] = pr.head
        return pr

    def push(self, repo: FakeRepo, pr: FakePullRequest, message: str) -> FakeCommit:
        with self.lock:
            commit = self.add_commit(repo, message, parents=[pr.head])
            pr.commits.append(commit.sha)
            repo.branches[pr.source] = commit.sha
        return commit

    def check_runs(self, repo: FakeRepo, sha: str) -> list[dict[str, Any]]:
        """The check runs on ``sha``, oldest first."""
        with self.lock:
            return [r for r in repo.check_runs.values() if r["head_sha"] == sha]

    def reinstall(self, owner: str) -> str:
        """The App uninstalled from ``owner`` and installed again: a new installation id."""
        with self.lock:
            self.installations[owner] = str(next(self._ids))
            return self.installations[owner]

    def statuses(self, repo: FakeRepo, sha: str) -> list[dict[str, Any]]:
        """The commit statuses on ``sha``, oldest first."""
        with self.lock:
            return [s for s in repo.statuses if s["sha"] == sha]

    def annotations(self, repo: FakeRepo, run_id: int) -> list[dict[str, Any]]:
        with self.lock:
            return list(repo.annotations.get(run_id, []))

    def review_state(self, repo: FakeRepo, pr: FakePullRequest) -> str:
        """The App's standing review: APPROVED, CHANGES_REQUESTED or "" (none / dismissed)."""
        with self.lock:
            ours = [
                r
                for r in repo.reviews.get(pr.number, [])
                if r["user"]["login"] == BOT_LOGIN and r["state"] != "COMMENTED"
            ]
        state = ours[-1]["state"] if ours else ""
        return "" if state == "DISMISSED" else state

    # -- faults, limits and the request log ---------------------------------------------------

    def fail(
        self,
        status: int,
        *,
        times: int = 1,
        path: str = "",
        method: str = "",
        retry_after: str | None = None,
        message: str = "",
        headers: dict[str, str] | None = None,
    ) -> Fault:
        headers = dict(headers or {})
        if retry_after is not None:
            headers["retry-after"] = retry_after
        text = message or (
            "You have exceeded a secondary rate limit. Please wait a few minutes before you "
            "try again."
            if retry_after is not None
            else "Server Error"
        )
        fault = Fault(status, times, path, method.upper(), headers, error_body(text))
        with self.lock:
            self.faults.append(fault)
        return fault

    def exhaust(self, *, reset_in: float = 3600.0) -> None:
        """Spend the primary rate limit: every request gets 403 until ``reset_in`` seconds."""
        with self.lock:
            self.rate_used = self.rate_limit
            self.rate_reset = time.time() + reset_in

    def expire_tokens(self) -> None:
        """Every installation token issued so far is now expired (GitHub answers 401)."""
        with self.lock:
            for token in self.tokens:
                self.tokens[token] = 0.0

    def take_fault(self, method: str, path: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.times == 0 or (fault.method and fault.method != method):
                    continue
                if fault.path and fault.path not in path:
                    continue
                if fault.times > 0:
                    fault.times -= 1
                return fault
        return None

    def requests_to(self, fragment: str, *, method: str = "") -> list[RecordedRequest]:
        with self.lock:
            return [
                r
                for r in self.requests
                if fragment in r.path and (not method or r.method == method.upper())
            ]

    def count(self, fragment: str = "", *, method: str = "") -> int:
        return len(self.requests_to(fragment, method=method))

    def rate_headers(self) -> dict[str, str]:
        with self.lock:
            if time.time() >= self.rate_reset:
                self.rate_used, self.rate_reset = 0, time.time() + 3600
            remaining = max(0, self.rate_limit - self.rate_used)
            return {
                "x-ratelimit-limit": str(self.rate_limit),
                "x-ratelimit-remaining": str(remaining),
                "x-ratelimit-reset": str(int(self.rate_reset)),
                "x-ratelimit-used": str(self.rate_used),
                "x-ratelimit-resource": "core",
            }

    # -- authentication -------------------------------------------------------------------------

    def check_jwt(self, authorization: str) -> str | None:
        """None when ``authorization`` is ``Bearer <a valid app JWT>``, else why not."""
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or token.count(".") != 2:
            return "not a JWT"
        head, claims_part, signature = token.split(".")
        try:
            header = json.loads(_b64url_decode(head))
            claims = json.loads(_b64url_decode(claims_part))
            app_key().public_key().verify(
                _b64url_decode(signature),
                f"{head}.{claims_part}".encode(),
                padding.PKCS1v15(),
                hashes.SHA256(),
            )
        except Exception:  # any undecodable or forged token is refused alike
            return "signature"
        now = time.time()
        if header.get("alg") != "RS256":
            return "alg"
        if str(claims.get("iss")) != APP_ID:
            return "iss"
        exp, iat = claims.get("exp"), claims.get("iat")
        if not isinstance(exp, int) or not isinstance(iat, int):
            return "claims"
        if exp <= now or iat > now + 60 or exp - iat > 600:
            return "expired"
        return None

    def check_token(self, authorization: str) -> bool:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() not in ("bearer", "token"):
            return False
        with self.lock:
            expiry = self.tokens.get(token.strip())
        return expiry is not None and expiry > time.time()

    def issue_token(self) -> dict[str, Any]:
        token = "ghs_" + secrets.token_hex(18)
        expires = time.time() + self.token_lifetime
        with self.lock:
            self.tokens[token] = expires
            self.tokens_issued += 1
        return rest_conform(
            "installation-token",
            {
                "token": token,
                "expires_at": iso(expires),
                "permissions": {
                    "checks": "write",
                    "contents": "read",
                    "metadata": "read",
                    "pull_requests": "write",
                    "statuses": "write",
                },
                "repository_selection": "all",
            },
        )

    # -- representations ------------------------------------------------------------------------

    def api(self, suffix: str) -> str:
        return self.url + suffix

    def user_json(self, login: str, *, bot: bool = False) -> dict[str, Any]:
        number = int(hashlib.sha1(login.encode()).hexdigest()[:6], 16)
        return rest_conform(
            "simple-user",
            {
                "login": login,
                "id": number,
                "type": "Bot" if bot else "User",
                "html_url": f"https://github.example/{login}",
            },
        )

    def repo_json(self, repo: FakeRepo) -> dict[str, Any]:
        return rest_conform(
            "repository",
            {
                "id": repo.id,
                "name": repo.name,
                "full_name": repo.full_name,
                "owner": self.user_json(repo.owner),
                "private": True,
                "html_url": f"https://github.example/{repo.full_name}",
                "default_branch": "main",
            },
        )

    def commit_json(self, repo: FakeRepo, commit: FakeCommit) -> dict[str, Any]:
        login = commit.author.split()[0].lower()
        return rest_conform(
            "commit",
            {
                "sha": commit.sha,
                "node_id": "C_" + commit.sha[:12],
                "url": self.api(f"/repos/{repo.full_name}/commits/{commit.sha}"),
                "html_url": f"https://github.example/{repo.full_name}/commit/{commit.sha}",
                "commit": {
                    "message": commit.message,
                    "author": {"name": commit.author, "email": commit.email, "date": iso(0)},
                    "committer": {"name": commit.author, "email": commit.email, "date": iso(0)},
                    "tree": {"sha": commit.sha, "url": self.api("/tree")},
                    "url": self.api(f"/repos/{repo.full_name}/git/commits/{commit.sha}"),
                    "comment_count": 0,
                },
                "author": self.user_json(login),
                "committer": self.user_json(login),
                "parents": [
                    {"sha": p, "url": self.api(f"/repos/{repo.full_name}/commits/{p}")}
                    for p in commit.parents
                ],
            },
        )

    def pr_json(self, repo: FakeRepo, pr: FakePullRequest, *, simple: bool = False) -> Any:
        def end(branch: str, sha: str) -> dict[str, Any]:
            return {
                "label": f"{repo.owner}:{branch}",
                "ref": branch,
                "sha": sha,
                "user": self.user_json(repo.owner),
                "repo": self.repo_json(repo),
            }

        data: dict[str, Any] = {
            "id": 90000 + pr.number,
            "number": pr.number,
            "state": pr.state,
            "title": pr.title,
            "body": pr.body or None,
            "user": self.user_json(pr.author),
            "html_url": f"https://github.example/{repo.full_name}/pull/{pr.number}",
            "url": self.api(f"/repos/{repo.full_name}/pulls/{pr.number}"),
            "head": end(pr.source, pr.head),
            "base": end(pr.destination, pr.base_sha),
            "merged_at": iso(time.time()) if pr.merged else None,
        }
        if not simple:
            data.update(
                merged=pr.merged,
                commits=len(pr.commits),
                mergeable=None,
                merged_by=None,
            )
        return rest_conform("pull-request-simple" if simple else "pull-request", data)

    def check_run_json(self, repo: FakeRepo, run: dict[str, Any]) -> Any:
        count = len(repo.annotations.get(run["id"], []))
        output = dict(run.get("output") or {})
        output.pop("annotations", None)
        return rest_conform(
            "check-run",
            {
                **{k: v for k, v in run.items() if k not in ("output", "app_id")},
                "url": self.api(f"/repos/{repo.full_name}/check-runs/{run['id']}"),
                "output": {
                    "title": output.get("title"),
                    "summary": output.get("summary"),
                    "text": output.get("text"),
                    "annotations_count": count,
                    "annotations_url": self.api(
                        f"/repos/{repo.full_name}/check-runs/{run['id']}/annotations"
                    ),
                },
                "app": {**self.app_json(), "id": int(run.get("app_id", APP_ID))},
                "pull_requests": [],
            },
        )

    def installation_json(self, owner: str, installation_id: str) -> dict[str, Any]:
        return rest_conform(
            "installation",
            {
                "id": int(installation_id),
                # GET /app/installations documents its account as a user *and* an enterprise
                # (allOf): the fields of both
                "account": {
                    **self.user_json(owner),
                    "name": owner,
                    "slug": owner,
                    "created_at": iso(0),
                    "updated_at": iso(0),
                },
                "app_id": int(APP_ID),
                "app_slug": APP_SLUG,
                "target_id": int(hashlib.sha1(owner.encode()).hexdigest()[:6], 16),
                "target_type": "Organization",
                "repository_selection": "all",
                "access_tokens_url": self.api(
                    f"/app/installations/{installation_id}/access_tokens"
                ),
                "repositories_url": self.api("/installation/repositories"),
                "html_url": f"https://github.example/organizations/{owner}/settings/installations/"
                f"{installation_id}",
                "permissions": {"checks": "write", "pull_requests": "write", "statuses": "write"},
                "events": ["pull_request", "push", "merge_group", "check_run", "check_suite"],
                "created_at": iso(time.time()),
                "updated_at": iso(time.time()),
                "single_file_name": None,
                "suspended_at": None,
                "suspended_by": None,
            },
        )

    def app_json(self) -> dict[str, Any]:
        return rest_conform(
            "integration",
            {
                "id": int(APP_ID),
                "slug": APP_SLUG,
                "name": "Process Guardian",
                "owner": self.user_json("acme"),
                "permissions": {"checks": "write", "pull_requests": "write"},
                "events": ["pull_request", "push", "merge_group", "check_run", "check_suite"],
            },
        )

    def page(
        self, items: list[Any], r: RecordedRequest, *, default: int = 30
    ) -> tuple[list[Any], dict[str, str]]:
        """One page of ``items`` and its ``Link`` header."""
        try:
            per_page = int(r.query.get("per_page", [default])[0])
            number = int(r.query.get("page", ["1"])[0])
        except ValueError as exc:
            raise ApiError(
                422, "Validation Failed", [{"code": "invalid", "field": "page"}]
            ) from exc
        per_page = max(1, min(per_page, MAX_PER_PAGE))
        start = (max(1, number) - 1) * per_page
        links = []
        rest = {k: v[0] for k, v in r.query.items() if k not in ("page", "per_page")}
        if start + per_page < len(items):
            query = urlencode({**rest, "per_page": per_page, "page": number + 1})
            links.append(f'<{self.url}{r.path}?{query}>; rel="next"')
            last = (len(items) + per_page - 1) // per_page
            query = urlencode({**rest, "per_page": per_page, "page": last})
            links.append(f'<{self.url}{r.path}?{query}>; rel="last"')
        return items[start : start + per_page], ({"link": ", ".join(links)} if links else {})


def error_body(message: str, errors: list[Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"message": message, "documentation_url": DOCS}
    if errors is not None:
        body["errors"] = errors
    return body


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 30
    fake: FakeGitHub

    def log_message(self, format: str, *args: Any) -> None:
        return None

    def _handle(self) -> None:
        fake = self.fake
        split = urlsplit(self.path)
        path = split.path
        if fake.prefix and path.startswith(fake.prefix + "/"):
            path = path[len(fake.prefix) :]
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        record = RecordedRequest(
            self.command,
            path,
            parse_qs(split.query, keep_blank_values=True),
            body,
            {k.lower(): v for k, v in self.headers.items()},
        )
        with fake.lock:
            fake.requests.append(record)
        headers: dict[str, str] = fake.rate_headers()
        fault = fake.take_fault(self.command, path)
        authorization = self.headers.get("Authorization", "")
        app_route = (
            path == "/app"
            or path.startswith("/app/")
            or re.fullmatch(r"/repos/[^/]+/[^/]+/installation", path) is not None
        )
        if fault is not None:
            status, payload = fault.status, fault.body
            headers.update(fault.headers)
        elif app_route and (why := fake.check_jwt(authorization)) is not None:
            with fake.lock:
                fake.jwt_refusals.append(why)
            status, payload = 401, error_body("A JSON web token could not be decoded")
        elif not app_route and not fake.check_token(authorization):
            status, payload = 401, error_body("Bad credentials")
        elif headers["x-ratelimit-remaining"] == "0":
            status, payload = 403, error_body("API rate limit exceeded for installation.")
        else:
            with fake.lock:
                fake.rate_used += 1
            headers.update(fake.rate_headers())
            try:
                status, payload, extra = _route(fake, record)
                headers.update(extra)
            except ApiError as exc:
                status, payload = exc.status, error_body(exc.message, exc.errors)
        record.status = status
        record.response = payload
        data = b"" if payload is None else json.dumps(payload).encode()
        self.send_response(status)
        if data:
            self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle


Answer = tuple[int, Any, dict[str, str]]


def _route(fake: FakeGitHub, r: RecordedRequest) -> Answer:
    if r.path == "/app" and r.method == "GET":
        r.route = "/app"
        return 200, fake.app_json(), {}
    token = re.fullmatch(r"/app/installations/([^/]+)/access_tokens", r.path)
    if token and r.method == "POST":
        r.route = "/app/installations/{installation_id}/access_tokens"
        with fake.lock:
            known = token[1] in fake.installations.values()
        if not known:
            raise ApiError(404, "Not Found")
        return 201, fake.issue_token(), {}
    if r.path == "/app/installations" and r.method == "GET":
        r.route = "/app/installations"
        with fake.lock:
            listed = [fake.installation_json(owner, i) for owner, i in fake.installations.items()]
        items, links = fake.page(listed, r)
        return 200, items, links
    match = re.match(r"^/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)(?P<rest>/.*)?$", r.path)
    if not match:
        raise ApiError(404, "Not Found")
    with fake.lock:
        repo = fake.repos.get((unquote(match["owner"]), unquote(match["repo"])))
        if repo is None:
            raise ApiError(404, "Not Found")
        rest = match["rest"] or ""
        for pattern, method, template, handler in _ROUTES:
            m = re.fullmatch(pattern, rest)
            if m and r.method == method:
                r.route = "/repos/{owner}/{repo}" + template
                answer: Answer = handler(
                    fake, repo, r, **{k: unquote(v) for k, v in m.groupdict().items()}
                )
                return answer
        raise ApiError(404, "Not Found")


def _pr(repo: FakeRepo, number: str) -> FakePullRequest:
    pr = repo.prs.get(int(number)) if number.isdigit() else None
    if pr is None:
        raise ApiError(404, "Not Found")
    return pr


def _commit(repo: FakeRepo, ref: str) -> FakeCommit:
    sha = repo.branches.get(ref, ref)
    if sha in repo.commits:
        return repo.commits[sha]
    found = [c for h, c in repo.commits.items() if len(ref) >= 4 and h.startswith(ref)]
    if len(found) != 1:
        raise ApiError(422, f"No commit found for SHA: {ref}")
    return found[0]


def list_pulls(fake: FakeGitHub, repo: FakeRepo, r: RecordedRequest) -> Answer:
    state = (r.query.get("state") or ["open"])[0]
    head = (r.query.get("head") or [""])[0]
    prs = [pr for pr in repo.prs.values() if state == "all" or pr.state == state]
    if head:
        owner, _, branch = head.partition(":")
        prs = [pr for pr in prs if owner == repo.owner and pr.source == branch]
    items, links = fake.page([fake.pr_json(repo, pr, simple=True) for pr in prs], r)
    return 200, items, links


def get_pull(fake: FakeGitHub, repo: FakeRepo, r: RecordedRequest, number: str) -> Answer:
    return 200, fake.pr_json(repo, _pr(repo, number)), {}


def pull_commits(fake: FakeGitHub, repo: FakeRepo, r: RecordedRequest, number: str) -> Answer:
    """At most 250 commits, oldest first, as GitHub lists them."""
    pr = _pr(repo, number)
    listed = [fake.commit_json(repo, repo.commits[h]) for h in pr.commits[:PR_COMMITS_CAP]]
    items, links = fake.page(listed, r)
    return 200, items, links


def compare(fake: FakeGitHub, repo: FakeRepo, r: RecordedRequest, base: str, head: str) -> Answer:
    """``base...head``: the commits reachable from head and not from base, oldest first."""
    base_commit, head_commit = _commit(repo, base), _commit(repo, head)
    reachable_from_base: set[str] = set()
    todo = [base_commit.sha]
    while todo:
        sha = todo.pop()
        if sha not in reachable_from_base and sha in repo.commits:
            reachable_from_base.add(sha)
            todo.extend(repo.commits[sha].parents)
    chain: list[str] = []
    todo = [head_commit.sha]
    seen: set[str] = set()
    while todo:
        sha = todo.pop()
        if sha in seen or sha in reachable_from_base or sha not in repo.commits:
            continue
        seen.add(sha)
        chain.append(sha)
        todo.extend(repo.commits[sha].parents)
    chain.reverse()  # oldest first (a linear history here)
    items, links = fake.page(
        [fake.commit_json(repo, repo.commits[h]) for h in chain], r, default=250
    )
    body = rest_conform(
        "commit-comparison",
        {
            "url": fake.api(f"/repos/{repo.full_name}/compare/{base}...{head}"),
            "status": "ahead" if chain else "identical",
            "ahead_by": len(chain),
            "behind_by": 0,
            "total_commits": len(chain),
            "base_commit": fake.commit_json(repo, base_commit),
            "merge_base_commit": fake.commit_json(repo, base_commit),
            "commits": items,
        },
    )
    return 200, body, links


def get_commit(fake: FakeGitHub, repo: FakeRepo, r: RecordedRequest, ref: str) -> Answer:
    return 200, fake.commit_json(repo, _commit(repo, ref)), {}


def _check_body(fake: FakeGitHub, r: RecordedRequest) -> dict[str, Any]:
    if not fake.checks_enabled:
        raise ApiError(404, "Not Found")
    body = r.body if isinstance(r.body, dict) else None
    if body is None:
        raise ApiError(400, "Problems parsing JSON")
    output = body.get("output")
    if output is not None:
        if not isinstance(output, dict) or not output.get("title") or not output.get("summary"):
            raise ApiError(
                422, "Invalid request.", ["output.title and output.summary are required"]
            )
        notes = output.get("annotations") or []
        if len(notes) > ANNOTATIONS_PER_REQUEST:
            raise ApiError(
                422,
                "Invalid request.",
                [f"Only {ANNOTATIONS_PER_REQUEST} annotations are allowed per request"],
            )
        for note in notes:
            if not all(
                note.get(k)
                for k in ("path", "start_line", "end_line", "annotation_level", "message")
            ):
                raise ApiError(422, "Invalid request.", ["annotation fields missing"])
    conclusion = body.get("conclusion")
    if body.get("status") == "completed" and not conclusion:
        raise ApiError(422, "Invalid request.", ["conclusion is required when completed"])
    return body


def _apply_run(repo: FakeRepo, run: dict[str, Any], body: dict[str, Any]) -> None:
    for key in ("name", "details_url", "external_id", "status", "conclusion"):
        if key in body:
            run[key] = body[key]
    if body.get("conclusion"):
        run["status"] = "completed"
        run["completed_at"] = iso(time.time())
    elif body.get("status") in ("queued", "in_progress"):
        run["conclusion"] = None
        run["completed_at"] = None
    if "output" in body:
        output = dict(body["output"])
        repo.annotations.setdefault(run["id"], []).extend(output.pop("annotations", None) or [])
        run["output"] = output


def create_check_run(fake: FakeGitHub, repo: FakeRepo, r: RecordedRequest) -> Answer:
    body = _check_body(fake, r)
    if not body.get("name") or not body.get("head_sha"):
        raise ApiError(422, "Invalid request.", ["name and head_sha are required"])
    commit = _commit(repo, str(body["head_sha"]))
    run_id = next(fake._ids)
    run: dict[str, Any] = {
        "id": run_id,
        "node_id": f"CR_{run_id}",
        "head_sha": commit.sha,
        "external_id": None,
        "html_url": f"https://github.example/{repo.full_name}/runs/{run_id}",
        "details_url": None,
        "status": "queued",
        "conclusion": None,
        "started_at": iso(time.time()),
        "completed_at": None,
        "name": body["name"],
        "check_suite": {"id": 7},
    }
    _apply_run(repo, run, body)
    repo.check_runs[run_id] = run
    return 201, fake.check_run_json(repo, run), {}


def update_check_run(fake: FakeGitHub, repo: FakeRepo, r: RecordedRequest, run_id: str) -> Answer:
    body = _check_body(fake, r)
    run = repo.check_runs.get(int(run_id)) if run_id.isdigit() else None
    if run is None:
        raise ApiError(404, "Not Found")
    _apply_run(repo, run, body)
    return 200, fake.check_run_json(repo, run), {}


def list_check_runs(fake: FakeGitHub, repo: FakeRepo, r: RecordedRequest, ref: str) -> Answer:
    if not fake.checks_enabled:
        raise ApiError(404, "Not Found")
    sha = _commit(repo, ref).sha
    name = (r.query.get("check_name") or [""])[0]
    runs = [run for run in repo.check_runs.values() if run["head_sha"] == sha]
    if name:
        runs = [run for run in runs if run["name"] == name]
    app = (r.query.get("app_id") or [""])[0]
    if app:
        runs = [run for run in runs if str(run.get("app_id", APP_ID)) == app]
    if (r.query.get("filter") or ["latest"])[0] == "latest":
        latest: dict[str, dict[str, Any]] = {}
        for run in runs:
            latest[run["name"]] = run
        runs = list(latest.values())
    runs.sort(key=lambda run: -int(run["id"]))
    body = {"total_count": len(runs), "check_runs": [fake.check_run_json(repo, x) for x in runs]}
    return 200, body, {}


_STATES = ("error", "failure", "pending", "success")


def create_status(fake: FakeGitHub, repo: FakeRepo, r: RecordedRequest, sha: str) -> Answer:
    body = r.body if isinstance(r.body, dict) else {}
    if body.get("state") not in _STATES:
        raise ApiError(422, "Validation Failed", [{"field": "state", "code": "invalid"}])
    if len(str(body.get("description") or "")) > 140:
        raise ApiError(422, "Validation Failed", [{"field": "description", "code": "too_long"}])
    commit = _commit(repo, sha)
    status_id = next(fake._ids)
    status = rest_conform(
        "status",
        {
            "id": status_id,
            "state": body["state"],
            "description": body.get("description"),
            "target_url": body.get("target_url"),
            "context": body.get("context") or "default",
            "url": fake.api(f"/repos/{repo.full_name}/statuses/{commit.sha}"),
            "creator": fake.user_json(BOT_LOGIN, bot=True),
        },
    )
    repo.statuses.append({**status, "sha": commit.sha})
    return 201, status, {}


def list_statuses(fake: FakeGitHub, repo: FakeRepo, r: RecordedRequest, ref: str) -> Answer:
    sha = _commit(repo, ref).sha
    found = [{k: v for k, v in s.items() if k != "sha"} for s in reversed(fake.statuses(repo, sha))]
    items, links = fake.page(found, r)
    return 200, items, links


def combined_status(fake: FakeGitHub, repo: FakeRepo, r: RecordedRequest, ref: str) -> Answer:
    """GitHub's combined state: failure if any context's latest is error or failure, pending if
    any is pending or there is none, else success."""
    sha = _commit(repo, ref).sha
    latest: dict[str, dict[str, Any]] = {}
    for status in fake.statuses(repo, sha):
        latest[status["context"]] = {k: v for k, v in status.items() if k != "sha"}
    states = {s["state"] for s in latest.values()}
    state = (
        "failure"
        if states & {"error", "failure"}
        else ("pending" if not states or "pending" in states else "success")
    )
    body = rest_conform(
        "combined-commit-status",
        {
            "state": state,
            "statuses": list(latest.values()),
            "sha": sha,
            "total_count": len(latest),
            "repository": rest_conform("minimal-repository", fake.repo_json(repo)),
            "commit_url": fake.api(f"/repos/{repo.full_name}/commits/{sha}"),
            "url": fake.api(f"/repos/{repo.full_name}/commits/{sha}/status"),
        },
    )
    return 200, body, {}


def repo_installation(fake: FakeGitHub, repo: FakeRepo, r: RecordedRequest) -> Answer:
    installation = fake.installations.get(repo.owner)
    if installation is None:
        raise ApiError(404, "Not Found")
    return 200, fake.installation_json(repo.owner, installation), {}


def _review_json(
    fake: FakeGitHub, repo: FakeRepo, pr: FakePullRequest, review: dict[str, Any]
) -> Any:
    return rest_conform(
        "pull-request-review",
        {
            **review,
            "html_url": f"https://github.example/{repo.full_name}/pull/{pr.number}",
            "pull_request_url": fake.api(f"/repos/{repo.full_name}/pulls/{pr.number}"),
            "commit_id": pr.head,
            "author_association": "NONE",
        },
    )


def list_reviews(fake: FakeGitHub, repo: FakeRepo, r: RecordedRequest, number: str) -> Answer:
    pr = _pr(repo, number)
    reviews = [_review_json(fake, repo, pr, x) for x in repo.reviews.get(pr.number, [])]
    items, links = fake.page(reviews, r)
    return 200, items, links


def create_review(fake: FakeGitHub, repo: FakeRepo, r: RecordedRequest, number: str) -> Answer:
    pr = _pr(repo, number)
    body = r.body if isinstance(r.body, dict) else {}
    event = body.get("event")
    if pr.state != "open":
        raise ApiError(422, "Unprocessable Entity", ["Can not review a closed pull request"])
    if event not in ("APPROVE", "REQUEST_CHANGES", "COMMENT"):
        raise ApiError(
            422, "Unprocessable Entity", ["event must be APPROVE, REQUEST_CHANGES or COMMENT"]
        )
    if event != "APPROVE" and not body.get("body"):
        raise ApiError(422, "Unprocessable Entity", ["Body is required for this event"])
    state = {"APPROVE": "APPROVED", "REQUEST_CHANGES": "CHANGES_REQUESTED"}.get(event, "COMMENTED")
    review = {
        "id": next(fake._ids),
        "node_id": "PRR_x",
        "user": fake.user_json(BOT_LOGIN, bot=True),
        "body": body.get("body") or "",
        "state": state,
        "submitted_at": iso(time.time()),
    }
    repo.reviews.setdefault(pr.number, []).append(review)
    return 200, _review_json(fake, repo, pr, review), {}


def dismiss_review(
    fake: FakeGitHub, repo: FakeRepo, r: RecordedRequest, number: str, review_id: str
) -> Answer:
    pr = _pr(repo, number)
    body = r.body if isinstance(r.body, dict) else {}
    if not body.get("message"):
        raise ApiError(422, "Validation Failed", [{"field": "message", "code": "missing_field"}])
    for review in repo.reviews.get(pr.number, []):
        if str(review["id"]) == review_id:
            if review["state"] not in ("APPROVED", "CHANGES_REQUESTED"):
                raise ApiError(422, "Can not dismiss a " + review["state"].lower() + " review")
            review["state"] = "DISMISSED"
            return 200, _review_json(fake, repo, pr, review), {}
    raise ApiError(404, "Not Found")


_ROUTES: tuple[tuple[str, str, str, Any], ...] = (
    (r"/pulls", "GET", "/pulls", list_pulls),
    (r"/pulls/(?P<number>[^/]+)", "GET", "/pulls/{pull_number}", get_pull),
    (r"/pulls/(?P<number>[^/]+)/commits", "GET", "/pulls/{pull_number}/commits", pull_commits),
    (r"/pulls/(?P<number>[^/]+)/reviews", "GET", "/pulls/{pull_number}/reviews", list_reviews),
    (r"/pulls/(?P<number>[^/]+)/reviews", "POST", "/pulls/{pull_number}/reviews", create_review),
    (
        r"/pulls/(?P<number>[^/]+)/reviews/(?P<review_id>[^/]+)/dismissals",
        "PUT",
        "/pulls/{pull_number}/reviews/{review_id}/dismissals",
        dismiss_review,
    ),
    (r"/compare/(?P<base>.+?)\.\.\.(?P<head>[^/]+)", "GET", "/compare/{basehead}", compare),
    (r"/commits/(?P<ref>[^/]+)", "GET", "/commits/{ref}", get_commit),
    (r"/commits/(?P<ref>[^/]+)/check-runs", "GET", "/commits/{ref}/check-runs", list_check_runs),
    (r"/check-runs", "POST", "/check-runs", create_check_run),
    (r"/check-runs/(?P<run_id>[^/]+)", "PATCH", "/check-runs/{check_run_id}", update_check_run),
    (r"/statuses/(?P<sha>[^/]+)", "POST", "/statuses/{sha}", create_status),
    (r"/commits/(?P<ref>[^/]+)/statuses", "GET", "/commits/{ref}/statuses", list_statuses),
    (r"/commits/(?P<ref>[^/]+)/status", "GET", "/commits/{ref}/status", combined_status),
    (r"/installation", "GET", "/installation", repo_installation),
)
