"""The platform adapter interface: webhook in → normalized delivery, PR details out, results out.

One adapter per host (Bitbucket Cloud first; Bitbucket Data Center, GitHub and GitLab as peers).
The server's webhook router and worker talk only to :class:`PlatformAdapter`; everything a host
calls differently (paths, payload shapes, result vocabularies) stays inside its module.

Errors (added to the tree in ``jirahooks.errors``)::

    JirahooksError
    └── PlatformError              talking to the hosting platform failed
        ├── PlatformAuthError      401/403: rotate the access token / app password
        ├── PlatformUnavailable    timeouts, 5xx, 429 past the retry budget (retry later)
        ├── PlatformRequestError   the platform rejected our request (4xx)
        └── WebhookError           a webhook delivery could not be understood (→ HTTP 400)
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from jirahooks.errors import JirahooksError
from jirahooks.event import Commit, Event, PullRequest, Trigger

# -- errors -----------------------------------------------------------------------------------


class PlatformError(JirahooksError):
    code = "PLATFORM_ERROR"

    def __init__(
        self,
        message: str,
        *,
        hint: str = "",
        code: str | None = None,
        status: int = 0,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, hint=hint, code=code)
        self.status = status
        # seconds the platform asked us to wait (``Retry-After``): the queue reschedules then
        self.retry_after = retry_after


class PlatformAuthError(PlatformError):
    code = "PLATFORM_AUTH_REJECTED"


class PlatformUnavailable(PlatformError):
    """Transient: the caller keeps the work and retries later (nothing is lost)."""

    code = "PLATFORM_UNAVAILABLE"


class PlatformRequestError(PlatformError):
    code = "PLATFORM_REQUEST_REJECTED"


class WebhookError(PlatformError):
    code = "WEBHOOK_INVALID"


# -- what comes in ----------------------------------------------------------------------------


class DeliveryKind(StrEnum):
    PULL_REQUEST = "pull_request"  # a PR was created / updated: evaluate and publish
    PULL_REQUEST_CLOSED = "pull_request_closed"  # merged or declined: nothing left to block
    PUSH = "push"  # branch pushed: the open PRs of that branch are evaluated again
    RECHECK = "recheck"  # a "/jirahooks recheck" PR comment: evaluate the PR again (forced)
    IGNORED = "ignored"  # an event we do not act on


@dataclass(frozen=True, slots=True)
class BranchPush:
    """One branch update from a push delivery (full hashes; ``truncated`` when the host cut the
    commit list short)."""

    branch: str
    head: str
    commits: tuple[Commit, ...] = ()
    truncated: bool = False


@dataclass(frozen=True, slots=True)
class Delivery:
    """A webhook delivery, normalized. ``head`` may be abbreviated (resolve it before use)."""

    platform: str
    event_key: str
    kind: DeliveryKind
    workspace: str = ""
    repository: str = ""  # slug
    repository_uuid: str = ""
    pull_request_id: str = ""
    head: str = ""
    source_branch: str = ""
    destination_branch: str = ""
    title: str = ""
    description: str = ""
    # the PR as the payload shows it (state, author, link): with the commit list these make the
    # PR's details without a ``GET …/pullrequests/{id}`` (see ``fetch_pull_request``)
    state: str = ""
    author: str = ""
    author_id: str = ""
    url: str = ""
    pushes: tuple[BranchPush, ...] = ()
    hook_id: str = ""
    request_id: str = ""
    attempt: int = 1
    actor: str = ""

    @property
    def dedupe_key(self) -> str:
        """Identifies one delivery across retries by the host (same request id, new attempt
        number) and across duplicate hooks: the request, then the PR head commit."""
        target = self.head or ",".join(p.head for p in self.pushes)
        return "|".join(
            (self.platform, self.hook_id, self.request_id or "-", self.pull_request_id, target)
        )


@dataclass(frozen=True, slots=True)
class PullRequestDetails:
    """A pull request as fetched from the host: full head hash, every commit (oldest first)."""

    id: str
    title: str
    description: str
    source_branch: str
    destination_branch: str
    head: str
    state: str = "OPEN"
    author: str = ""
    author_id: str = ""
    url: str | None = None
    commits: tuple[Commit, ...] = ()

    def event(self, repository: str) -> Event:
        """The PULL_REQUEST event the engine evaluates."""
        return Event(
            trigger=Trigger.PULL_REQUEST,
            branch=self.source_branch,
            commits=self.commits,
            pull_request=PullRequest(
                id=self.id,
                title=self.title,
                description=self.description,
                source_branch=self.source_branch,
                destination_branch=self.destination_branch,
                author=self.author,
                url=self.url,
            ),
            repository=repository,
            user=self.author,
        )


@dataclass(frozen=True, slots=True)
class OpenPullRequest:
    """One entry of the open-PR listing used by reconciliation (head may be abbreviated)."""

    id: str
    head: str
    source_branch: str = ""


# -- what goes out ----------------------------------------------------------------------------


class BuildState(StrEnum):
    INPROGRESS = "INPROGRESS"
    SUCCESSFUL = "SUCCESSFUL"
    FAILED = "FAILED"
    STOPPED = "STOPPED"


class ReviewVerdict(StrEnum):
    APPROVE = "approve"
    REQUEST_CHANGES = "request_changes"
    WITHDRAW = "withdraw"  # neither: remove our approval and our change request


@dataclass(frozen=True, slots=True)
class BuildStatus:
    key: str
    state: BuildState
    name: str
    description: str
    url: str = ""
    refname: str = ""


@dataclass(frozen=True, slots=True)
class Annotation:
    external_id: str
    summary: str
    details: str = ""
    severity: str = "HIGH"  # CRITICAL | HIGH | MEDIUM | LOW
    result: str = "FAILED"


@dataclass(frozen=True, slots=True)
class Report:
    external_id: str
    title: str
    details: str
    result: str  # PASSED | FAILED | PENDING
    link: str = ""
    data: tuple[Mapping[str, Any], ...] = ()
    annotations: tuple[Annotation, ...] = field(default_factory=tuple)


# -- the interface ----------------------------------------------------------------------------


class PlatformAdapter(Protocol):
    """What the webhook router and the worker need from a hosting platform.

    ``parse_webhook`` is pure (no I/O) so the router can acknowledge within milliseconds; the
    rest is async I/O, retried inside the adapter and raising :class:`PlatformUnavailable` when a
    transient failure outlasts the retry budget (the worker then keeps the work for later).
    """

    platform: str

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> Delivery: ...

    async def fetch_pull_request(
        self, repository: str, pr_id: str, *, known: Delivery | None = None
    ) -> PullRequestDetails:
        """The PR's current details and every commit. With ``known`` (a webhook delivery of
        this PR) the payload stands in for the PR itself when the commit list shows its head
        is still the PR's head — one request fewer."""
        ...

    async def list_open_pull_requests(
        self, repository: str, *, source_branch: str = ""
    ) -> list[OpenPullRequest]:
        """Open PRs of ``repository``; only those whose source is ``source_branch`` if given."""
        ...

    async def resolve_commit(self, repository: str, ref: str) -> str: ...

    async def publish_status(self, repository: str, commit: str, status: BuildStatus) -> None: ...

    async def publish_report(
        self, repository: str, commit: str, report: Report, *, replace: bool = True
    ) -> None: ...

    async def review(
        self,
        repository: str,
        pr_id: str,
        verdict: ReviewVerdict,
        *,
        previous: ReviewVerdict | None = None,
    ) -> None:
        """Send ``verdict``; ``previous`` is the verdict last sent (``None``: not known, undo
        both), so the opposite is withdrawn only when it may be there."""
        ...

    async def aclose(self) -> None: ...


def first_line(text: str, limit: int) -> str:
    """One line, at most ``limit`` characters (ellipsis when cut)."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: max(0, limit - 1)] + "…"


def chunks(items: Sequence[Any], size: int) -> list[Sequence[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def pr_fingerprint(head: str, title: str, description: str, source: str, destination: str) -> str:
    """What a PULL_REQUEST evaluation depends on besides rules and Jira: the same fingerprint
    within a minute means the previous result can be reused. The head is cut to 12 characters
    because webhooks carry only that much."""
    import hashlib

    text = "\x00".join((head[:12], title, description, source, destination))
    return hashlib.sha256(text.encode()).hexdigest()


def sha256_signature_ok(secret: str, body: bytes, header: str) -> bool:
    """``header`` is ``sha256=<hex>`` of the HMAC-SHA256 of ``body`` under ``secret`` (the
    WebSub form Bitbucket Cloud and Jira send), compared in constant time."""
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), header.strip().encode())
