"""Bitbucket Data Center (9.x): webhook payloads in, PR details and commits fetched, results out.

What differs from Cloud (docs/bitbucket-datacenter.md):

- Webhooks carry ``X-Event-Key`` (``pr:opened``, ``pr:from_ref_updated``, ``pr:modified``,
  ``pr:merged``, ``pr:declined``, ``pr:deleted``, ``pr:comment:added``, ``repo:refs_changed``,
  ``diagnostics:ping``), ``X-Request-Id`` (one per delivery: the dedupe key) and, when the
  webhook has a secret, ``X-Hub-Signature: sha256=<hex HMAC-SHA256(secret, raw body)>``
  (:func:`verify_signature`).
- A repository lives in a *project* (``projects/{key}/repos/{slug}``); the PR's repository is
  ``toRef.repository``. Hashes are full (``fromRef.latestCommit``, ``toHash``).
- ``repo:refs_changed`` carries no commit list: each branch update is a
  :class:`BranchPush` with ``truncated=True`` (the commits come from the PR).
- Results: build status ``POST /rest/api/latest/projects/{key}/repos/{slug}/commits/{id}/builds``
  (``url`` is required; ``STOPPED`` is ``CANCELLED``), a Code Insights report
  (``PUT /rest/insights/latest/…/reports/{key}``; ``result`` PASS/FAIL, at most 6 data fields)
  with annotations (``POST …/annotations``; at most 1000 per report, *no* de-duplication, so a
  re-run deletes before it posts), and the reviewer verdict as the token user's participant
  status (``PUT …/pull-requests/{id}/participants/{userSlug}`` APPROVED / NEEDS_WORK /
  UNAPPROVED).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from jirahooks.event import Commit
from jirahooks.platforms.base import (
    BranchPush,
    BuildState,
    BuildStatus,
    Delivery,
    DeliveryKind,
    OpenPullRequest,
    PlatformAuthError,
    PlatformRequestError,
    PullRequestDetails,
    Report,
    ReviewVerdict,
    WebhookError,
    chunks,
    first_line,
)
from jirahooks.platforms.bitbucket_cloud import is_recheck_command
from jirahooks.platforms.bitbucket_dc_client import (
    INSIGHTS,
    DataCenterAuthKind,
    DataCenterClient,
    DataCenterCredentials,
)
from jirahooks.retry import RetryPolicy

log = logging.getLogger("jirahooks.platforms.bitbucket_dc")

PLATFORM = "bitbucket-dc"
PR_EVENTS = frozenset({"pr:opened", "pr:from_ref_updated", "pr:modified"})
PR_CLOSED_EVENTS = frozenset({"pr:merged", "pr:declined", "pr:deleted"})
PUSH_EVENTS = frozenset({"repo:refs_changed"})
COMMENT_EVENTS = frozenset({"pr:comment:added"})
PING_EVENT = "diagnostics:ping"  # "Test connection" in the webhook settings: acknowledged only
ACCEPTED_EVENTS = PR_EVENTS | PR_CLOSED_EVENTS | PUSH_EVENTS | COMMENT_EVENTS
MAX_ANNOTATIONS = 1000  # per report, Data Center's default (configurable per instance)
ANNOTATIONS_PER_CALL = 1000  # one request may carry them all; over the limit it is refused whole
MAX_DATA_FIELDS = 6
_STATES = {
    BuildState.INPROGRESS: "INPROGRESS",
    BuildState.SUCCESSFUL: "SUCCESSFUL",
    BuildState.FAILED: "FAILED",
    BuildState.STOPPED: "CANCELLED",
}
_VERDICTS = {
    ReviewVerdict.APPROVE: "APPROVED",
    ReviewVerdict.REQUEST_CHANGES: "NEEDS_WORK",
    ReviewVerdict.WITHDRAW: "UNAPPROVED",
}
_RESULTS = {"PASSED": "PASS", "FAILED": "FAIL"}  # PENDING: no result (Data Center has none)
_SEVERITIES = {"CRITICAL": "HIGH", "HIGH": "HIGH", "MEDIUM": "MEDIUM", "LOW": "LOW"}
_HASH = re.compile(r"^[0-9a-f]{7,40}$")
_FULL_HASH = re.compile(r"^[0-9a-f]{40}$")


# -- webhook signature ------------------------------------------------------------------------


def sign(secret: str, body: bytes) -> str:
    """``sha256=<hex>`` as Data Center sends it in ``X-Hub-Signature``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_signature(secret: str, headers: Mapping[str, str], body: bytes) -> None:
    """Raise :class:`WebhookError` (``WEBHOOK_SIGNATURE_INVALID``) unless ``X-Hub-Signature``
    is the HMAC-SHA256 of ``body`` under ``secret`` (compared in constant time)."""
    lower = {k.lower(): v for k, v in headers.items()}
    given = lower.get("x-hub-signature", "").strip()
    if not secret:
        raise WebhookError(
            "no webhook secret is configured",
            code="WEBHOOK_SECRET_MISSING",
            hint="set a secret on the Data Center webhook and the same one in jirahooks",
        )
    if not given:
        raise WebhookError(
            "the delivery has no X-Hub-Signature header",
            code="WEBHOOK_SIGNATURE_MISSING",
            hint="set the secret in the webhook's settings in Bitbucket Data Center",
        )
    if not hmac.compare_digest(sign(secret, body).encode(), given.encode()):
        raise WebhookError(
            "the X-Hub-Signature does not match the body",
            code="WEBHOOK_SIGNATURE_INVALID",
            hint="the secret in Bitbucket and in jirahooks differ, or the body was changed",
        )


# -- lenient payload reading ------------------------------------------------------------------


def _obj(data: Any, *names: str) -> dict[str, Any]:
    for name in names:
        data = data.get(name) if isinstance(data, dict) else None
    return data if isinstance(data, dict) else {}


def _str(data: Any, *names: str) -> str:
    *path, last = names
    value = _obj(data, *path).get(last)
    if value is None or isinstance(value, dict | list):
        return ""
    return str(value)


def _user(data: Any) -> str:
    return _str(data, "displayName") or _str(data, "name") or _str(data, "slug")


def _link(data: Any) -> str:
    links = _obj(data, "links").get("self")
    if isinstance(links, list) and links and isinstance(links[0], dict):
        return str(links[0].get("href") or "")
    return ""


def branch_name(ref: Mapping[str, Any]) -> str:
    """``displayId`` or ``id`` without ``refs/heads/``."""
    name = _str(ref, "displayId") or _str(ref, "id")
    return name.removeprefix("refs/heads/")


def commit_from(data: Mapping[str, Any]) -> Commit:
    author = _obj(data, "author")
    parents = data.get("parents")
    return Commit(
        hash=_str(data, "id"),
        message=_str(data, "message"),
        author_name=_str(author, "displayName") or _str(author, "name"),
        author_email=_str(author, "emailAddress"),
        parents=tuple(_str(p, "id") for p in parents if isinstance(p, dict))
        if isinstance(parents, list)
        else None,
    )


def _pr_fields(pr: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "pull_request_id": _str(pr, "id"),
        "head": _str(pr, "fromRef", "latestCommit"),
        "source_branch": branch_name(_obj(pr, "fromRef")),
        "destination_branch": branch_name(_obj(pr, "toRef")),
        "title": _str(pr, "title"),
        "description": _str(pr, "description"),
        "state": _str(pr, "state"),
        "author": _user(_obj(pr, "author", "user")),
        "author_id": _str(pr, "author", "user", "slug") or _str(pr, "author", "user", "name"),
        "url": _link(pr),
    }


def parse_delivery(headers: Mapping[str, str], body: bytes) -> Delivery:
    """A webhook delivery → :class:`Delivery` (pure; signature checked separately)."""
    lower = {k.lower(): v for k, v in headers.items()}
    event_key = lower.get("x-event-key", "").strip()
    common: dict[str, Any] = {
        "platform": PLATFORM,
        "event_key": event_key,
        "request_id": lower.get("x-request-id", "").strip(),
    }
    try:
        payload = json.loads(body)
    except ValueError as exc:
        raise WebhookError(
            "the webhook body is not JSON", hint="Bitbucket Data Center sends application/json"
        ) from exc
    if not isinstance(payload, dict):
        raise WebhookError("the webhook body is not a JSON object")
    if event_key not in ACCEPTED_EVENTS:  # diagnostics:ping and everything we do not act on
        return Delivery(kind=DeliveryKind.IGNORED, **common)
    if event_key in COMMENT_EVENTS and not is_recheck_command(_str(payload, "comment", "text")):
        return Delivery(kind=DeliveryKind.IGNORED, **common)
    actor = _user(_obj(payload, "actor"))
    if event_key in PUSH_EVENTS:
        repository = _obj(payload, "repository")
        project, slug = _str(repository, "project", "key"), _str(repository, "slug")
        if not (project and slug):
            raise WebhookError(
                "the webhook payload has no repository.slug / repository.project.key",
                hint="is this a Bitbucket Data Center webhook?",
            )
        return Delivery(
            kind=DeliveryKind.PUSH,
            workspace=project,
            repository=slug,
            repository_uuid=_str(repository, "id"),
            pushes=_pushes(payload),
            actor=actor,
            **common,
        )
    pr = _obj(payload, "pullRequest")
    repository = _obj(pr, "toRef", "repository")
    project, slug = _str(repository, "project", "key"), _str(repository, "slug")
    if not _str(pr, "id") or not (project and slug):
        raise WebhookError(
            "the webhook payload has no pullRequest.id / pullRequest.toRef.repository",
            hint="is this a Bitbucket Data Center pull request webhook?",
        )
    fields = _pr_fields(pr)
    if event_key in COMMENT_EVENTS:
        kind = DeliveryKind.RECHECK
    elif event_key in PR_EVENTS:
        kind = DeliveryKind.PULL_REQUEST
    else:
        kind = DeliveryKind.PULL_REQUEST_CLOSED
        if event_key == "pr:deleted" and not fields["state"]:
            fields["state"] = "DELETED"
    return Delivery(
        kind=kind,
        workspace=project,
        repository=slug,
        repository_uuid=_str(repository, "id"),
        actor=actor,
        **fields,
        **common,
    )


def _pushes(payload: Mapping[str, Any]) -> tuple[BranchPush, ...]:
    changes = payload.get("changes")
    out: list[BranchPush] = []
    for change in changes if isinstance(changes, list) else []:
        ref = _obj(change, "ref")
        if _str(ref, "type") != "BRANCH" or _str(change, "type") == "DELETE":
            continue  # tags, and deleted branches
        head = _str(change, "toHash")
        if not head or set(head) == {"0"}:
            continue
        # Data Center's push payload lists no commits: the PR's commit list is the truth
        out.append(BranchPush(branch=branch_name(ref), head=head, truncated=True))
    return tuple(out)


# -- the adapter ------------------------------------------------------------------------------


class BitbucketDataCenter:
    """The Bitbucket Data Center :class:`~jirahooks.platforms.base.PlatformAdapter` for one
    project of one instance. ``repository`` arguments are slugs of that project, or
    ``KEY/slug`` for another project of the instance.

    ``user_slug`` is the token user's slug for the reviewer verdict; empty: the user name Data
    Center reports on every answer (``X-AUSERNAME``). ``status_link``: where a build status links
    when the result has no link of its own (Data Center requires one); empty: the commit's page
    on Bitbucket."""

    platform = PLATFORM

    def __init__(
        self,
        base_url: str,
        project: str,
        credentials: DataCenterCredentials,
        *,
        user_slug: str = "",
        status_link: str = "",
        retry: RetryPolicy | None = None,
        client: DataCenterClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        max_annotations: int = MAX_ANNOTATIONS,
    ) -> None:
        self.project = project
        self.user_slug = user_slug
        self.status_link = status_link
        self.max_annotations = max(0, max_annotations)
        self.client = client or DataCenterClient(
            base_url, credentials, retry=retry, transport=transport
        )

    def __repr__(self) -> str:
        return f"BitbucketDataCenter({self.client.base_url!r}, project={self.project!r})"

    async def aclose(self) -> None:
        await self.client.aclose()

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> Delivery:
        return parse_delivery(headers, body)

    def _where(self, repository: str) -> tuple[str, str]:
        if "/" in repository:
            project, slug = repository.split("/", 1)
            return project, slug
        return self.project, repository

    def _path(self, repository: str, suffix: str = "", *, insights: bool = False) -> str:
        project, slug = self._where(repository)
        if insights:
            return self.client.repo_path(project, slug, suffix, root=INSIGHTS)
        return self.client.repo_path(project, slug, suffix)

    async def resolve_commit(self, repository: str, ref: str) -> str:
        """The full hash of an abbreviated one (``GET …/commits/{id}``)."""
        if _FULL_HASH.match(ref):
            return ref
        if not _HASH.match(ref):
            raise PlatformRequestError(
                f"{ref!r} is not a commit hash", hint="Data Center resolves commit ids only"
            )
        data = await self.client.request("GET", self._path(repository, f"/commits/{ref}"))
        full = _str(data, "id")
        if not _FULL_HASH.match(full):
            raise PlatformRequestError(f"Bitbucket did not resolve commit {ref!r} to a full hash")
        return full

    async def _commits_newest_first(self, repository: str, pr_id: str) -> list[Commit]:
        path = self._path(repository, f"/pull-requests/{quote(str(pr_id), safe='')}/commits")
        return [commit_from(c) async for c in self.client.paginate(path)]

    async def fetch_pull_request(
        self, repository: str, pr_id: str, *, known: Delivery | None = None
    ) -> PullRequestDetails:
        """The PR and every commit (oldest first). With ``known`` (a PR delivery of this PR)
        whose head is still the newest commit, ``GET …/pull-requests/{id}`` is skipped."""
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
        pr: Any = await self.client.request(
            "GET", self._path(repository, f"/pull-requests/{quote(str(pr_id), safe='')}")
        )
        fields = _pr_fields(pr if isinstance(pr, dict) else {})
        head = fields["head"]
        if not (newest_first and head and newest_first[0].hash.startswith(head)):
            newest_first = await self._commits_newest_first(repository, pr_id)
        if head and not _FULL_HASH.match(head):
            head = await self.resolve_commit(repository, head)
        return PullRequestDetails(
            id=fields["pull_request_id"] or str(pr_id),
            title=fields["title"],
            description=fields["description"],
            source_branch=fields["source_branch"],
            destination_branch=fields["destination_branch"],
            head=head,
            state=fields["state"] or "OPEN",
            author=fields["author"],
            author_id=fields["author_id"],
            url=fields["url"] or None,
            commits=tuple(reversed(newest_first)),
        )

    async def list_open_pull_requests(
        self, repository: str, *, source_branch: str = ""
    ) -> list[OpenPullRequest]:
        """``GET …/pull-requests?state=OPEN``; with ``source_branch`` the PRs *from* that branch
        (``at=refs/heads/…&direction=OUTGOING``), kept only when they target this repository."""
        project, slug = self._where(repository)
        params: dict[str, Any] = {"state": "OPEN", "withAttributes": "false"}
        if source_branch:
            params["at"] = f"refs/heads/{source_branch}"
            params["direction"] = "OUTGOING"
        out: list[OpenPullRequest] = []
        async for pr in self.client.paginate(
            self._path(repository, "/pull-requests"), params=params
        ):
            fields = _pr_fields(pr)
            target = _obj(pr, "toRef", "repository")
            if source_branch and (
                fields["source_branch"] != source_branch
                or _str(target, "slug") != slug
                or _str(target, "project", "key") != project
            ):
                continue
            out.append(
                OpenPullRequest(fields["pull_request_id"], fields["head"], fields["source_branch"])
            )
        return out

    def _commit_page(self, repository: str, commit: str) -> str:
        project, slug = self._where(repository)
        return (
            f"{self.client.base_url}/projects/{quote(project, safe='')}/repos/"
            f"{quote(slug, safe='')}/commits/{commit}"
        )

    async def publish_status(self, repository: str, commit: str, status: BuildStatus) -> None:
        """``POST …/commits/{commitId}/builds`` (the same key replaces the earlier status)."""
        url = status.url
        if url and urlsplit(url).scheme not in ("http", "https"):
            log.warning("build status link %r dropped: not an http(s) URL", url)
            url = ""
        body: dict[str, Any] = {
            "key": status.key[:255],
            "state": _STATES[status.state],
            "name": first_line(status.name, 255),
            "description": first_line(status.description, 255),
            "url": (url or self.status_link or self._commit_page(repository, commit))[:450],
        }
        if status.refname:
            ref = status.refname
            body["ref"] = (ref if ref.startswith("refs/") else f"refs/heads/{ref}")[:1024]
        await self.client.request(
            "POST", self._path(repository, f"/commits/{commit}/builds"), json=body
        )

    async def publish_report(
        self, repository: str, commit: str, report: Report, *, replace: bool = True
    ) -> None:
        """PUT the report, then POST its annotations. Data Center does not de-duplicate
        annotations, so ``replace`` (the default) deletes the report — and with it its
        annotations — first; without it the annotations of this report are deleted before the
        new ones go. At most ``max_annotations`` (1000) are posted: over the instance's limit
        Data Center refuses the whole request."""
        path = self._path(
            repository,
            f"/commits/{commit}/reports/{quote(report.external_id, safe='')}",
            insights=True,
        )
        if replace:
            await self.client.request("DELETE", path, allow=(404,))
        body: dict[str, Any] = {
            "title": first_line(report.title, 450),
            "details": report.details[:2000],
            "reporter": "jirahooks",
            "data": [_data_field(d) for d in report.data[:MAX_DATA_FIELDS]],
        }
        if report.result in _RESULTS:
            body["result"] = _RESULTS[report.result]
        if report.link and urlsplit(report.link).scheme in ("http", "https"):
            body["link"] = report.link
        await self.client.request("PUT", path, json=body)
        if not replace:
            await self.client.request("DELETE", path + "/annotations", allow=(404,))
        items = [
            {
                "externalId": a.external_id[:450],
                "message": "\n".join(t for t in (a.summary, a.details) if t)[:2000],
                "severity": _SEVERITIES.get(a.severity.upper(), "HIGH"),
                "type": "BUG",
            }
            for a in report.annotations[: self.max_annotations]
        ]
        for batch in chunks(items, ANNOTATIONS_PER_CALL):
            await self.client.request("POST", path + "/annotations", json={"annotations": batch})

    async def _user_slug(self, repository: str) -> str:
        if self.user_slug:
            return self.user_slug
        if not self.client.user_name:
            # any authenticated answer names the token user (X-AUSERNAME)
            await self.client.request("GET", self._path(repository))
        if not self.client.user_name:
            raise PlatformRequestError(
                "Bitbucket Data Center did not say which user the token belongs to",
                hint="set the token user's slug (user_slug) in the Data Center settings",
            )
        return self.client.user_name.lower()

    async def review(
        self,
        repository: str,
        pr_id: str,
        verdict: ReviewVerdict,
        *,
        previous: ReviewVerdict | None = None,
    ) -> None:
        """Set the token user's participant status: APPROVED, NEEDS_WORK or UNAPPROVED. One
        request whatever ``previous`` was (a status replaces the other). 409 — the PR is no
        longer open — is fine: nothing is left to veto."""
        user = await self._user_slug(repository)
        path = self._path(
            repository,
            f"/pull-requests/{quote(str(pr_id), safe='')}/participants/{quote(user, safe='')}",
        )
        try:
            await self.client.request(
                "PUT", path, json={"status": _VERDICTS[verdict]}, allow=(409,)
            )
        except PlatformRequestError as exc:
            if exc.status == 400:
                exc.hint = (
                    "Data Center refuses a status from the PR's author: use a token whose user "
                    "(or bot) did not open the pull request"
                )
            raise
        except PlatformAuthError as exc:
            seen = self.client.user_name
            if self.user_slug and seen and seen.lower() != self.user_slug.lower():
                # a token may set only its own user's status: the configured slug is wrong
                exc.hint = (
                    f"the configured user slug {self.user_slug!r} is not the token's user "
                    f"({seen!r}, as Data Center reports it): correct or clear the user slug"
                )
            raise


def _data_field(item: Mapping[str, Any]) -> dict[str, Any]:
    out = {"title": str(item.get("title", ""))[:450], "value": item.get("value")}
    if item.get("type"):
        out["type"] = str(item["type"])
    return out


__all__ = [
    "BitbucketDataCenter",
    "DataCenterAuthKind",
    "DataCenterCredentials",
    "parse_delivery",
    "sign",
    "verify_signature",
]
