"""Bitbucket Cloud: webhook payloads in, PR details and commits fetched, results published.

Lenient by design (docs/external-apis.md): real payloads differ from the OpenAPI document.

- ``source.commit.hash`` is a 12-character abbreviation in PR webhooks *and* in
  ``GET …/pullrequests/{id}``; the full head hash comes from the PR's commit list or
  ``GET …/commit/{short}``.
- The description is ``pullrequest.description`` (``""`` when empty; ``summary.raw`` as a
  fallback); ``repository.name`` is a display name — the slug comes from ``full_name``.
- Fields can be null and extra keys appear; accounts have no ``username``.
- A build status ``url`` whose host has no dot is rejected with 400 ("Enter a valid URL"), so
  such a URL is dropped with a warning instead of losing the status.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx

from jirahooks.event import Commit
from jirahooks.platforms.base import (
    BranchPush,
    BuildStatus,
    Delivery,
    DeliveryKind,
    OpenPullRequest,
    PlatformRequestError,
    PullRequestDetails,
    Report,
    ReviewVerdict,
    WebhookError,
    chunks,
    first_line,
)
from jirahooks.platforms.bitbucket_client import API_URL, BitbucketClient, BitbucketCredentials

log = logging.getLogger("jirahooks.platforms.bitbucket")

PLATFORM = "bitbucket-cloud"
PR_EVENTS = frozenset({"pullrequest:created", "pullrequest:updated"})
PR_CLOSED_EVENTS = frozenset({"pullrequest:fulfilled", "pullrequest:rejected"})
PUSH_EVENTS = frozenset({"repo:push"})
# a PR comment whose first line is "/jirahooks recheck" (any case) queues a forced evaluation;
# every other comment is ignored
COMMENT_EVENTS = frozenset({"pullrequest:comment_created"})
RECHECK_COMMAND = re.compile(r"\A\s*/jirahooks\s+recheck\b", re.IGNORECASE)
ACCEPTED_EVENTS = PR_EVENTS | PR_CLOSED_EVENTS | PUSH_EVENTS | COMMENT_EVENTS
ANNOTATIONS_PER_CALL = 100
_FULL_HASH = re.compile(r"^[0-9a-f]{40}$")


def status_url_problem(url: str) -> str | None:
    """Why Bitbucket would reject ``url`` as a build status link (None when it is fine)."""
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        return f"{url!r} is not an http(s) URL"
    if "." not in (parts.hostname or ""):
        return (
            f"Bitbucket rejects status links whose host has no dot ({parts.hostname!r}); "
            "set the server's public base URL to a fully qualified name"
        )
    return None


def bbql_string(value: str) -> str:
    """``value`` inside a double-quoted BBQL string (backslash and quote escaped)."""
    return value.replace("\\", "\\\\").replace('"', '\\"')


# -- lenient payload reading ------------------------------------------------------------------


def _obj(data: Any, *names: str) -> dict[str, Any]:
    """``data[names[0]][names[1]]…`` as a dict; ``{}`` for anything missing or not a dict."""
    for name in names:
        data = data.get(name) if isinstance(data, dict) else None
    return data if isinstance(data, dict) else {}


def _str(data: Any, *names: str) -> str:
    *path, last = names
    value = _obj(data, *path).get(last) if path else (data or {}).get(last)
    if value is None or isinstance(value, dict | list):
        return ""
    return str(value)


def _account(data: Any) -> str:
    return _str(data, "display_name") or _str(data, "nickname") or _str(data, "uuid")


def repository_slug(repository: Mapping[str, Any]) -> tuple[str, str]:
    """(workspace, slug) from ``full_name`` (``repository.name`` is a display name)."""
    full_name = _str(repository, "full_name")
    workspace = _str(repository, "workspace", "slug")
    if "/" in full_name:
        owner, slug = full_name.split("/", 1)
        return workspace or owner, slug
    return workspace, ""


def parse_author_raw(raw: str) -> tuple[str, str] | None:
    r"""git's ``Name <email>`` → (name, email); None when ``raw`` is not of that form.

    The same answers as ``re.match(r"^\s*(.*?)\s*<([^>]*)>\s*$", raw)`` (groups 1 and 2), in
    linear time: that regex was quadratic on a long run of spaces, and whoever writes a commit
    writes its author."""
    text = raw.rstrip()
    if not text.endswith(">"):
        return None
    close = len(text) - 1
    # the email holds no '>': it starts after the '>' before the last one, at the first '<'
    opening = text.find("<", text.rfind(">", 0, close) + 1, close)
    if opening < 0:
        return None
    name = text[:opening].strip()
    if "\n" in name:  # the regex's ``.`` does not match a newline
        return None
    return name, text[opening + 1 : close]


def commit_from(data: Mapping[str, Any]) -> Commit:
    author = _obj(data, "author")
    raw = _str(author, "raw")
    parsed = parse_author_raw(raw)
    name = _account(_obj(author, "user")) or (parsed[0] if parsed else raw)
    email = parsed[1] if parsed else ""
    parents = data.get("parents")
    parent_hashes = (
        tuple(_str(p, "hash") for p in parents if isinstance(p, dict))
        if isinstance(parents, list)
        else None
    )
    message = _str(data, "message") or _str(data, "summary", "raw")
    return Commit(
        hash=_str(data, "hash"),
        message=message,
        author_name=name,
        author_email=email,
        parents=parent_hashes,
        url=_str(data, "links", "html", "href") or None,
    )


def pr_description(pr: Mapping[str, Any]) -> str:
    value = pr.get("description")
    if isinstance(value, str):
        return value
    return _str(pr, "summary", "raw") or _str(pr, "rendered", "description", "raw")


def parse_delivery(headers: Mapping[str, str], body: bytes) -> Delivery:
    """A webhook delivery → :class:`Delivery` (pure; raises WebhookError on malformed JSON)."""
    lower = {k.lower(): v for k, v in headers.items()}
    event_key = lower.get("x-event-key", "").strip()
    try:
        attempt = int(lower.get("x-attempt-number") or 1)
    except ValueError:
        attempt = 1
    common: dict[str, Any] = {
        "platform": PLATFORM,
        "event_key": event_key,
        "hook_id": lower.get("x-hook-uuid", "").strip(),
        "request_id": lower.get("x-request-uuid", "").strip(),
        "attempt": attempt,
    }
    try:
        payload = json.loads(body)
    except ValueError as exc:
        raise WebhookError(
            "the webhook body is not JSON", hint="Bitbucket sends application/json"
        ) from exc
    if not isinstance(payload, dict):
        raise WebhookError("the webhook body is not a JSON object")
    if event_key not in ACCEPTED_EVENTS:
        return Delivery(kind=DeliveryKind.IGNORED, **common)
    if event_key in COMMENT_EVENTS and not is_recheck_command(
        _str(payload, "comment", "content", "raw")
    ):
        return Delivery(kind=DeliveryKind.IGNORED, **common)  # an ordinary comment
    repository = _obj(payload, "repository")
    workspace, slug = repository_slug(repository)
    if not slug:
        raise WebhookError(
            "the webhook payload has no repository.full_name",
            hint="is this a Bitbucket Cloud webhook?",
        )
    common.update(
        workspace=workspace,
        repository=slug,
        repository_uuid=_str(repository, "uuid"),
        actor=_account(_obj(payload, "actor")),
    )
    if event_key in PUSH_EVENTS:
        return Delivery(kind=DeliveryKind.PUSH, pushes=_pushes(payload), **common)
    pr = _obj(payload, "pullrequest")
    pr_id = _str(pr, "id")
    if not pr_id:
        raise WebhookError("the webhook payload has no pullrequest.id")
    if event_key in COMMENT_EVENTS:
        return Delivery(
            kind=DeliveryKind.RECHECK,
            pull_request_id=pr_id,
            head=_str(pr, "source", "commit", "hash"),
            source_branch=_str(pr, "source", "branch", "name"),
            state=_str(pr, "state"),
            **common,
        )
    kind = DeliveryKind.PULL_REQUEST if event_key in PR_EVENTS else DeliveryKind.PULL_REQUEST_CLOSED
    return Delivery(
        kind=kind,
        pull_request_id=pr_id,
        head=_str(pr, "source", "commit", "hash"),
        source_branch=_str(pr, "source", "branch", "name"),
        destination_branch=_str(pr, "destination", "branch", "name"),
        title=_str(pr, "title"),
        description=pr_description(pr),
        state=_str(pr, "state"),
        author=_account(_obj(pr, "author")),
        author_id=_str(pr, "author", "uuid"),
        url=_str(pr, "links", "html", "href"),
        **common,
    )


def is_recheck_command(comment: str) -> bool:
    """A comment whose first line starts with ``/jirahooks recheck``."""
    first_line = comment.strip().splitlines()[0] if comment.strip() else ""
    return bool(RECHECK_COMMAND.match(first_line))


def _pushes(payload: Mapping[str, Any]) -> tuple[BranchPush, ...]:
    changes = _obj(payload, "push").get("changes")
    out: list[BranchPush] = []
    for change in changes if isinstance(changes, list) else []:
        new = _obj(change, "new")
        if _str(new, "type") != "branch" or not _str(new, "name"):
            continue  # tags, and branch deletions (new is null)
        commits = change.get("commits")
        out.append(
            BranchPush(
                branch=_str(new, "name"),
                head=_str(new, "target", "hash"),
                commits=tuple(
                    commit_from(c) for c in (commits if isinstance(commits, list) else []) if c
                ),
                truncated=bool(change.get("truncated")),
            )
        )
    return tuple(out)


# -- the adapter ------------------------------------------------------------------------------


class BitbucketCloud:
    """The Bitbucket Cloud :class:`~jirahooks.platforms.base.PlatformAdapter` for one workspace."""

    platform = PLATFORM

    def __init__(
        self,
        workspace: str,
        credentials: BitbucketCredentials,
        *,
        base_url: str = API_URL,
        client: BitbucketClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.workspace = workspace
        self.client = client or BitbucketClient(
            workspace, credentials, base_url=base_url, transport=transport
        )

    def __repr__(self) -> str:
        return f"BitbucketCloud(workspace={self.workspace!r})"

    async def aclose(self) -> None:
        await self.client.aclose()

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> Delivery:
        return parse_delivery(headers, body)

    def _path(self, repository: str, suffix: str = "") -> str:
        return self.client.repo_path(repository, suffix)

    async def resolve_commit(self, repository: str, ref: str) -> str:
        """The full hash of an abbreviated one (``GET …/commit/{short}``)."""
        if _FULL_HASH.match(ref):
            return ref
        data = await self.client.request("GET", self._path(repository, f"/commit/{ref}"))
        full = _str(data, "hash")
        if not _FULL_HASH.match(full):
            raise PlatformRequestError(f"Bitbucket did not resolve commit {ref!r} to a full hash")
        return full

    async def _commits_newest_first(self, repository: str, pr_id: str) -> list[Commit]:
        return [
            commit_from(c)
            async for c in self.client.paginate(
                self._path(repository, f"/pullrequests/{pr_id}/commits")
            )
        ]

    async def fetch_pull_request(
        self, repository: str, pr_id: str, *, known: Delivery | None = None
    ) -> PullRequestDetails:
        """The PR and all its commits (oldest first), with the full head hash.

        With ``known`` — a ``pullrequest:created|updated`` delivery of this PR — the commit list
        is fetched first, and when its newest commit is the payload's head, the payload *is*
        the PR at that head (title, description, branches, author): ``GET …/pullrequests/{id}``
        is skipped, one request instead of two. Otherwise (the branch moved since the webhook
        was sent, or no payload) the PR is fetched, and the commit list is fetched again only
        if the PR's head is not the newest commit already fetched."""
        newest_first: list[Commit] | None = None
        if known is not None and known.head and known.pull_request_id == str(pr_id):
            newest_first = await self._commits_newest_first(repository, pr_id)
            if (
                newest_first
                and newest_first[0].hash.startswith(known.head)
                and (known.state or "OPEN") == "OPEN"
            ):
                return PullRequestDetails(
                    id=known.pull_request_id,
                    title=known.title,
                    description=known.description,
                    source_branch=known.source_branch,
                    destination_branch=known.destination_branch,
                    head=newest_first[0].hash,
                    state="OPEN",
                    author=known.author,
                    author_id=known.author_id,
                    url=known.url or None,
                    commits=tuple(reversed(newest_first)),
                )
        pr: Any = await self.client.request("GET", self._path(repository, f"/pullrequests/{pr_id}"))
        head = _str(pr, "source", "commit", "hash")
        if not (newest_first and head and newest_first[0].hash.startswith(head)):
            # Bitbucket lists PR commits newest first; the engine reads them oldest first.
            newest_first = await self._commits_newest_first(repository, pr_id)
        commits = tuple(reversed(newest_first))
        if head and not _FULL_HASH.match(head):
            found = [c.hash for c in newest_first if c.hash.startswith(head)]
            head = found[0] if found else await self.resolve_commit(repository, head)
        return PullRequestDetails(
            id=_str(pr, "id") or str(pr_id),
            title=_str(pr, "title"),
            description=pr_description(pr or {}),
            source_branch=_str(pr, "source", "branch", "name"),
            destination_branch=_str(pr, "destination", "branch", "name"),
            head=head,
            state=_str(pr, "state") or "OPEN",
            author=_account(_obj(pr, "author")),
            author_id=_str(pr, "author", "uuid"),
            url=_str(pr, "links", "html", "href") or None,
            commits=commits,
        )

    async def list_open_pull_requests(
        self, repository: str, *, source_branch: str = ""
    ) -> list[OpenPullRequest]:
        """``GET …/pullrequests?state=OPEN``; with ``source_branch`` filtered by Bitbucket
        (``q=source.branch.name="…"``, BBQL) and checked again here."""
        params: dict[str, Any] = {"state": "OPEN"}
        if source_branch:
            params["q"] = f'source.branch.name="{bbql_string(source_branch)}"'
        found = [
            OpenPullRequest(
                id=_str(pr, "id"),
                head=_str(pr, "source", "commit", "hash"),
                source_branch=_str(pr, "source", "branch", "name"),
            )
            async for pr in self.client.paginate(
                self._path(repository, "/pullrequests"), params=params
            )
        ]
        return [pr for pr in found if not source_branch or pr.source_branch == source_branch]

    async def publish_status(self, repository: str, commit: str, status: BuildStatus) -> None:
        body: dict[str, Any] = {
            "type": "commitstatus",
            "key": status.key,
            "state": status.state.value,
            "name": status.name,
            "description": first_line(status.description, 255),
        }
        problem = status_url_problem(status.url)
        if problem:
            log.warning("build status link dropped: %s", problem)
        elif status.url:
            body["url"] = status.url
        if status.refname:
            body["refname"] = status.refname
        await self.client.request(
            "POST", self._path(repository, f"/commit/{commit}/statuses/build"), json=body
        )

    async def publish_report(
        self, repository: str, commit: str, report: Report, *, replace: bool = True
    ) -> None:
        """PUT the report, then its annotations, 100 per call. ``replace`` (the default) deletes
        an earlier report of the same id first (404 = there was none), so annotations of an
        earlier evaluation never linger; re-posting the same annotations updates them in place
        (they are keyed by their stable ``external_id``), so they never duplicate."""
        path = self._path(repository, f"/commit/{commit}/reports/{report.external_id}")
        if replace:
            await self.client.request("DELETE", path, allow=(404,))
        body: dict[str, Any] = {
            "type": "report",
            "title": report.title,
            "details": report.details,
            "external_id": report.external_id,
            "reporter": "jirahooks",
            "report_type": "TEST",
            "result": report.result,
            "data": [dict(d) for d in report.data[:10]],
        }
        if report.link and not status_url_problem(report.link):
            body["link"] = report.link
        await self.client.request("PUT", path, json=body)
        items = [
            {
                "type": "report_annotation",
                "external_id": a.external_id,
                "annotation_type": "BUG",
                "summary": a.summary,
                "result": a.result,
                "severity": a.severity,
                **({"details": a.details} if a.details else {}),
            }
            for a in report.annotations[:1000]
        ]
        for batch in chunks(items, ANNOTATIONS_PER_CALL):
            await self.client.request("POST", path + "/annotations", json=list(batch))

    async def review(
        self,
        repository: str,
        pr_id: str,
        verdict: ReviewVerdict,
        *,
        previous: ReviewVerdict | None = None,
    ) -> None:
        """Approve, request changes, or withdraw both. Undoing something that is not there
        (404 / 400 / 409) is fine: the end state is what matters. ``previous`` — the verdict
        jirahooks sent last — spares the request that withdraws an opposite verdict it never
        sent; ``None`` (not known) withdraws it always."""
        base = self._path(repository, f"/pullrequests/{pr_id}")
        tolerated = (400, 404, 409)

        async def withdraw(what: ReviewVerdict, path: str) -> None:
            if previous is None or previous is what:
                await self.client.request("DELETE", base + path, allow=tolerated)

        if verdict is ReviewVerdict.APPROVE:
            await withdraw(ReviewVerdict.REQUEST_CHANGES, "/request-changes")
            await self.client.request("POST", base + "/approve", allow=(409,))
        elif verdict is ReviewVerdict.REQUEST_CHANGES:
            await withdraw(ReviewVerdict.APPROVE, "/approve")
            await self.client.request("POST", base + "/request-changes", allow=(409,))
        else:
            await withdraw(ReviewVerdict.APPROVE, "/approve")
            await withdraw(ReviewVerdict.REQUEST_CHANGES, "/request-changes")
