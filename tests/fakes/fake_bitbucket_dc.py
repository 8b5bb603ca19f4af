"""A stateful fake Bitbucket Data Center (REST, 9.x) on a real HTTP server, for tests.

It answers as ../shared/specs/bitbucket-dc.v3.json says (tests/platforms/
test_bitbucket_dc_conformance.py checks it): paged collections (``start``, ``limit``,
``isLastPage``, ``nextPageStart``; ``limit`` capped at ``max_limit`` as an instance does), PR
commits newest first, 401 for an unknown Bearer token, errors as ``{"errors": [{"context",
"message", "exceptionName"}]}``, a 400 for a build status without ``url``, at most
``max_annotations`` annotations per report (a request that would pass it is refused whole, none
stored), no de-duplication of annotations, participant status refused for the PR's author::

    with FakeBitbucketDC() as dc:
        repo = dc.add_repo("PRJ", "api")
        pr = dc.add_pr(repo, "ABC-1 Login", source="feature/ABC-1", commits=["ABC-1 add form"])
        dc.fail(429, retry_after="1")                 # fault injection
        ...                                            # client at dc.url, token dc.token
        assert dc.build(repo, pr.head, "key")["state"] == "SUCCESSFUL"

Every authenticated answer carries ``X-AUSERNAME`` (the token's user), as Data Center does.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import itertools
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from tests.fakes.loopback import LoopbackServer

HTTP_ACCESS_TOKEN = "fake-dc-http-access-token"
PERSONAL_TOKEN = "fake-dc-personal-access-token"
# the bot user Data Center generates for a project / repository HTTP access token
BOT_SLUG = "project_1_bot_abc123"
PAT_USER = "guardian"
WEBHOOK_SECRET = "fake-dc-webhook-secret"


def error_body(message: str, exception: str = "", context: str | None = None) -> dict[str, Any]:
    return {
        "errors": [
            {
                "context": context,
                "message": message,
                "exceptionName": exception or "com.atlassian.bitbucket.ServiceException",
            }
        ]
    }


@dataclass
class FakeCommit:
    id: str
    message: str
    author: str = "Ada Tester"
    email: str = "ada@example.com"
    parents: list[str] = field(default_factory=list)
    timestamp: int = field(default_factory=lambda: int(time.time() * 1000))


@dataclass
class FakePullRequest:
    id: int
    title: str
    description: str
    source: str
    destination: str
    author: str  # user slug
    commits: list[str]  # oldest first
    state: str = "OPEN"
    version: int = 0
    participants: dict[str, str] = field(default_factory=dict)  # user slug -> status

    @property
    def head(self) -> str:
        return self.commits[-1]


@dataclass
class FakeRepo:
    project: str
    slug: str
    id: int
    commits: dict[str, FakeCommit] = field(default_factory=dict)
    prs: dict[int, FakePullRequest] = field(default_factory=dict)
    builds: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    reports: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    annotations: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)


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
    path: str
    query: dict[str, list[str]]
    body: Any
    headers: dict[str, str]
    status: int = 0
    response: Any = None


class ApiError(Exception):
    def __init__(self, status: int, message: str, exception: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.exception = exception


class FakeBitbucketDC:
    """See the module docstring. Thread-safe; every request is recorded in ``requests``."""

    token = HTTP_ACCESS_TOKEN

    def __init__(self, *, max_limit: int = 100, max_annotations: int = 1000) -> None:
        self.max_limit = max_limit
        self.max_annotations = max_annotations
        self.repos: dict[tuple[str, str], FakeRepo] = {}
        # Bearer token -> the user slug it acts as
        self.tokens = {HTTP_ACCESS_TOKEN: BOT_SLUG, PERSONAL_TOKEN: PAT_USER}
        self.faults: list[Fault] = []
        self.requests: list[RecordedRequest] = []
        self.answer_headers: dict[str, str] = {}
        self.lock = threading.RLock()
        self._ids = itertools.count(1)
        self._server: LoopbackServer | None = None

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> FakeBitbucketDC:
        class Handler(_Handler):
            pass

        Handler.fake = self
        self._server = LoopbackServer(Handler).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def __enter__(self) -> FakeBitbucketDC:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The instance base URL (a client adds ``/rest/…``)."""
        assert self._server is not None, "start the fake first"
        return f"http://127.0.0.1:{self._server.port}"

    # -- data -------------------------------------------------------------------------------

    def add_repo(self, project: str, slug: str) -> FakeRepo:
        repo = FakeRepo(project, slug, next(self._ids))
        with self.lock:
            self.repos[(project, slug)] = repo
        return repo

    def add_commit(self, repo: FakeRepo, message: str, parents: list[str] | None = None) -> str:
        n = next(self._ids)
        digest = hashlib.sha1(f"{repo.project}/{repo.slug}\n{n}\n{message}".encode()).hexdigest()
        with self.lock:
            repo.commits[digest] = FakeCommit(digest, message, parents=parents or [])
        return digest

    def add_pr(
        self,
        repo: FakeRepo,
        title: str,
        *,
        source: str,
        destination: str = "main",
        description: str = "",
        commits: list[str] | None = None,
        author: str = "ada",
    ) -> FakePullRequest:
        with self.lock:
            hashes: list[str] = []
            for message in commits or [title]:
                hashes.append(self.add_commit(repo, message, hashes[-1:]))
            pr_id = max(repo.prs, default=0) + 1
            pr = FakePullRequest(pr_id, title, description, source, destination, author, hashes)
            repo.prs[pr_id] = pr
        return pr

    def push(self, repo: FakeRepo, pr: FakePullRequest, message: str) -> str:
        with self.lock:
            commit = self.add_commit(repo, message, [pr.head])
            pr.commits.append(commit)
            pr.version += 1
        return commit

    def build(self, repo: FakeRepo, commit: str, key: str) -> dict[str, Any] | None:
        with self.lock:
            return repo.builds.get((commit, key))

    def report(self, repo: FakeRepo, commit: str, key: str) -> dict[str, Any] | None:
        with self.lock:
            return repo.reports.get((commit, key))

    def annotations(self, repo: FakeRepo, commit: str, key: str) -> list[dict[str, Any]]:
        with self.lock:
            return list(repo.annotations.get((commit, key), []))

    # -- faults and the log -----------------------------------------------------------------

    def fail(
        self,
        status: int,
        *,
        times: int = 1,
        path: str = "",
        method: str = "",
        retry_after: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Fault:
        extra = dict(headers or {})
        if retry_after is not None:
            extra["Retry-After"] = retry_after
        if status == 429:
            body = error_body(
                "You have been rate limited. Please wait and try again.",
                "com.atlassian.bitbucket.throttle.ThrottledException",
            )
        else:
            body = error_body("An error occurred while processing the request.")
        fault = Fault(status, times, path, method.upper(), extra, body)
        with self.lock:
            self.faults.append(fault)
        return fault

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

    def requests_to(self, path: str, *, method: str = "") -> list[RecordedRequest]:
        with self.lock:
            return [
                r
                for r in self.requests
                if path in r.path and (not method or r.method == method.upper())
            ]

    # -- representations --------------------------------------------------------------------

    def repo_json(self, repo: FakeRepo) -> dict[str, Any]:
        return {
            "slug": repo.slug,
            "id": repo.id,
            "name": repo.slug,
            "hierarchyId": hashlib.sha1(repo.slug.encode()).hexdigest()[:20],
            "scmId": "git",
            "state": "AVAILABLE",
            "statusMessage": "Available",
            "forkable": True,
            "project": {
                "key": repo.project,
                "id": 1,
                "name": repo.project.title(),
                "public": False,
                "type": "NORMAL",
            },
            "public": False,
            "archived": False,
        }

    @staticmethod
    def user_json(slug: str) -> dict[str, Any]:
        return {
            "name": slug,
            "emailAddress": f"{slug}@example.com",
            "id": int(hashlib.sha1(slug.encode()).hexdigest()[:6], 16),
            "displayName": slug.replace("_", " ").title(),
            "active": True,
            "slug": slug,
            "type": "SERVICE" if slug.endswith("_bot_abc123") else "NORMAL",
        }

    def commit_json(self, commit: FakeCommit) -> dict[str, Any]:
        person = {"name": commit.author, "emailAddress": commit.email}
        return {
            "id": commit.id,
            "displayId": commit.id[:11],
            "author": person,
            "authorTimestamp": commit.timestamp,
            "committer": person,
            "committerTimestamp": commit.timestamp,
            "message": commit.message,
            "parents": [{"id": p, "displayId": p[:11]} for p in commit.parents],
        }

    def pr_json(self, repo: FakeRepo, pr: FakePullRequest) -> dict[str, Any]:
        base = repo.commits[pr.commits[0]].parents
        target = base[0] if base else hashlib.sha1(pr.destination.encode()).hexdigest()

        def ref(branch: str, commit: str) -> dict[str, Any]:
            return {
                "id": f"refs/heads/{branch}",
                "displayId": branch,
                "latestCommit": commit,
                "repository": self.repo_json(repo),
            }

        def participant(slug: str, role: str, status: str) -> dict[str, Any]:
            return {
                "user": self.user_json(slug),
                "role": role,
                "approved": status == "APPROVED",
                "status": status,
            }

        return {
            "id": pr.id,
            "version": pr.version,
            "title": pr.title,
            "description": pr.description,
            "state": pr.state,
            "open": pr.state == "OPEN",
            "closed": pr.state != "OPEN",
            "draft": False,
            "createdDate": 1_700_000_000_000,
            "updatedDate": 1_700_000_000_000,
            "fromRef": ref(pr.source, pr.head),
            "toRef": ref(pr.destination, target),
            "locked": False,
            "author": participant(pr.author, "AUTHOR", "UNAPPROVED"),
            "reviewers": [],
            "participants": [
                participant(slug, "PARTICIPANT", status) for slug, status in pr.participants.items()
            ],
            "links": {
                "self": [
                    {
                        "href": f"{self.url}/projects/{repo.project}/repos/{repo.slug}"
                        f"/pull-requests/{pr.id}"
                    }
                ]
            },
        }

    def page(self, items: list[Any], query: dict[str, list[str]]) -> dict[str, Any]:
        try:
            start = int(query.get("start", ["0"])[0])
            limit = int(query.get("limit", ["25"])[0])
        except ValueError as exc:
            raise ApiError(400, "start and limit must be numbers") from exc
        limit = max(1, min(limit, self.max_limit))  # capped silently, as Data Center does
        values = items[start : start + limit]
        out: dict[str, Any] = {
            "size": len(values),
            "limit": limit,
            "isLastPage": start + limit >= len(items),
            "start": start,
            "values": values,
        }
        if not out["isLastPage"]:
            out["nextPageStart"] = start + limit
        return out

    # -- webhooks ---------------------------------------------------------------------------

    def webhook(
        self,
        event_key: str,
        payload: dict[str, Any],
        *,
        secret: str = WEBHOOK_SECRET,
        request_id: str = "",
    ) -> tuple[dict[str, str], bytes]:
        """Headers and body of a delivery as Data Center sends it."""
        body = json.dumps(payload).encode()
        headers = {
            "X-Event-Key": event_key,
            "X-Request-Id": request_id or f"{next(self._ids):08x}-7c1f-4b7e-9c44-5ad0e0a1b2c3",
            "Content-Type": "application/json; charset=utf-8",
        }
        if secret:
            digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
            headers["X-Hub-Signature"] = f"sha256={digest}"
        return headers, body

    def pr_event(
        self, repo: FakeRepo, pr: FakePullRequest, event_key: str, **extra: Any
    ) -> tuple[dict[str, str], bytes]:
        payload: dict[str, Any] = {
            "eventKey": event_key,
            "date": "2026-12-02T08:00:00+0000",
            "actor": self.user_json(pr.author),
            "pullRequest": self.pr_json(repo, pr),
            **extra,
        }
        return self.webhook(event_key, payload)

    def refs_changed(
        self, repo: FakeRepo, changes: list[tuple[str, str, str, str]]
    ) -> tuple[dict[str, str], bytes]:
        """``changes``: (ref id, from hash, to hash, ADD|UPDATE|DELETE)."""
        payload = {
            "eventKey": "repo:refs_changed",
            "date": "2026-12-02T08:00:00+0000",
            "actor": self.user_json("ada"),
            "repository": self.repo_json(repo),
            "changes": [
                {
                    "ref": {
                        "id": ref,
                        "displayId": ref.rsplit("/", 1)[-1]
                        if ref.startswith("refs/tags/")
                        else ref.removeprefix("refs/heads/"),
                        "type": "TAG" if ref.startswith("refs/tags/") else "BRANCH",
                    },
                    "refId": ref,
                    "fromHash": old,
                    "toHash": new,
                    "type": kind,
                }
                for ref, old, new, kind in changes
            ],
        }
        return self.webhook("repo:refs_changed", payload)


_REPO = r"^/rest/(?P<api>api|insights)/latest/projects/(?P<key>[^/]+)/repos/(?P<slug>[^/]+)"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 30
    fake: FakeBitbucketDC

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
        headers: dict[str, str] = {}
        scheme, _, token = self.headers.get("Authorization", "").partition(" ")
        user = fake.tokens.get(token.strip()) if scheme.lower() == "bearer" else None
        fault = fake.take_fault(self.command, split.path)
        if fault is not None:
            status, payload, headers = fault.status, fault.body, dict(fault.headers)
        elif user is None:
            status = 401
            payload = error_body(
                "Authentication failed. Please check your credentials and try again.",
                "com.atlassian.bitbucket.auth.IncorrectPasswordAuthenticationException",
            )
        else:
            headers.update(fake.answer_headers)
            headers["X-AUSERNAME"] = user
            try:
                status, payload = _route(fake, record, user)
            except ApiError as exc:
                status, payload = exc.status, error_body(exc.message, exc.exception)
        record.status = status
        record.response = payload
        data = b"" if payload is None else json.dumps(payload).encode()
        self.send_response(status)
        if data:
            self.send_header("Content-Type", "application/json;charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = _handle


def _route(fake: FakeBitbucketDC, r: RecordedRequest, user: str) -> tuple[int, Any]:
    listing = re.fullmatch(r"/rest/api/latest/projects/([^/]+)/repos", r.path)
    if listing and r.method == "GET":  # the project's repositories (the settings' test)
        key = unquote(listing[1])
        with fake.lock:
            repos = [fake.repo_json(repo) for (k, _), repo in fake.repos.items() if k == key]
        if not repos:
            raise ApiError(
                404,
                f"Project {key} does not exist.",
                "com.atlassian.bitbucket.project.NoSuchProjectException",
            )
        return 200, fake.page(repos, r.query)
    match = re.match(_REPO, r.path)
    if not match:
        raise ApiError(404, f"No resource at {r.path}")
    repo = fake.repos.get((unquote(match["key"]), unquote(match["slug"])))
    if repo is None:
        raise ApiError(
            404,
            f"Repository {match['key']}/{match['slug']} does not exist.",
            "com.atlassian.bitbucket.repository.NoSuchRepositoryException",
        )
    rest = r.path[match.end() :]
    with fake.lock:
        if match["api"] == "insights":
            return _insights(fake, repo, r, rest)
        if rest == "" and r.method == "GET":
            return 200, fake.repo_json(repo)
        if rest == "/pull-requests" and r.method == "GET":
            return 200, _list_prs(fake, repo, r)
        if m := re.fullmatch(r"/pull-requests/(\d+)", rest):
            return 200, fake.pr_json(repo, _pr(repo, m[1]))
        if m := re.fullmatch(r"/pull-requests/(\d+)/commits", rest):
            pr = _pr(repo, m[1])
            commits = [fake.commit_json(repo.commits[c]) for c in reversed(pr.commits)]
            return 200, fake.page(commits, r.query)
        if m := re.fullmatch(r"/pull-requests/(\d+)/participants/([^/]+)", rest):
            return _participant(fake, repo, r, _pr(repo, m[1]), unquote(m[2]), user)
        if m := re.fullmatch(r"/commits/([^/]+)/builds", rest):
            return _builds(repo, r, _commit(repo, m[1]).id)
        if m := re.fullmatch(r"/commits/([^/]+)", rest):
            return 200, fake.commit_json(_commit(repo, m[1]))
    raise ApiError(404, f"No resource at {r.path}")


def _pr(repo: FakeRepo, pr_id: str) -> FakePullRequest:
    pr = repo.prs.get(int(pr_id))
    if pr is None:
        raise ApiError(
            404,
            f"Pull request {pr_id} does not exist in {repo.project}/{repo.slug}.",
            "com.atlassian.bitbucket.pull.NoSuchPullRequestException",
        )
    return pr


def _commit(repo: FakeRepo, ref: str) -> Any:
    found = [c for h, c in repo.commits.items() if h.startswith(ref)] if len(ref) >= 4 else []
    if len(found) != 1:
        raise ApiError(
            404,
            f"Commit '{ref}' does not exist in repository '{repo.slug}'.",
            "com.atlassian.bitbucket.commit.NoSuchCommitException",
        )
    return found[0]


def _list_prs(fake: FakeBitbucketDC, repo: FakeRepo, r: RecordedRequest) -> dict[str, Any]:
    state = r.query.get("state", ["OPEN"])[0].upper()
    at = r.query.get("at", [""])[0]
    direction = r.query.get("direction", ["INCOMING"])[0].upper()
    prs = []
    for pr in sorted(repo.prs.values(), key=lambda p: -p.id):  # NEWEST first
        if state != "ALL" and pr.state != state:
            continue
        branch = pr.source if direction == "OUTGOING" else pr.destination
        if at and f"refs/heads/{branch}" != at:
            continue
        prs.append(fake.pr_json(repo, pr))
    return fake.page(prs, r.query)


def _participant(
    fake: FakeBitbucketDC,
    repo: FakeRepo,
    r: RecordedRequest,
    pr: FakePullRequest,
    slug: str,
    user: str,
) -> tuple[int, Any]:
    if r.method != "PUT":
        raise ApiError(405, "Method not allowed")
    if slug != user:
        raise ApiError(
            401,
            f"You are not permitted to change the status of {slug}.",
            "com.atlassian.bitbucket.AuthorisationException",
        )
    status = (r.body or {}).get("status") if isinstance(r.body, dict) else None
    if status not in ("APPROVED", "NEEDS_WORK", "UNAPPROVED"):
        raise ApiError(400, f"'{status}' is not a valid participant status.")
    if slug == pr.author:
        raise ApiError(
            400,
            "The author of a pull request cannot change their status.",
            "com.atlassian.bitbucket.pull.InvalidPullRequestParticipantException",
        )
    if pr.state != "OPEN":
        raise ApiError(
            409,
            f"Pull request {pr.id} is not open.",
            "com.atlassian.bitbucket.pull.IllegalPullRequestStateException",
        )
    pr.participants[slug] = status
    return 200, {
        "user": fake.user_json(slug),
        "role": "PARTICIPANT",
        "approved": status == "APPROVED",
        "status": status,
        "lastReviewedCommit": pr.head,
    }


def _builds(repo: FakeRepo, r: RecordedRequest, commit: str) -> tuple[int, Any]:
    if r.method == "GET":
        key = r.query.get("key", [""])[0]
        found = repo.builds.get((commit, key))
        if found is None:
            raise ApiError(404, f"No build status with key '{key}' for commit {commit}.")
        return 200, found
    if r.method != "POST":
        raise ApiError(405, "Method not allowed")
    body = r.body if isinstance(r.body, dict) else {}
    missing = [name for name in ("key", "state", "url") if not body.get(name)]
    if missing:
        raise ApiError(400, f"Missing required field(s): {', '.join(missing)}")
    if body["state"] not in ("CANCELLED", "FAILED", "INPROGRESS", "SUCCESSFUL", "UNKNOWN"):
        raise ApiError(400, f"'{body['state']}' is not a valid build state.")
    if not str(body["url"]).startswith(("http://", "https://")) or len(body["url"]) > 450:
        raise ApiError(400, "The build status URL must be an absolute http(s) URL.")
    repo.builds[(commit, body["key"])] = {
        "key": body["key"],
        "state": body["state"],
        "url": body["url"],
        **{k: body[k] for k in ("name", "description", "ref") if k in body},
        "createdDate": int(time.time() * 1000),
        "updatedDate": int(time.time() * 1000),
    }
    return 204, None


def _insights(
    fake: FakeBitbucketDC, repo: FakeRepo, r: RecordedRequest, rest: str
) -> tuple[int, Any]:
    m = re.fullmatch(r"/commits/([0-9a-f]+)/reports/([^/]+)(/annotations)?", rest)
    if not m or len(m[1]) != 40:
        raise ApiError(400, "The commit ID must be a full 40 character commit hash.")
    commit, key = _commit(repo, m[1]).id, unquote(m[2])
    where = (commit, key)
    if m[3] is None:
        if r.method == "PUT":
            body = r.body if isinstance(r.body, dict) else {}
            if not body.get("title") or "data" not in body:
                raise ApiError(400, "A report requires a title and data.")
            if len(body["data"]) > 6:
                raise ApiError(400, "A report may contain at most 6 data fields.")
            if body.get("result") not in (None, "PASS", "FAIL"):
                raise ApiError(400, "The result must be PASS or FAIL.")
            report = {"key": key, "createdDate": int(time.time() * 1000), **body}
            repo.reports[where] = report
            return 200, report
        if r.method == "GET":
            if where not in repo.reports:
                raise ApiError(404, f"No report '{key}' for commit {commit}.")
            return 200, repo.reports[where]
        if r.method == "DELETE":
            if where not in repo.reports:
                raise ApiError(404, f"No report '{key}' for commit {commit}.")
            del repo.reports[where]
            repo.annotations.pop(where, None)
            return 204, None
        raise ApiError(405, "Method not allowed")
    if where not in repo.reports:
        raise ApiError(404, f"No report '{key}' for commit {commit}.")
    stored = repo.annotations.setdefault(where, [])
    if r.method == "DELETE":
        ids = r.query.get("externalId")
        stored[:] = [a for a in stored if ids and a.get("externalId") not in ids]
        return 204, None
    if r.method == "GET":
        return 200, {"annotations": list(stored), "totalCount": len(stored)}
    if r.method != "POST":
        raise ApiError(405, "Method not allowed")
    items = (r.body or {}).get("annotations") if isinstance(r.body, dict) else None
    if not isinstance(items, list) or not items:
        raise ApiError(400, "At least one annotation is required.")
    for item in items:
        if not isinstance(item, dict) or not item.get("message") or not item.get("severity"):
            raise ApiError(400, "Each annotation requires a message and a severity.")
        if item["severity"] not in ("LOW", "MEDIUM", "HIGH"):
            raise ApiError(400, f"'{item['severity']}' is not a valid severity.")
    if len(stored) + len(items) > fake.max_annotations:
        raise ApiError(
            400,
            f"A report cannot have more than {fake.max_annotations} annotations.",
            "com.atlassian.bitbucket.codeinsights.annotation.AnnotationLimitExceededException",
        )
    stored.extend(dict(item) for item in items)  # no de-duplication, as Data Center
    return 204, None
