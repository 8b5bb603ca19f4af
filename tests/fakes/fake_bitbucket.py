"""A stateful fake Bitbucket Cloud (REST 2.0) on a real HTTP server, for tests and benchmarks.

It answers the way ../shared/specs/bitbucket-cloud.v3.json and docs/external-apis.md say
(tests/platforms/test_conformance.py checks it), including the awkward parts: 12-character
``source.commit.hash`` in PR objects, PR commits newest first with ``next`` pagination, 400 for a
status ``url`` whose host has no dot and for too large a ``pagelen``, errors as
``{"type": "error", "error": {"message", "detail"}}``::

    with FakeBitbucket() as bb:
        repo = bb.add_repo("acme", "api")
        pr = bb.add_pr(repo, "ABC-1 Login", source="feature/ABC-1", commits=["ABC-1 add form"])
        bb.fail(429, retry_after="1", times=1)        # fault injection
        ...                                            # point a client at bb.url with bb.token
        assert bb.status(repo, pr.head, "key").state == "SUCCESSFUL"

Paths (under ``/2.0/repositories/{workspace}/{repo_slug}``): ``GET /pullrequests`` (``state``,
``q`` — a BBQL subset: ``source.branch.name="x"``),
``GET /pullrequests/{id}``, ``GET /pullrequests/{id}/commits``, ``POST|DELETE
/pullrequests/{id}/approve``, ``POST|DELETE /pullrequests/{id}/request-changes``,
``GET /commit/{hash-or-prefix}``, ``POST /commit/{c}/statuses/build``, ``GET
/commit/{c}/statuses``, ``GET /commit/{c}/statuses/build/{key}``, ``PUT|GET|DELETE
/commit/{c}/reports/{id}``, ``POST|GET /commit/{c}/reports/{id}/annotations``.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import itertools
import json
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from tests.fakes.loopback import LoopbackServer

ACCESS_TOKEN = "fake-bitbucket-access-token"
# an Atlassian API token with scopes: Basic <account e-mail>:<token>
API_TOKEN = "fake-bitbucket-api-token"
API_EMAIL = "guardian@example.com"
# the technical user's Bitbucket username: what Basic with an API token must *not* carry
APP_USER = "guardian-bot"
# an app password of that user, from before Bitbucket removed them: always refused now
APP_PASSWORD = "fake-app-password"
# what the fake answers to an app password (Bitbucket's wording is not specified in the spec;
# what matters to clients is the 401)
APP_PASSWORD_GONE = "App passwords are no longer supported; use an API token"
BOT = {
    "type": "user",
    "display_name": "Process Guardian",
    "uuid": "{5f1e2d3c-0000-4000-8000-00000000b07}",
    "account_id": "712020:guardian-bot",
    "nickname": "guardian-bot",
}
_ANNOTATIONS_PER_CALL = 100
_ANNOTATIONS_PER_REPORT = 1000


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def account(name: str) -> dict[str, Any]:
    slug = re.sub(r"[^a-z0-9]", "", name.lower()) or "user"
    digest = hashlib.sha1(name.encode()).hexdigest()
    return {
        "type": "user",
        "display_name": name,
        "uuid": "{"
        + f"{digest[:8]}-{digest[8:12]}-4{digest[13:16]}-8{digest[17:20]}-{digest[20:32]}"
        + "}",
        "account_id": f"557058:{digest[:24]}",
        "nickname": slug,
    }


@dataclass
class FakeCommit:
    hash: str
    message: str
    author: str = "Ada Tester <ada@example.com>"
    parents: list[str] = field(default_factory=list)
    date: str = field(default_factory=now_iso)


@dataclass
class FakePullRequest:
    id: int
    title: str
    description: str
    source: str
    destination: str
    author: str
    commits: list[str]  # full hashes, oldest first
    state: str = "OPEN"
    participants: dict[str, str] = field(default_factory=dict)  # user uuid -> state

    @property
    def head(self) -> str:
        return self.commits[-1]


@dataclass
class FakeRepo:
    workspace: str
    slug: str
    name: str
    uuid: str
    commits: dict[str, FakeCommit] = field(default_factory=dict)
    prs: dict[int, FakePullRequest] = field(default_factory=dict)
    statuses: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    reports: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    annotations: dict[tuple[str, str], dict[str, dict[str, Any]]] = field(default_factory=dict)

    @property
    def full_name(self) -> str:
        return f"{self.workspace}/{self.slug}"


@dataclass
class Fault:
    status: int
    times: int = 1  # -1: forever
    path: str = ""
    method: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    # a held request waits until ``release`` is set, then gets the fault (or, with
    # ``passthrough``, the normal answer): a deterministic "Bitbucket is slow right now"
    release: threading.Event | None = None
    passthrough: bool = False
    arrived: threading.Event = field(default_factory=threading.Event)


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    headers: dict[str, str]
    status: int = 0
    response: Any = None
    at: float = field(default_factory=time.monotonic)


class ApiError(Exception):
    def __init__(self, status: int, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.detail = detail


class FakeBitbucket:
    """See the module docstring. Thread-safe; every request is recorded in ``requests``."""

    def __init__(
        self, *, max_pagelen: int = 100, default_pagelen: int = 10, latency: float = 0.0
    ) -> None:
        self.max_pagelen = max_pagelen
        self.default_pagelen = default_pagelen
        self.latency = latency
        self.repos: dict[tuple[str, str], FakeRepo] = {}
        self.faults: list[Fault] = []
        self.requests: list[RecordedRequest] = []
        self.lock = threading.RLock()
        self.tokens = {ACCESS_TOKEN}
        # API tokens by the Atlassian account e-mail they belong to (Basic e-mail:token)
        self.api_tokens = {API_EMAIL: API_TOKEN}
        # app passwords that existed once: recognised only to be refused, as Bitbucket does
        # since their removal
        self.app_passwords = {APP_USER: APP_PASSWORD}
        # why the last refused request was refused (for tests): "bearer", "app_password",
        # "not_email", "api_token", "scheme"
        self.auth_refusals: list[str] = []
        # extra headers on every authenticated answer (rate-limit headers for any credential
        # kind); access tokens also get Bitbucket's X-RateLimit-* on /repositories/* answers
        self.answer_headers: dict[str, str] = {}
        self.access_token_rate_limit = 1000
        self._counter = itertools.count(1)
        self._server: LoopbackServer | None = None

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> FakeBitbucket:
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

    def __enter__(self) -> FakeBitbucket:
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
        return self.origin + "/2.0"

    token = ACCESS_TOKEN

    # -- data -------------------------------------------------------------------------------

    def add_repo(self, workspace: str, slug: str, name: str = "") -> FakeRepo:
        digest = hashlib.sha1(f"{workspace}/{slug}".encode()).hexdigest()
        uuid = (
            "{"
            + f"{digest[:8]}-{digest[8:12]}-4{digest[13:16]}-8{digest[17:20]}-{digest[20:32]}"
            + "}"
        )
        repo = FakeRepo(workspace, slug, name or slug.replace("-", " ").title(), uuid)
        with self.lock:
            self.repos[(workspace, slug)] = repo
        return repo

    def add_commit(
        self, repo: FakeRepo, message: str, *, author: str = "", parents: list[str] | None = None
    ) -> FakeCommit:
        n = next(self._counter)
        digest = hashlib.sha1(f"{repo.full_name}\n{n}\n{message}".encode()).hexdigest()
        commit = FakeCommit(
            digest, message, author or "Ada Tester <ada@example.com>", parents or []
        )
        with self.lock:
            repo.commits[digest] = commit
        return commit

    def add_pr(
        self,
        repo: FakeRepo,
        title: str,
        *,
        source: str,
        destination: str = "main",
        description: str = "",
        commits: list[str] | None = None,
        author: str = "Ada Tester",
    ) -> FakePullRequest:
        """A PR whose commits have the given messages (oldest first; one commit by default)."""
        with self.lock:
            hashes: list[str] = []
            for message in commits or [title]:
                parent = [hashes[-1]] if hashes else []
                hashes.append(self.add_commit(repo, message, parents=parent).hash)
            pr_id = max(repo.prs, default=0) + 1
            pr = FakePullRequest(pr_id, title, description, source, destination, author, hashes)
            repo.prs[pr_id] = pr
        return pr

    def push(
        self, repo: FakeRepo, pr: FakePullRequest, message: str, *, reset_reviews: bool = False
    ) -> FakeCommit:
        """A new commit on the PR's source branch (the PR head moves). ``reset_reviews``: the
        repository's "reset approvals / requested changes when the source branch is modified"
        setting is on, so the push removes every reviewer's approval and change request."""
        with self.lock:
            commit = self.add_commit(repo, message, parents=[pr.head])
            pr.commits.append(commit.hash)
            if reset_reviews:
                pr.participants.clear()
        return commit

    def find_commit(self, repo: FakeRepo, ref: str) -> FakeCommit | None:
        with self.lock:
            if ref in repo.commits:
                return repo.commits[ref]
            if len(ref) < 7:
                return None
            matches = [c for h, c in repo.commits.items() if h.startswith(ref)]
        return matches[0] if len(matches) == 1 else None

    def status(self, repo: FakeRepo, commit: str, key: str) -> dict[str, Any] | None:
        with self.lock:
            return repo.statuses.get((commit, key))

    def report(self, repo: FakeRepo, commit: str, report_id: str) -> dict[str, Any] | None:
        with self.lock:
            return repo.reports.get((commit, report_id))

    def annotations(self, repo: FakeRepo, commit: str, report_id: str) -> list[dict[str, Any]]:
        with self.lock:
            return list(repo.annotations.get((commit, report_id), {}).values())

    def review_state(self, repo: FakeRepo, pr: FakePullRequest) -> str | None:
        """The bot's state on the PR: "approved", "changes_requested" or None."""
        with self.lock:
            return pr.participants.get(BOT["uuid"])

    # -- faults and the request log ---------------------------------------------------------

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
            headers["Retry-After"] = retry_after
        text = message or ("Rate limit exceeded" if status == 429 else "Something went wrong")
        fault = Fault(status, times, path, method.upper(), headers, error_body(text))
        with self.lock:
            self.faults.append(fault)
        return fault

    def hold(self, *, path: str, method: str = "", passthrough: bool = True) -> Fault:
        """Hold the next matching request until ``fault.release.set()``; then answer normally
        (``passthrough``) or with 503. ``fault.arrived`` is set when the request came in."""
        fault = Fault(
            503,
            1,
            path,
            method.upper(),
            {},
            error_body("Service unavailable"),
            release=threading.Event(),
            passthrough=passthrough,
        )
        with self.lock:
            self.faults.append(fault)
        return fault

    def release_all(self) -> None:
        with self.lock:
            for fault in self.faults:
                if fault.release is not None:
                    fault.release.set()

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

    def count(self, path: str = "", *, method: str = "") -> int:
        with self.lock:
            return sum(
                1
                for r in self.requests
                if path in r.path and (not method or r.method == method.upper())
            )

    def requests_to(self, path: str, *, method: str = "") -> list[RecordedRequest]:
        with self.lock:
            return [
                r
                for r in self.requests
                if path in r.path and (not method or r.method == method.upper())
            ]

    def reset_log(self) -> None:
        with self.lock:
            self.requests.clear()

    def authenticate(self, header: str) -> bool:
        return self.check_credentials(header) is None

    def check_credentials(self, header: str) -> str | None:
        """None when ``header`` authenticates, else why not: a Bearer access token, or Basic
        with an Atlassian account *e-mail* and its API token. Basic with a username (not an
        e-mail) is refused even with a valid API token, and an app password always is."""
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer":
            return None if value.strip() in self.tokens else "bearer"
        if scheme.lower() == "basic":
            try:
                user, _, password = base64.b64decode(value).decode().partition(":")
            except ValueError:
                return "scheme"
            if self.app_passwords.get(user) == password:
                return "app_password"
            if "@" not in user:
                return "not_email"
            return None if self.api_tokens.get(user) == password else "api_token"
        return "scheme"

    def refusal_message(self, reason: str) -> tuple[str, str]:
        if reason == "app_password":
            return "Unauthorized", APP_PASSWORD_GONE
        return "Unauthorized", "Invalid or missing credentials"

    def rate_limit_headers(self, authorization: str, path: str) -> dict[str, str]:
        """Bitbucket's scaled-rate-limit headers (X-RateLimit-Limit / -Resource / -NearLimit)
        go with access-token requests to /2.0/repositories/*; ``answer_headers`` with all."""
        headers = dict(self.answer_headers)
        if authorization.lower().startswith("bearer ") and path.startswith("/2.0/repositories"):
            headers.setdefault("X-RateLimit-Limit", str(self.access_token_rate_limit))
            headers.setdefault("X-RateLimit-Resource", "api")
            headers.setdefault("X-RateLimit-NearLimit", "false")
        return headers

    # -- representations --------------------------------------------------------------------

    def repo_json(self, repo: FakeRepo) -> dict[str, Any]:
        return {
            "type": "repository",
            "name": repo.name,
            "full_name": repo.full_name,
            "uuid": repo.uuid,
            "links": {"html": {"href": f"https://bitbucket.org/{repo.full_name}"}},
        }

    def commit_json(self, repo: FakeRepo, commit: FakeCommit) -> dict[str, Any]:
        name = commit.author.split("<", 1)[0].strip()
        return {
            "type": "commit",
            "hash": commit.hash,
            "date": commit.date,
            "message": commit.message,
            "summary": {"raw": commit.message, "markup": "markdown", "html": ""},
            "author": {"type": "author", "raw": commit.author, "user": account(name)},
            "parents": [
                {
                    "type": "commit",
                    "hash": p,
                    "links": {"self": {"href": self._api(repo, f"/commit/{p}")}},
                }
                for p in commit.parents
            ],
            "repository": self.repo_json(repo),
            "links": {
                "self": {"href": self._api(repo, f"/commit/{commit.hash}")},
                "html": {"href": f"https://bitbucket.org/{repo.full_name}/commits/{commit.hash}"},
            },
        }

    def pr_json(self, repo: FakeRepo, pr: FakePullRequest) -> dict[str, Any]:
        def endpoint(branch: str, commit: str) -> dict[str, Any]:
            return {
                "branch": {"name": branch},
                "commit": {"hash": commit[:12]},  # abbreviated, as Bitbucket really does
                "repository": self.repo_json(repo),
            }

        base = repo.commits[pr.commits[0]].parents
        dest_hash = base[0] if base else hashlib.sha1(pr.destination.encode()).hexdigest()
        return {
            "type": "pullrequest",
            "id": pr.id,
            "title": pr.title,
            "description": pr.description,
            "summary": {"raw": pr.description, "markup": "markdown", "html": ""},
            "rendered": {"description": {"raw": pr.description, "markup": "markdown", "html": ""}},
            "state": pr.state,
            "author": account(pr.author),
            "source": endpoint(pr.source, pr.head),
            "destination": endpoint(pr.destination, dest_hash),
            "merge_commit": None,
            "close_source_branch": False,
            "closed_by": None,
            "reason": "",
            "comment_count": 0,
            "task_count": 0,
            "created_on": now_iso(),
            "updated_on": now_iso(),
            "links": {
                "self": {"href": self._api(repo, f"/pullrequests/{pr.id}")},
                "html": {"href": f"https://bitbucket.org/{repo.full_name}/pull-requests/{pr.id}"},
            },
        }

    def _api(self, repo: FakeRepo, suffix: str) -> str:
        return f"{self.url}/repositories/{repo.full_name}{suffix}"

    def page(self, items: list[Any], query: dict[str, list[str]], path: str) -> dict[str, Any]:
        try:
            pagelen = int(query.get("pagelen", [self.default_pagelen])[0])
            number = int(query.get("page", ["1"])[0])
        except ValueError as exc:
            raise ApiError(400, "Invalid pagination parameters") from exc
        if pagelen < 1 or pagelen > self.max_pagelen:
            raise ApiError(
                400, f"Invalid pagelen: {pagelen}", f"pagelen must be at most {self.max_pagelen}"
            )
        start = (number - 1) * pagelen
        out: dict[str, Any] = {
            "pagelen": pagelen,
            "page": number,
            "size": len(items),
            "values": items[start : start + pagelen],
        }
        if start + pagelen < len(items):
            rest = {k: v[0] for k, v in query.items() if k not in ("page", "pagelen")}
            out["next"] = f"{self.origin}{path}?" + urlencode(
                {**rest, "pagelen": pagelen, "page": number + 1}
            )
        return out


def error_body(message: str, detail: str = "") -> dict[str, Any]:
    error: dict[str, Any] = {"message": message}
    if detail:
        error["detail"] = detail
    return {"type": "error", "error": error}


_REPO = r"^/2\.0/repositories/(?P<ws>[^/]+)/(?P<repo>[^/]+)"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 30
    fake: FakeBitbucket

    def log_message(self, format: str, *args: Any) -> None:
        return None

    def _handle(self) -> None:
        fake = self.fake
        split = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        record = RecordedRequest(
            self.command,
            split.path,
            parse_qs(split.query, keep_blank_values=True),
            body,
            {k.lower(): v for k, v in self.headers.items()},
        )
        with fake.lock:
            fake.requests.append(record)
        if fake.latency:
            time.sleep(fake.latency)
        headers: dict[str, str] = {}
        fault = fake.take_fault(self.command, split.path)
        if fault is not None and fault.release is not None:
            fault.arrived.set()
            fault.release.wait(timeout=60)
            if fault.passthrough:
                fault = None
        if fault is not None:
            status, payload, headers = fault.status, fault.body, dict(fault.headers)
        elif (refused := fake.check_credentials(self.headers.get("Authorization", ""))) is not None:
            with fake.lock:
                fake.auth_refusals.append(refused)
            status, payload = 401, error_body(*fake.refusal_message(refused))
            headers["WWW-Authenticate"] = 'Bearer realm="Bitbucket"'
        else:
            headers.update(
                fake.rate_limit_headers(self.headers.get("Authorization", ""), split.path)
            )
            try:
                status, payload = _route(fake, record)
            except ApiError as exc:
                status, payload = exc.status, error_body(exc.message, exc.detail)
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
            self.wfile.write(data)  # a client may have given up on a held request

    do_GET = do_POST = do_PUT = do_DELETE = _handle


def _route(fake: FakeBitbucket, r: RecordedRequest) -> tuple[int, Any]:
    listing = re.fullmatch(r"/2\.0/repositories/(?P<ws>[^/]+)/?", r.path)
    if listing and r.method == "GET":
        return list_repositories(fake, listing["ws"], r)
    match = re.match(_REPO + r"(?P<rest>/.*)?$", r.path)
    if not match:
        raise ApiError(404, "Resource not found")
    with fake.lock:
        repo = fake.repos.get((match["ws"], match["repo"]))
        if repo is None:
            raise ApiError(404, "Repository not found", f"{match['ws']}/{match['repo']}")
        rest = match["rest"] or ""
        path_known = False
        for pattern, method, handler in _ROUTES:
            m = re.fullmatch(pattern, rest)
            if m and r.method == method:
                result: tuple[int, Any] = handler(fake, repo, r, **m.groupdict())
                return result
            path_known = path_known or m is not None
        raise ApiError(
            405 if path_known else 404, "Method not allowed" if path_known else "Resource not found"
        )


def list_repositories(fake: FakeBitbucket, workspace: str, r: RecordedRequest) -> tuple[int, Any]:
    """``GET /2.0/repositories/{workspace}``: the workspace's repositories (paginated); an
    unknown workspace is 404, as Bitbucket answers."""
    with fake.lock:
        repos = [repo for (ws, _), repo in sorted(fake.repos.items()) if ws == workspace]
        if not repos:
            raise ApiError(404, "No workspace with identifier", workspace)
        return 200, fake.page([fake.repo_json(repo) for repo in repos], r.query, r.path)


def _pr(repo: FakeRepo, pr_id: str) -> FakePullRequest:
    pr = repo.prs.get(int(pr_id)) if pr_id.isdigit() else None
    if pr is None:
        raise ApiError(404, "Pull request not found", f"No pull request with id {pr_id}")
    return pr


def _commit(fake: FakeBitbucket, repo: FakeRepo, ref: str) -> FakeCommit:
    commit = fake.find_commit(repo, ref)
    if commit is None:
        raise ApiError(404, f"Commit not found: {ref}")
    return commit


# BBQL (Bitbucket's "filtering and sorting": ``q=source.branch.name="feature/x" AND …``): the
# fake understands ``field = "string"`` / ``field != "string"`` terms joined by AND, on dotted
# paths of the PR object; anything else is 400 "Invalid query", as Bitbucket answers.
_BBQL_TERM = re.compile(r'\s*([A-Za-z_][\w.]*)\s*(=|!=)\s*"((?:[^"\\]|\\.)*)"\s*')


def bbql_filter(query: str) -> list[tuple[list[str], str, str]]:
    terms: list[tuple[list[str], str, str]] = []
    for part in re.split(r"\s+AND\s+", query.strip()):
        match = _BBQL_TERM.fullmatch(part)
        if match is None:
            raise ApiError(400, "Invalid query", f"cannot parse {part!r}")
        value = re.sub(r"\\(.)", r"\1", match[3])
        terms.append((match[1].split("."), match[2], value))
    return terms


def _matches(item: Any, terms: list[tuple[list[str], str, str]]) -> bool:
    for path, op, value in terms:
        current = item
        for name in path:
            current = current.get(name) if isinstance(current, dict) else None
        if (str(current) == value) != (op == "="):
            return False
    return True


def list_prs(fake: FakeBitbucket, repo: FakeRepo, r: RecordedRequest) -> tuple[int, Any]:
    states = r.query.get("state") or ["OPEN"]
    prs = [fake.pr_json(repo, pr) for pr in repo.prs.values() if pr.state in states]
    q = (r.query.get("q") or [""])[0]
    if q:
        terms = bbql_filter(q)
        prs = [pr for pr in prs if _matches(pr, terms)]
    return 200, fake.page(prs, r.query, r.path)


def get_pr(fake: FakeBitbucket, repo: FakeRepo, r: RecordedRequest, pr: str) -> tuple[int, Any]:
    return 200, fake.pr_json(repo, _pr(repo, pr))


def pr_commits(fake: FakeBitbucket, repo: FakeRepo, r: RecordedRequest, pr: str) -> tuple[int, Any]:
    found = _pr(repo, pr)
    items = [fake.commit_json(repo, repo.commits[h]) for h in reversed(found.commits)]
    return 200, fake.page(items, r.query, r.path)


def _participant(state: str) -> dict[str, Any]:
    return {
        "type": "participant",
        "user": dict(BOT),
        "role": "PARTICIPANT",
        "approved": state == "approved",
        "state": state,
        "participated_on": now_iso(),
    }


def _set_review(pr: FakePullRequest, state: str) -> tuple[int, Any]:
    if pr.state != "OPEN":
        raise ApiError(400, f"Pull request is {pr.state.lower()}", "It cannot be reviewed any more")
    pr.participants[BOT["uuid"]] = state
    return 200, _participant(state)


def _unset_review(pr: FakePullRequest, state: str) -> tuple[int, Any]:
    if pr.state != "OPEN":
        raise ApiError(400, f"Pull request is {pr.state.lower()}")
    if pr.participants.get(BOT["uuid"]) != state:
        raise ApiError(
            404, "Nothing to remove", f"You have not {state.replace('_', ' ')} this pull request"
        )
    del pr.participants[BOT["uuid"]]
    return 204, None


def approve(fake: FakeBitbucket, repo: FakeRepo, r: RecordedRequest, pr: str) -> tuple[int, Any]:
    return _set_review(_pr(repo, pr), "approved")


def unapprove(fake: FakeBitbucket, repo: FakeRepo, r: RecordedRequest, pr: str) -> tuple[int, Any]:
    return _unset_review(_pr(repo, pr), "approved")


def request_changes(
    fake: FakeBitbucket, repo: FakeRepo, r: RecordedRequest, pr: str
) -> tuple[int, Any]:
    return _set_review(_pr(repo, pr), "changes_requested")


def remove_request(
    fake: FakeBitbucket, repo: FakeRepo, r: RecordedRequest, pr: str
) -> tuple[int, Any]:
    return _unset_review(_pr(repo, pr), "changes_requested")


def get_commit(
    fake: FakeBitbucket, repo: FakeRepo, r: RecordedRequest, commit: str
) -> tuple[int, Any]:
    return 200, fake.commit_json(repo, _commit(fake, repo, commit))


_STATES = ("FAILED", "INPROGRESS", "STOPPED", "SUCCESSFUL")


def post_status(
    fake: FakeBitbucket, repo: FakeRepo, r: RecordedRequest, commit: str
) -> tuple[int, Any]:
    found = _commit(fake, repo, commit)
    body = r.body if isinstance(r.body, dict) else {}
    if not body.get("key") or body.get("state") not in _STATES:
        raise ApiError(
            400, "key and state are required", f"state must be one of {', '.join(_STATES)}"
        )
    url = body.get("url")
    if url is not None:
        host = urlsplit(str(url)).hostname or ""
        if "." not in host:
            raise ApiError(400, "url: Enter a valid URL.", f"{url!r} is not a valid URL")
    key = str(body["key"])
    previous = repo.statuses.get((found.hash, key))
    status = {
        "type": "build",
        "key": key,
        "state": body["state"],
        "name": body.get("name") or key,
        "description": body.get("description") or "",
        "url": url or "",
        "refname": body.get("refname"),
        "created_on": previous["created_on"] if previous else now_iso(),
        "updated_on": now_iso(),
        "links": {
            "self": {"href": fake._api(repo, f"/commit/{found.hash}/statuses/build/{key}")},
            "commit": {"href": fake._api(repo, f"/commit/{found.hash}")},
        },
    }
    if status["refname"] is None:
        del status["refname"]
    repo.statuses[(found.hash, key)] = status
    return 201, status


def list_statuses(
    fake: FakeBitbucket, repo: FakeRepo, r: RecordedRequest, commit: str
) -> tuple[int, Any]:
    found = _commit(fake, repo, commit)
    items = [s for (h, _), s in repo.statuses.items() if h == found.hash]
    return 200, fake.page(items, r.query, r.path)


def get_status(
    fake: FakeBitbucket, repo: FakeRepo, r: RecordedRequest, commit: str, key: str
) -> tuple[int, Any]:
    found = _commit(fake, repo, commit)
    status = repo.statuses.get((found.hash, key))
    if status is None:
        raise ApiError(404, f"Build status {key} not found")
    return 200, status


def put_report(
    fake: FakeBitbucket, repo: FakeRepo, r: RecordedRequest, commit: str, report: str
) -> tuple[int, Any]:
    found = _commit(fake, repo, commit)
    body = r.body if isinstance(r.body, dict) else None
    if body is None or not body.get("title") or not body.get("details"):
        raise ApiError(400, "title and details are required")
    if body.get("result", "PENDING") not in ("PASSED", "FAILED", "PENDING"):
        raise ApiError(400, "result must be PASSED, FAILED or PENDING")
    if len(body.get("data") or []) > 10:
        raise ApiError(400, "A report can contain at most 10 data fields")
    stored = {
        **body,
        "type": "report",
        "uuid": "{" + hashlib.md5(f"{found.hash}/{report}".encode()).hexdigest() + "}",
        "external_id": report,
        "created_on": now_iso(),
        "updated_on": now_iso(),
    }
    repo.reports[(found.hash, report)] = stored
    return 200, stored


def get_report(
    fake: FakeBitbucket, repo: FakeRepo, r: RecordedRequest, commit: str, report: str
) -> tuple[int, Any]:
    found = _commit(fake, repo, commit)
    if (found.hash, report) not in repo.reports:
        raise ApiError(404, f"Report {report} not found")
    return 200, repo.reports[(found.hash, report)]


def delete_report(
    fake: FakeBitbucket, repo: FakeRepo, r: RecordedRequest, commit: str, report: str
) -> tuple[int, Any]:
    found = _commit(fake, repo, commit)
    if repo.reports.pop((found.hash, report), None) is None:
        raise ApiError(404, f"Report {report} not found")
    repo.annotations.pop((found.hash, report), None)
    return 204, None


def post_annotations(
    fake: FakeBitbucket, repo: FakeRepo, r: RecordedRequest, commit: str, report: str
) -> tuple[int, Any]:
    found = _commit(fake, repo, commit)
    if (found.hash, report) not in repo.reports:
        raise ApiError(404, f"Report {report} not found")
    if not isinstance(r.body, list) or not r.body:
        raise ApiError(400, "Expected a non-empty array of annotations")
    if len(r.body) > _ANNOTATIONS_PER_CALL:
        raise ApiError(
            400, f"At most {_ANNOTATIONS_PER_CALL} annotations per request", f"got {len(r.body)}"
        )
    existing = repo.annotations.setdefault((found.hash, report), {})
    new_ids = {str(a.get("external_id")) for a in r.body if isinstance(a, dict)}
    if len(set(existing) | new_ids) > _ANNOTATIONS_PER_REPORT:
        raise ApiError(400, f"A report can contain at most {_ANNOTATIONS_PER_REPORT} annotations")
    out = []
    for item in r.body:
        if not isinstance(item, dict) or not item.get("external_id") or not item.get("summary"):
            raise ApiError(400, "Every annotation needs external_id and summary")
        stored = {
            **item,
            "type": "report_annotation",
            "uuid": "{" + hashlib.md5(str(item["external_id"]).encode()).hexdigest() + "}",
            "created_on": now_iso(),
            "updated_on": now_iso(),
        }
        existing[str(item["external_id"])] = stored
        out.append(stored)
    return 200, out


def list_annotations(
    fake: FakeBitbucket, repo: FakeRepo, r: RecordedRequest, commit: str, report: str
) -> tuple[int, Any]:
    found = _commit(fake, repo, commit)
    items = list(repo.annotations.get((found.hash, report), {}).values())
    return 200, fake.page(items, r.query, r.path)


_ROUTES: tuple[tuple[str, str, Any], ...] = (
    (r"/pullrequests", "GET", list_prs),
    (r"/pullrequests/(?P<pr>[^/]+)", "GET", get_pr),
    (r"/pullrequests/(?P<pr>[^/]+)/commits", "GET", pr_commits),
    (r"/pullrequests/(?P<pr>[^/]+)/approve", "POST", approve),
    (r"/pullrequests/(?P<pr>[^/]+)/approve", "DELETE", unapprove),
    (r"/pullrequests/(?P<pr>[^/]+)/request-changes", "POST", request_changes),
    (r"/pullrequests/(?P<pr>[^/]+)/request-changes", "DELETE", remove_request),
    (r"/commit/(?P<commit>[0-9a-f]+)", "GET", get_commit),
    (r"/commit/(?P<commit>[0-9a-f]+)/statuses", "GET", list_statuses),
    (r"/commit/(?P<commit>[0-9a-f]+)/statuses/build", "POST", post_status),
    (r"/commit/(?P<commit>[0-9a-f]+)/statuses/build/(?P<key>[^/]+)", "GET", get_status),
    (r"/commit/(?P<commit>[0-9a-f]+)/reports/(?P<report>[^/]+)", "PUT", put_report),
    (r"/commit/(?P<commit>[0-9a-f]+)/reports/(?P<report>[^/]+)", "GET", get_report),
    (r"/commit/(?P<commit>[0-9a-f]+)/reports/(?P<report>[^/]+)", "DELETE", delete_report),
    (
        r"/commit/(?P<commit>[0-9a-f]+)/reports/(?P<report>[^/]+)/annotations",
        "POST",
        post_annotations,
    ),
    (
        r"/commit/(?P<commit>[0-9a-f]+)/reports/(?P<report>[^/]+)/annotations",
        "GET",
        list_annotations,
    ),
)
