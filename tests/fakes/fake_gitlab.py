"""A stateful fake GitLab (REST API v4) on a real HTTP server, for tests and benchmarks.

Built from GitLab's public API documentation (docs/gitlab.md lists the pages) — there is no
official OpenAPI document for the parts used here; the shapes are also written down as small
JSON schemas in ``tests/fakes/gitlab_schemas.json`` that the tests validate requests and answers
against. It behaves as GitLab does where clients trip:

- offset pagination with ``x-page``, ``x-per-page``, ``x-next-page`` (empty on the last page),
  ``x-prev-page``, ``x-total``, ``x-total-pages`` and a ``Link`` header; ``per_page`` above 100
  is cut to 100;
- ``PRIVATE-TOKEN`` or ``Authorization: Bearer``; an unknown token is 401
  ``{"message": "401 Unauthorized"}``; a ``read_api`` token writing is 403
  ``{"error": "insufficient_scope", …, "scope": "api"}``;
- 429 from the rate limiter as plain text "Retry later" with ``RateLimit-Limit``,
  ``RateLimit-Observed``, ``RateLimit-Remaining``, ``RateLimit-Reset`` (a Unix time),
  ``RateLimit-ResetTime`` and ``Retry-After``; with ``throttle(limit, period)`` the
  authenticated API throttle itself: every answer carries those ``RateLimit-*`` headers (as
  GitLab.com documents for all API requests) and the request past ``limit`` in a period is
  that 429;
- commit statuses keep one pending/running status per name and ref, so posting ``running``
  twice is 400 ``Cannot transition status via :run from :running``; a finished status is never
  changed — the next post creates a new one;
- approving an MR the user approved already is 401 (GitLab's answer), unapproving one the user
  did not approve 404; only a note's author may edit it (403).

Usage::

    with FakeGitLab() as gl:
        project = gl.add_project("acme/api")
        mr = gl.add_mr(project, "ABC-1 Login", source="feature/ABC-1", commits=["ABC-1 form"])
        headers, body = gl.merge_request_hook(project, mr, action="open")
"""

from __future__ import annotations

import contextlib
import email.utils
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
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

from tests.fakes.loopback import LoopbackServer

TOKEN = "glpat-fake-project-access-token"
READ_ONLY_TOKEN = "glpat-fake-read-api-token"
WEBHOOK_SECRET = "fake-gitlab-webhook-secret"
BOT = {"id": 4242, "username": "project_7_bot_abc", "name": "jirahooks-bot"}
AUTHOR = {"id": 17, "username": "ada", "name": "Ada Tester"}
FINISHED = ("success", "failed", "canceled")
_EVENT = {"pending": "enqueue", "running": "run", "success": "success", "failed": "drop"}
_EVENT["canceled"] = "cancel"
# which event each state may take (GitLab's commit status state machine, simplified to the
# states an external status can be in)
_ALLOWED_FROM = {
    "enqueue": ("created",),
    "run": ("created", "pending"),
    "success": ("created", "pending", "running"),
    "drop": ("created", "pending", "running"),
    "cancel": ("created", "pending", "running"),
}


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def user_json(user: dict[str, Any], origin: str) -> dict[str, Any]:
    return {
        **user,
        "state": "active",
        "locked": False,
        "avatar_url": None,
        "web_url": f"{origin}/{user['username']}",
    }


@dataclass
class FakeCommit:
    id: str
    message: str
    author_name: str = "Ada Tester"
    author_email: str = "ada@example.com"
    parent_ids: list[str] = field(default_factory=list)
    date: str = field(default_factory=now_iso)


@dataclass
class FakeMergeRequest:
    id: int
    iid: int
    title: str
    description: str
    source: str
    target: str
    commits: list[str]  # full hashes, oldest first
    state: str = "opened"
    author: dict[str, Any] = field(default_factory=lambda: dict(AUTHOR))
    approved_by: list[int] = field(default_factory=list)
    notes: list[dict[str, Any]] = field(default_factory=list)
    check_responses: list[dict[str, Any]] = field(default_factory=list)

    @property
    def sha(self) -> str:
        return self.commits[-1]


@dataclass
class FakeProject:
    id: int
    path_with_namespace: str
    commits: dict[str, FakeCommit] = field(default_factory=dict)
    mrs: dict[int, FakeMergeRequest] = field(default_factory=dict)
    statuses: list[dict[str, Any]] = field(default_factory=list)
    status_checks: dict[int, str] = field(default_factory=dict)  # id → name (Ultimate)

    @property
    def name(self) -> str:
        return self.path_with_namespace.rsplit("/", 1)[-1]

    @property
    def namespace(self) -> str:
        return self.path_with_namespace.rsplit("/", 1)[0]


@dataclass
class Fault:
    status: int
    body: Any
    headers: dict[str, str]
    path: str = ""
    method: str = ""
    times: int = 1


@dataclass
class RecordedRequest:
    method: str
    path: str  # under /api/v4, as sent (a project path's slashes stay %2F)
    query: dict[str, list[str]]
    body: Any
    headers: dict[str, str]
    status: int = 0
    response: Any = None


class ApiError(Exception):
    def __init__(self, status: int, body: Any) -> None:
        super().__init__(str(body))
        self.status = status
        self.body = body


def message(status: int, text: str) -> ApiError:
    return ApiError(status, {"message": text})


class FakeGitLab:
    """The fake; ``url`` is what a client uses as its base URL (the API root is
    ``url + "/api/v4"``)."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.projects: dict[int, FakeProject] = {}
        self.tokens: dict[str, tuple[dict[str, Any], tuple[str, ...]]] = {
            TOKEN: (BOT, ("api",)),
            READ_ONLY_TOKEN: (BOT, ("read_api",)),
        }
        self.requests: list[RecordedRequest] = []
        self.faults: list[Fault] = []
        self._ids = itertools.count(1)
        self._server: LoopbackServer | None = None
        # the authenticated API throttle (``throttle``): limit, period seconds, period start,
        # requests observed in it
        self.throttled: tuple[int, int] | None = None
        self._period_start = 0.0
        self._observed = 0

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> FakeGitLab:
        fake = self

        class Handler(_Handler):
            pass

        Handler.fake = fake
        self._server = LoopbackServer(Handler).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()

    def __enter__(self) -> FakeGitLab:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None, "start() first"
        return f"http://127.0.0.1:{self._server.port}"

    # -- state ----------------------------------------------------------------------------

    def add_project(self, path_with_namespace: str) -> FakeProject:
        with self.lock:
            project = FakeProject(next(self._ids), path_with_namespace)
            self.projects[project.id] = project
            return project

    def add_commit(
        self, project: FakeProject, message: str, parents: list[str] | None = None
    ) -> FakeCommit:
        with self.lock:
            seed = f"{project.id}:{len(project.commits)}:{message}:{time.time_ns()}"
            commit = FakeCommit(hashlib.sha1(seed.encode()).hexdigest(), message)
            commit.parent_ids = list(parents or [])
            project.commits[commit.id] = commit
            return commit

    def add_mr(
        self,
        project: FakeProject,
        title: str,
        *,
        source: str = "feature/ABC-1",
        target: str = "main",
        description: str = "",
        commits: list[str] | None = None,
    ) -> FakeMergeRequest:
        with self.lock:
            hashes: list[str] = []
            for text in commits or [title]:
                hashes.append(self.add_commit(project, text, hashes[-1:]).id)
            iid = len(project.mrs) + 1
            mr = FakeMergeRequest(next(self._ids), iid, title, description, source, target, hashes)
            project.mrs[iid] = mr
            return mr

    def push(self, project: FakeProject, mr: FakeMergeRequest, message: str) -> str:
        with self.lock:
            commit = self.add_commit(project, message, [mr.sha])
            mr.commits.append(commit.id)
            return commit.id

    def fail(
        self,
        status: int,
        *,
        path: str = "",
        method: str = "",
        times: int = 1,
        retry_after: str | None = None,
        body: Any = None,
    ) -> None:
        """The next ``times`` requests (matching ``path`` substring / ``method``) answer
        ``status``; a 429 comes as GitLab's rate limiter sends it."""
        headers: dict[str, str] = {}
        if status == 429:
            reset = int(time.time()) + int(float(retry_after or "60"))
            headers = {
                "RateLimit-Name": "throttle_authenticated_api",
                "RateLimit-Limit": "60",
                "RateLimit-Observed": "61",
                "RateLimit-Remaining": "0",
                "RateLimit-Reset": str(reset),
                "RateLimit-ResetTime": email.utils.formatdate(reset, usegmt=True),
            }
            body = "Retry later\n" if body is None else body
        if retry_after is not None:
            headers["Retry-After"] = retry_after
        if body is None:
            body = {"message": f"{status} Fake failure"}
        with self.lock:
            self.faults.append(Fault(status, body, headers, path, method, times))

    def throttle(self, limit: int, period: int = 60) -> None:
        """GitLab's authenticated API rate limit: ``limit`` requests per ``period`` seconds,
        announced on every answer (``RateLimit-*``), a 429 with ``Retry-After`` past it."""
        with self.lock:
            self.throttled = (limit, period)
            self._period_start, self._observed = time.time(), 0

    def throttle_answer(self) -> tuple[dict[str, str], bool]:
        """The ``RateLimit-*`` headers of this request, and whether it is over the limit."""
        with self.lock:
            if self.throttled is None:
                return {}, False
            limit, period = self.throttled
            now = time.time()
            if now >= self._period_start + period:
                self._period_start, self._observed = now, 0
            self._observed += 1
            reset = int(self._period_start + period)
            headers = {
                "RateLimit-Name": "throttle_authenticated_api",
                "RateLimit-Limit": str(limit),
                "RateLimit-Observed": str(self._observed),
                "RateLimit-Remaining": str(max(0, limit - self._observed)),
                "RateLimit-Reset": str(reset),
                "RateLimit-ResetTime": email.utils.formatdate(reset, usegmt=True),
            }
            over = self._observed > limit
            if over:
                headers["Retry-After"] = str(max(1, reset - int(now)))
            return headers, over

    def take_fault(self, method: str, path: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if (not fault.path or fault.path in path) and (
                    not fault.method or fault.method == method
                ):
                    fault.times -= 1
                    if fault.times <= 0:
                        self.faults.remove(fault)
                    return fault
        return None

    def count(self, path: str = "", *, method: str = "") -> int:
        with self.lock:
            return sum(
                1
                for r in self.requests
                if (not path or path in r.path) and (not method or r.method == method)
            )

    def requests_to(self, path: str, *, method: str = "") -> list[RecordedRequest]:
        with self.lock:
            return [
                r for r in self.requests if path in r.path and (not method or r.method == method)
            ]

    def statuses(self, project: FakeProject, sha: str, name: str = "") -> list[dict[str, Any]]:
        with self.lock:
            return [
                s for s in project.statuses if s["sha"] == sha and (not name or s["name"] == name)
            ]

    # -- JSON shapes (as GitLab's API docs show them) -------------------------------------

    def project_json(self, project: FakeProject) -> dict[str, Any]:
        web = f"{self.url}/{project.path_with_namespace}"
        return {
            "id": project.id,
            "name": project.name,
            "description": "",
            "web_url": web,
            "avatar_url": None,
            "git_ssh_url": f"git@127.0.0.1:{project.path_with_namespace}.git",
            "git_http_url": f"{web}.git",
            "namespace": project.namespace,
            "visibility_level": 0,
            "path_with_namespace": project.path_with_namespace,
            "default_branch": "main",
            "ci_config_path": None,
            "homepage": web,
            "url": f"git@127.0.0.1:{project.path_with_namespace}.git",
            "ssh_url": f"git@127.0.0.1:{project.path_with_namespace}.git",
            "http_url": f"{web}.git",
        }

    def commit_json(self, project: FakeProject, commit: FakeCommit) -> dict[str, Any]:
        title = commit.message.split("\n", 1)[0]
        return {
            "id": commit.id,
            "short_id": commit.id[:8],
            "created_at": commit.date,
            "parent_ids": list(commit.parent_ids),
            "title": title,
            "message": commit.message,
            "author_name": commit.author_name,
            "author_email": commit.author_email,
            "authored_date": commit.date,
            "committer_name": commit.author_name,
            "committer_email": commit.author_email,
            "committed_date": commit.date,
            "trailers": {},
            "extended_trailers": {},
            "web_url": f"{self.url}/{project.path_with_namespace}/-/commit/{commit.id}",
        }

    def mr_json(self, project: FakeProject, mr: FakeMergeRequest) -> dict[str, Any]:
        path = project.path_with_namespace
        return {
            "id": mr.id,
            "iid": mr.iid,
            "project_id": project.id,
            "title": mr.title,
            "description": mr.description,
            "state": mr.state,
            "created_at": now_iso(),
            "updated_at": now_iso(),
            "merged_by": None,
            "merged_at": None,
            "closed_by": None,
            "closed_at": None,
            "target_branch": mr.target,
            "source_branch": mr.source,
            "user_notes_count": len(mr.notes),
            "upvotes": 0,
            "downvotes": 0,
            "author": user_json(mr.author, self.url),
            "assignees": [],
            "reviewers": [],
            "source_project_id": project.id,
            "target_project_id": project.id,
            "labels": [],
            "draft": mr.title.startswith("Draft:"),
            "work_in_progress": mr.title.startswith("Draft:"),
            "milestone": None,
            "merge_when_pipeline_succeeds": False,
            "merge_status": "can_be_merged",
            "detailed_merge_status": "mergeable",
            "sha": mr.sha,
            "merge_commit_sha": None,
            "squash_commit_sha": None,
            "discussion_locked": None,
            "should_remove_source_branch": None,
            "force_remove_source_branch": False,
            "reference": f"!{mr.iid}",
            "references": {
                "short": f"!{mr.iid}",
                "relative": f"!{mr.iid}",
                "full": f"{path}!{mr.iid}",
            },
            "web_url": f"{self.url}/{path}/-/merge_requests/{mr.iid}",
            "squash": False,
            "has_conflicts": False,
            "blocking_discussions_resolved": True,
        }

    def approvals_json(self, project: FakeProject, mr: FakeMergeRequest, me: int) -> dict[str, Any]:
        return {
            "id": mr.id,
            "iid": mr.iid,
            "project_id": project.id,
            "title": mr.title,
            "description": mr.description,
            "state": mr.state,
            "created_at": now_iso(),
            "updated_at": now_iso(),
            "merge_status": "can_be_merged",
            "approved": bool(mr.approved_by),
            "approvals_required": 0,
            "approvals_left": 0,
            "approved_by": [
                {"user": user_json(BOT if uid == BOT["id"] else AUTHOR, self.url)}
                for uid in mr.approved_by
            ],
            "user_has_approved": me in mr.approved_by,
            "user_can_approve": me not in mr.approved_by,
        }

    # -- webhook deliveries (shaped from the docs' examples) ------------------------------

    def hook_headers(self, event: str, *, token: str = WEBHOOK_SECRET) -> dict[str, str]:
        uuid = hashlib.md5(f"{event}{time.time_ns()}".encode()).hexdigest()
        uid = f"{uuid[:8]}-{uuid[8:12]}-{uuid[12:16]}-{uuid[16:20]}-{uuid[20:]}"
        return {
            "Content-Type": "application/json",
            "User-Agent": "GitLab/17.6.0",
            "X-Gitlab-Event": event,
            "X-Gitlab-Token": token,
            "X-Gitlab-Instance": self.url,
            "X-Gitlab-Webhook-UUID": uid,
            "X-Gitlab-Event-UUID": uid[::-1],
            "Idempotency-Key": uid,
        }

    def merge_request_hook(
        self,
        project: FakeProject,
        mr: FakeMergeRequest,
        *,
        action: str = "open",
        oldrev: str | None = None,
        changes: dict[str, Any] | None = None,
        actor: dict[str, Any] | None = None,
    ) -> tuple[dict[str, str], bytes]:
        head = project.commits[mr.sha]
        user = {**(actor or mr.author), "avatar_url": None, "email": "[REDACTED]"}
        attributes: dict[str, Any] = {
            "id": mr.id,
            "iid": mr.iid,
            "target_branch": mr.target,
            "source_branch": mr.source,
            "source_project_id": project.id,
            "target_project_id": project.id,
            "author_id": mr.author["id"],
            "assignee_ids": [],
            "title": mr.title,
            "description": mr.description,
            "created_at": "2025-01-02 03:04:05 UTC",
            "updated_at": "2025-01-02 03:04:06 UTC",
            "state": mr.state,
            "merge_status": "unchecked",
            "draft": False,
            "url": f"{self.url}/{project.path_with_namespace}/-/merge_requests/{mr.iid}",
            "last_commit": {
                "id": head.id,
                "message": head.message,
                "title": head.message.split("\n", 1)[0],
                "timestamp": head.date,
                "url": f"{self.url}/{project.path_with_namespace}/-/commit/{head.id}",
                "author": {"name": head.author_name, "email": head.author_email},
            },
            "work_in_progress": False,
            "action": action,
            "detailed_merge_status": "not_open" if mr.state != "opened" else "mergeable",
        }
        if oldrev:
            attributes["oldrev"] = oldrev
        payload = {
            "object_kind": "merge_request",
            "event_type": "merge_request",
            "user": user,
            "project": self.project_json(project),
            "object_attributes": attributes,
            "labels": [],
            "changes": changes if changes is not None else {},
            "repository": {
                "name": project.name,
                "url": f"git@127.0.0.1:{project.path_with_namespace}.git",
                "description": "",
                "homepage": f"{self.url}/{project.path_with_namespace}",
            },
        }
        return self.hook_headers("Merge Request Hook"), json.dumps(payload).encode()

    def push_hook(
        self,
        project: FakeProject,
        branch: str,
        commits: list[str],
        *,
        before: str = "0" * 40,
        after: str | None = None,
        ref: str | None = None,
    ) -> tuple[dict[str, str], bytes]:
        listed = commits[-20:]  # GitLab lists at most 20 commits
        after = after if after is not None else (commits[-1] if commits else "0" * 40)
        payload = {
            "object_kind": "push",
            "event_name": "push",
            "before": before,
            "after": after,
            "ref": ref or f"refs/heads/{branch}",
            "ref_protected": False,
            "checkout_sha": None if after == "0" * 40 else after,
            "user_id": AUTHOR["id"],
            "user_name": AUTHOR["name"],
            "user_username": AUTHOR["username"],
            "user_email": "",
            "user_avatar": None,
            "project_id": project.id,
            "project": self.project_json(project),
            "commits": [
                {
                    "id": c,
                    "message": project.commits[c].message,
                    "title": project.commits[c].message.split("\n", 1)[0],
                    "timestamp": project.commits[c].date,
                    "url": f"{self.url}/{project.path_with_namespace}/-/commit/{c}",
                    "author": {
                        "name": project.commits[c].author_name,
                        "email": project.commits[c].author_email,
                    },
                    "added": [],
                    "modified": ["README.md"],
                    "removed": [],
                }
                for c in listed
            ],
            "total_commits_count": len(commits),
            "repository": {
                "name": project.name,
                "homepage": f"{self.url}/{project.path_with_namespace}",
            },
        }
        return self.hook_headers("Push Hook"), json.dumps(payload).encode()

    def note_hook(
        self,
        project: FakeProject,
        mr: FakeMergeRequest,
        note: str,
        *,
        noteable_type: str = "MergeRequest",
        action: str = "create",
    ) -> tuple[dict[str, str], bytes]:
        _, mr_body = self.merge_request_hook(project, mr)
        mr_attributes = json.loads(mr_body)["object_attributes"]
        mr_attributes.pop("action", None)
        payload = {
            "object_kind": "note",
            "event_type": "note",
            "user": {**AUTHOR, "avatar_url": None, "email": "[REDACTED]"},
            "project_id": project.id,
            "project": self.project_json(project),
            "repository": {"name": project.name},
            "object_attributes": {
                "id": next(self._ids),
                "note": note,
                "noteable_type": noteable_type,
                "author_id": AUTHOR["id"],
                "created_at": "2025-01-02 03:04:05 UTC",
                "updated_at": "2025-01-02 03:04:05 UTC",
                "project_id": project.id,
                "noteable_id": mr.id,
                "system": False,
                "action": action,
                "url": f"{mr_attributes['url']}#note_1",
            },
            "merge_request": mr_attributes,
        }
        return self.hook_headers("Note Hook"), json.dumps(payload).encode()

    # -- pagination -----------------------------------------------------------------------

    def page(self, items: list[Any], r: RecordedRequest) -> tuple[list[Any], dict[str, str]]:
        try:
            per_page = max(1, min(100, int(r.query.get("per_page", ["20"])[0])))
            page = max(1, int(r.query.get("page", ["1"])[0]))
        except ValueError:
            per_page, page = 20, 1
        total_pages = max(1, -(-len(items) // per_page))
        chunk = items[(page - 1) * per_page : page * per_page]

        def link(n: int) -> str:
            query = {k: v[0] for k, v in r.query.items()}
            query.update(page=str(n), per_page=str(per_page))
            return f"<{self.url}/api/v4{r.path}?{urlencode(query)}>"

        links = [f'{link(page + 1)}; rel="next"'] if page < total_pages else []
        if page > 1:
            links.append(f'{link(page - 1)}; rel="prev"')
        links += [f'{link(1)}; rel="first"', f'{link(total_pages)}; rel="last"']
        headers = {
            "x-page": str(page),
            "x-per-page": str(per_page),
            "x-next-page": str(page + 1) if page < total_pages else "",
            "x-prev-page": str(page - 1) if page > 1 else "",
            "x-total": str(len(items)),
            "x-total-pages": str(total_pages),
            "Link": ", ".join(links),
        }
        return chunk, headers


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 30
    fake: FakeGitLab

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
            body = {k: v[0] for k, v in parse_qs(raw.decode("utf-8", "replace")).items()}
        raw_path = split.path.removeprefix("/api/v4")
        record = RecordedRequest(
            self.command,
            raw_path,
            parse_qs(split.query, keep_blank_values=True),
            body,
            {k.lower(): v for k, v in self.headers.items()},
        )
        with fake.lock:
            fake.requests.append(record)
        headers: dict[str, str] = {}
        payload: Any
        fault = fake.take_fault(self.command, unquote(raw_path))
        limits, over = fake.throttle_answer()
        if fault is not None:
            status, payload, headers = fault.status, fault.body, dict(fault.headers)
        elif over:
            status, payload, headers = 429, "Retry later\n", {}
        else:
            try:
                user, scopes = _authenticate(fake, record.headers)
                if self.command != "GET" and "api" not in scopes:
                    raise ApiError(
                        403,
                        {
                            "error": "insufficient_scope",
                            "error_description": "The request requires higher privileges than "
                            "provided by the access token.",
                            "scope": "api",
                        },
                    )
                status, payload, headers = _route(fake, record, user)
            except ApiError as exc:
                status, payload = exc.status, exc.body
        headers = {**limits, **headers}
        record.status = status
        record.response = payload
        if isinstance(payload, str):
            data = payload.encode()
            content_type = "text/plain; charset=utf-8"
        else:
            data = b"" if payload is None else json.dumps(payload).encode()
            content_type = "application/json"
        self.send_response(status)
        if data:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = _handle


def _authenticate(
    fake: FakeGitLab, headers: dict[str, str]
) -> tuple[dict[str, Any], tuple[str, ...]]:
    token = headers.get("private-token", "")
    bearer = headers.get("authorization", "")
    if not token and bearer.lower().startswith("bearer "):
        token = bearer[7:].strip()
    found = fake.tokens.get(token)
    if found is None:
        raise message(401, "401 Unauthorized")
    return found


_ROUTES: list[tuple[str, re.Pattern[str], str]] = [
    ("GET", re.compile(r"^/user$"), "get_user"),
    ("GET", re.compile(r"^/projects/([^/]+)/merge_requests$"), "list_mrs"),
    ("GET", re.compile(r"^/projects/([^/]+)/merge_requests/(\d+)$"), "get_mr"),
    ("GET", re.compile(r"^/projects/([^/]+)/merge_requests/(\d+)/commits$"), "mr_commits"),
    ("GET", re.compile(r"^/projects/([^/]+)/merge_requests/(\d+)/notes$"), "list_notes"),
    ("POST", re.compile(r"^/projects/([^/]+)/merge_requests/(\d+)/notes$"), "create_note"),
    ("PUT", re.compile(r"^/projects/([^/]+)/merge_requests/(\d+)/notes/(\d+)$"), "update_note"),
    ("GET", re.compile(r"^/projects/([^/]+)/merge_requests/(\d+)/approvals$"), "approvals"),
    ("POST", re.compile(r"^/projects/([^/]+)/merge_requests/(\d+)/approve$"), "approve"),
    ("POST", re.compile(r"^/projects/([^/]+)/merge_requests/(\d+)/unapprove$"), "unapprove"),
    (
        "POST",
        re.compile(r"^/projects/([^/]+)/merge_requests/(\d+)/status_check_responses$"),
        "status_check_response",
    ),
    ("GET", re.compile(r"^/projects/([^/]+)/external_status_checks$"), "status_checks"),
    ("GET", re.compile(r"^/projects/([^/]+)/repository/commits/([^/]+)$"), "get_commit"),
    (
        "GET",
        re.compile(r"^/projects/([^/]+)/repository/commits/([^/]+)/merge_requests$"),
        "commit_mrs",
    ),
    (
        "GET",
        re.compile(r"^/projects/([^/]+)/repository/commits/([^/]+)/statuses$"),
        "list_statuses",
    ),
    ("POST", re.compile(r"^/projects/([^/]+)/statuses/([^/]+)$"), "post_status"),
]

Answer = tuple[int, Any, dict[str, str]]


def _route(fake: FakeGitLab, r: RecordedRequest, user: dict[str, Any]) -> Answer:
    for method, pattern, name in _ROUTES:
        match = pattern.match(r.path)
        if match and method == r.method:
            args = [unquote(g) for g in match.groups()]
            with fake.lock:
                project = _project(fake, args[0]) if args and name != "get_user" else None
                handler = globals()["_" + name]
                return handler(fake, r, user, project, *args[1:])  # type: ignore[no-any-return]
    raise message(404, "404 Not Found")


def _project(fake: FakeGitLab, ref: str) -> FakeProject:
    for project in fake.projects.values():
        if ref == str(project.id) or ref == project.path_with_namespace:
            return project
    raise message(404, "404 Project Not Found")


def _mr(project: FakeProject, iid: str) -> FakeMergeRequest:
    mr = project.mrs.get(int(iid))
    if mr is None:
        raise message(404, "404 Not found")
    return mr


def _commit(project: FakeProject, ref: str) -> FakeCommit:
    found = [c for h, c in project.commits.items() if h.startswith(ref)] if len(ref) >= 4 else []
    if len(found) != 1:
        raise message(404, "404 Commit Not Found")
    return found[0]


def _paged(fake: FakeGitLab, r: RecordedRequest, items: list[Any]) -> Answer:
    chunk, headers = fake.page(items, r)
    return 200, chunk, headers


def _get_user(fake: FakeGitLab, r: RecordedRequest, user: dict[str, Any], _: Any) -> Answer:
    return 200, {**user_json(user, fake.url), "bot": True}, {}


def _list_mrs(fake: FakeGitLab, r: RecordedRequest, user: Any, project: FakeProject) -> Answer:
    state = r.query.get("state", ["all"])[0]
    source = r.query.get("source_branch", [""])[0]
    items = [
        fake.mr_json(project, mr)
        for mr in sorted(project.mrs.values(), key=lambda m: -m.iid)
        if state in ("all", mr.state) and (not source or mr.source == source)
    ]
    return _paged(fake, r, items)


def _get_mr(
    fake: FakeGitLab, r: RecordedRequest, user: Any, project: FakeProject, iid: str
) -> Answer:
    mr = _mr(project, iid)
    data = fake.mr_json(project, mr)
    base = project.commits[mr.commits[0]].parent_ids[:1] or [mr.commits[0]]
    data["diff_refs"] = {"base_sha": base[0], "head_sha": mr.sha, "start_sha": base[0]}
    return 200, data, {}


def _mr_commits(
    fake: FakeGitLab, r: RecordedRequest, user: Any, project: FakeProject, iid: str
) -> Answer:
    mr = _mr(project, iid)
    # newest first, as ``git log`` (and GitLab) list them
    items = [fake.commit_json(project, project.commits[h]) for h in reversed(mr.commits)]
    return _paged(fake, r, items)


def _note_json(
    project: FakeProject, mr: FakeMergeRequest, note: dict[str, Any], origin: str
) -> dict[str, Any]:
    return {
        "id": note["id"],
        "type": None,
        "body": note["body"],
        "attachment": None,
        "author": user_json(note["author"], origin),
        "created_at": note["created_at"],
        "updated_at": note["updated_at"],
        "system": note.get("system", False),
        "noteable_id": mr.id,
        "noteable_type": "MergeRequest",
        "project_id": project.id,
        "resolvable": False,
        "confidential": False,
        "internal": False,
        "noteable_iid": mr.iid,
    }


def _list_notes(
    fake: FakeGitLab, r: RecordedRequest, user: Any, project: FakeProject, iid: str
) -> Answer:
    mr = _mr(project, iid)
    notes = list(mr.notes)
    if r.query.get("sort", ["desc"])[0] != "asc":
        notes.reverse()
    return _paged(fake, r, [_note_json(project, mr, n, fake.url) for n in notes])


def _note_text(r: RecordedRequest) -> str:
    body = r.body if isinstance(r.body, dict) else {}
    text = body.get("body")
    if not isinstance(text, str) or not text:
        raise ApiError(400, {"error": "body is missing"})
    if len(text) > 1_000_000:
        raise ApiError(400, {"message": {"note": ["is too long (maximum is 1000000 characters)"]}})
    return text


def _create_note(
    fake: FakeGitLab, r: RecordedRequest, user: dict[str, Any], project: FakeProject, iid: str
) -> Answer:
    mr = _mr(project, iid)
    text = _note_text(r)
    note = {
        "id": next(fake._ids),
        "body": text,
        "author": dict(user),
        "created_at": now_iso(),
        "updated_at": now_iso(),
    }
    mr.notes.append(note)
    return 201, _note_json(project, mr, note, fake.url), {}


def _update_note(
    fake: FakeGitLab,
    r: RecordedRequest,
    user: dict[str, Any],
    project: FakeProject,
    iid: str,
    note_id: str,
) -> Answer:
    mr = _mr(project, iid)
    for note in mr.notes:
        if str(note["id"]) == note_id:
            if note["author"]["id"] != user["id"]:
                raise message(403, "403 Forbidden")
            note["body"] = _note_text(r)
            note["updated_at"] = now_iso()
            return 200, _note_json(project, mr, note, fake.url), {}
    raise message(404, "404 Note Not Found")


def _approvals(
    fake: FakeGitLab, r: RecordedRequest, user: dict[str, Any], project: FakeProject, iid: str
) -> Answer:
    return 200, fake.approvals_json(project, _mr(project, iid), user["id"]), {}


def _approve(
    fake: FakeGitLab, r: RecordedRequest, user: dict[str, Any], project: FakeProject, iid: str
) -> Answer:
    mr = _mr(project, iid)
    sha = (r.body or {}).get("sha") if isinstance(r.body, dict) else None
    if sha and sha != mr.sha:
        raise message(409, "SHA does not match HEAD of source branch")
    if user["id"] in mr.approved_by:
        raise message(401, "401 Unauthorized")  # what GitLab answers to a second approval
    mr.approved_by.append(user["id"])
    return 201, fake.approvals_json(project, mr, user["id"]), {}


def _unapprove(
    fake: FakeGitLab, r: RecordedRequest, user: dict[str, Any], project: FakeProject, iid: str
) -> Answer:
    mr = _mr(project, iid)
    if user["id"] not in mr.approved_by:
        raise message(404, "404 Not Found")
    mr.approved_by.remove(user["id"])
    return 201, fake.approvals_json(project, mr, user["id"]), {}


def _status_checks(fake: FakeGitLab, r: RecordedRequest, user: Any, project: FakeProject) -> Answer:
    """``GET /projects/:id/external_status_checks`` (Ultimate): the project's checks."""
    return _paged(
        fake,
        r,
        [
            {
                "id": check,
                "name": name,
                "project_id": project.id,
                "external_url": "https://jirahooks.example.com/gitlab/status-check",
                "hmac": False,
                "protected_branches": [],
            }
            for check, name in sorted(project.status_checks.items())
        ],
    )


def _status_check_response(
    fake: FakeGitLab, r: RecordedRequest, user: Any, project: FakeProject, iid: str
) -> Answer:
    mr = _mr(project, iid)
    body = r.body if isinstance(r.body, dict) else {}
    check = body.get("external_status_check_id")
    if body.get("sha") != mr.sha:
        raise ApiError(409, {"message": "SHA does not match HEAD of source branch"})
    if not isinstance(check, int) or check not in project.status_checks:
        raise message(404, "404 Not found")
    if body.get("status") not in ("passed", "failed", "pending"):
        raise ApiError(400, {"error": "status does not have a valid value"})
    response = {"id": next(fake._ids), "sha": mr.sha, "status": body["status"], "check": check}
    mr.check_responses.append(response)
    return (
        201,
        {
            "id": response["id"],
            "merge_request": {k: v for k, v in fake.mr_json(project, mr).items() if k in _MR_BRIEF},
            "external_status_check": {
                "id": check,
                "name": project.status_checks[check],
                "project_id": project.id,
                "external_url": "https://jirahooks.example.com/gitlab/status-check",
                "protected_branches": [],
            },
        },
        {},
    )


_MR_BRIEF = ("id", "iid", "project_id", "title", "description", "state", "created_at", "author")


def _get_commit(
    fake: FakeGitLab, r: RecordedRequest, user: Any, project: FakeProject, sha: str
) -> Answer:
    return 200, fake.commit_json(project, _commit(project, sha)), {}


def _commit_mrs(
    fake: FakeGitLab, r: RecordedRequest, user: Any, project: FakeProject, sha: str
) -> Answer:
    commit = _commit(project, sha)
    items = [fake.mr_json(project, mr) for mr in project.mrs.values() if commit.id in mr.commits]
    return _paged(fake, r, items)


def _list_statuses(
    fake: FakeGitLab, r: RecordedRequest, user: Any, project: FakeProject, sha: str
) -> Answer:
    commit = _commit(project, sha)
    return _paged(fake, r, [dict(s) for s in project.statuses if s["sha"] == commit.id])


def _post_status(
    fake: FakeGitLab, r: RecordedRequest, user: dict[str, Any], project: FakeProject, sha: str
) -> Answer:
    body = r.body if isinstance(r.body, dict) else {}
    state = body.get("state")
    if state not in _EVENT:
        raise ApiError(400, {"error": "state does not have a valid value"})
    commit = _commit(project, sha)
    if len(sha) != 40:
        raise message(404, "404 Commit Not Found")
    name = str(body.get("name") or body.get("context") or "default")
    ref = str(body.get("ref") or "main")
    description = body.get("description")
    if isinstance(description, str) and len(description) > 255:
        raise ApiError(
            400, {"message": {"description": ["is too long (maximum is 255 characters)"]}}
        )
    target_url = body.get("target_url")
    if target_url and (
        not isinstance(target_url, str)
        or not re.match(r"^https?://[^\s/]+", target_url)
        or len(target_url) > 255
    ):
        raise ApiError(
            400, {"message": {"target_url": ["is blocked: Only allowed schemes are http, https"]}}
        )
    event = _EVENT[state]
    current = next(
        (
            s
            for s in reversed(project.statuses)
            if s["sha"] == commit.id
            and s["name"] == name
            and s["ref"] == ref
            and s["status"] in ("pending", "running")
        ),
        None,
    )
    if current is not None and current["status"] not in _ALLOWED_FROM[event]:
        raise message(
            400,
            f"Cannot transition status via :{event} from :{current['status']} "
            f'(Reason(s): Status cannot transition via "{event}")',
        )
    status = current
    if status is None:
        status = {
            "id": next(fake._ids),
            "sha": commit.id,
            "ref": ref,
            "name": name,
            "created_at": now_iso(),
            "started_at": None,
            "finished_at": None,
            "allow_failure": False,
            "coverage": None,
            "pipeline_id": 1000 + project.id,
            "author": user_json(user, fake.url),
        }
        project.statuses.append(status)
    status.update(
        status=state,
        target_url=target_url if isinstance(target_url, str) else status.get("target_url"),
        description=description if isinstance(description, str) else status.get("description"),
    )
    if state == "running":
        status["started_at"] = now_iso()
    if state in FINISHED:
        status["finished_at"] = now_iso()
    return 201, dict(status), {}
