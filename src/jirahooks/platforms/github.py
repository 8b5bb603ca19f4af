"""GitHub (a GitHub App): webhooks in, PR details and commits fetched, results as a check run.

The :class:`~jirahooks.platforms.base.PlatformAdapter` for one account (user or organization)
an App installation covers; ``repository`` arguments are repository names under that owner.
Authentication, retries and rate limits live in :mod:`jirahooks.platforms.github_client`.

What the protocol's values become on GitHub (docs/github.md, "What jirahooks publishes"):

- :class:`BuildStatus` → the **check run** named ``check_name`` on the commit: INPROGRESS →
  ``status: in_progress``; SUCCESSFUL / FAILED / STOPPED → ``conclusion: success / failure /
  neutral`` with ``output.title`` / ``output.summary``. A final state on a commit without a run
  of ours is held for the report, which creates the run with it, completed, in one request (the
  pipeline publishes the report right after the status). With ``use_checks=False`` (GitHub
  Enterprise Server without the Checks API, or a token that is not an App's) a **commit status**
  ``POST /repos/{o}/{r}/statuses/{sha}`` instead: pending / success / failure / error.
- :class:`Report` → the same check run's ``output`` (title, summary, text with the report's
  figures) and its annotations, at most 50 per request (GitHub's limit): the first 50 with the
  output (in the creating POST for a new run), then successive PATCHes, which GitHub appends. ``replace`` starts a new check run, so
  annotations of an earlier evaluation of that commit never show with the new result. Without
  checks a report has nowhere to go: the status's link carries the details.
- :class:`ReviewVerdict` → a PR review by the App (``APPROVE`` / ``REQUEST_CHANGES``), sent only
  when the App's latest review says otherwise (GitHub does not deduplicate reviews); WITHDRAW
  dismisses the App's approving and change-requesting reviews.

Webhooks: ``X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, raw body)>`` compared in
constant time; ``X-GitHub-Event`` and the payload's ``action`` pick the kind (:func:`parse_delivery`):
``pull_request`` opened / edited / synchronize / reopened / ready_for_review → PULL_REQUEST,
closed → PULL_REQUEST_CLOSED; ``push`` → PUSH; ``check_suite`` / ``check_run`` ``rerequested``
(the "Re-run" button) → RECHECK of the PR; ``merge_group`` ``checks_requested`` → a PUSH of the
queue's branch with ``event_key`` ``merge_group``, to be answered with a check run on its head
(:meth:`GitHub.fetch_merge_group` gives the commits to judge) — a required check that never
reports on a merge group stalls the queue for ever; ``installation*``, ``ping`` and the rest →
IGNORED (recorded with their event key and account).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import httpx

from jirahooks.event import Commit
from jirahooks.platforms.base import (
    BranchPush,
    BuildState,
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
from jirahooks.platforms.github_client import API_URL, GitHubAppCredentials, GitHubClient

log = logging.getLogger("jirahooks.platforms.github")

PLATFORM = "github"
SIGNATURE_HEADER = "x-hub-signature-256"
CHECK_NAME = "Process Guardian (jirahooks)"
PR_ACTIONS = frozenset({"opened", "edited", "synchronize", "reopened", "ready_for_review"})
RERUN_EVENTS = frozenset({"check_suite", "check_run"})
MERGE_GROUP_EVENT = "merge_group"
ANNOTATIONS_PER_REQUEST = 50  # the Checks API refuses more in one request
MAX_ANNOTATIONS = 1000
PR_COMMITS_CAP = 250  # GET …/pulls/{n}/commits lists at most this many
OUTPUT_LIMIT = 65535  # output.summary and output.text
DESCRIPTION_LIMIT = 140  # a commit status description
HELD_LIMIT = 1000  # final statuses kept for the report that follows (one per commit in flight)
_FULL_HASH = re.compile(r"^[0-9a-f]{40}$")
_LEVELS = {"CRITICAL": "failure", "HIGH": "failure", "MEDIUM": "warning", "LOW": "notice"}
_CONCLUSIONS = {
    BuildState.SUCCESSFUL: "success",
    BuildState.FAILED: "failure",
    BuildState.STOPPED: "neutral",
}
_STATUS_STATES = {
    BuildState.INPROGRESS: "pending",
    BuildState.SUCCESSFUL: "success",
    BuildState.FAILED: "failure",
    BuildState.STOPPED: "error",
}
_REPORT_CONCLUSIONS = {"PASSED": "success", "FAILED": "failure"}


# -- webhook signature --------------------------------------------------------------------------


def signature_of(secret: str, body: bytes) -> str:
    """The ``X-Hub-Signature-256`` value GitHub sends for ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_ok(secret: str, body: bytes, header: str) -> bool:
    """Constant-time comparison of ``header`` with the body's HMAC-SHA256."""
    return hmac.compare_digest(signature_of(secret, body).encode(), header.strip().encode())


def verify_signature(secret: str, headers: Mapping[str, str], body: bytes) -> None:
    """Raise :class:`WebhookError` unless ``X-Hub-Signature-256`` signs ``body`` with ``secret``."""
    lower = {k.lower(): v for k, v in headers.items()}
    header = lower.get(SIGNATURE_HEADER, "")
    if not header:
        raise WebhookError(
            "the delivery has no X-Hub-Signature-256 header",
            hint="set the webhook secret on the GitHub App (docs/github.md) — "
            "unsigned deliveries are refused",
            code="WEBHOOK_SIGNATURE_MISSING",
            status=401,
        )
    if not signature_ok(secret, body, header):
        raise WebhookError(
            "the X-Hub-Signature-256 signature does not match the body",
            hint="the App's webhook secret and the one configured in jirahooks differ",
            code="WEBHOOK_SIGNATURE_INVALID",
            status=401,
        )


# -- lenient payload reading --------------------------------------------------------------------


def _obj(data: Any, *names: str) -> dict[str, Any]:
    for name in names:
        data = data.get(name) if isinstance(data, dict) else None
    return data if isinstance(data, dict) else {}


def _str(data: Any, *names: str) -> str:
    *path, last = names
    holder = _obj(data, *path) if path else (data if isinstance(data, dict) else {})
    value = holder.get(last)
    if value is None or isinstance(value, dict | list):
        return ""
    return str(value)


def _branch(ref: str) -> str:
    return ref[len("refs/heads/") :] if ref.startswith("refs/heads/") else ""


def pr_state(pr: Mapping[str, Any]) -> str:
    """GitHub's ``open`` / ``closed`` (+ ``merged``) in the pipeline's vocabulary."""
    if _str(pr, "state") == "open":
        return "OPEN"
    return "MERGED" if pr.get("merged") or pr.get("merged_at") else "DECLINED"


def commit_from(data: Mapping[str, Any]) -> Commit:
    """A REST commit (``GET …/pulls/{n}/commits``, compare) or a push payload's commit."""
    inner = _obj(data, "commit")
    if inner:  # REST: {sha, commit: {message, author}, author: {login}, parents}
        parents = data.get("parents")
        return Commit(
            hash=_str(data, "sha"),
            message=_str(inner, "message"),
            author_name=_str(inner, "author", "name") or _str(data, "author", "login"),
            author_email=_str(inner, "author", "email"),
            parents=tuple(_str(p, "sha") for p in parents if isinstance(p, dict))
            if isinstance(parents, list)
            else None,
            url=_str(data, "html_url") or None,
        )
    # push payload: {id, message, author: {name, email, username}, url}; no parents listed
    return Commit(
        hash=_str(data, "id"),
        message=_str(data, "message"),
        author_name=_str(data, "author", "name") or _str(data, "author", "username"),
        author_email=_str(data, "author", "email"),
        parents=None,
        url=_str(data, "url") or None,
    )


def parse_delivery(headers: Mapping[str, str], body: bytes) -> Delivery:
    """A GitHub webhook delivery → :class:`Delivery` (pure; the signature is checked by
    :func:`verify_signature` first). Raises :class:`WebhookError` on malformed payloads."""
    lower = {k.lower(): v for k, v in headers.items()}
    event = lower.get("x-github-event", "").strip()
    try:
        payload = json.loads(body)
    except ValueError as exc:
        raise WebhookError(
            "the webhook body is not JSON",
            hint="set the App's webhook content type to application/json",
        ) from exc
    if not isinstance(payload, dict):
        raise WebhookError("the webhook body is not a JSON object")
    action = _str(payload, "action")
    common: dict[str, Any] = {
        "platform": PLATFORM,
        "event_key": f"{event}.{action}" if action else event,
        "hook_id": lower.get("x-github-hook-id", "").strip(),
        "request_id": lower.get("x-github-delivery", "").strip(),
        "actor": _str(payload, "sender", "login"),
    }
    repository = _obj(payload, "repository")
    owner, _, name = _str(repository, "full_name").partition("/")
    if owner and name:
        common.update(workspace=owner, repository=name, repository_uuid=_str(repository, "id"))
    else:
        common["workspace"] = _str(payload, "installation", "account", "login")
    if event == "pull_request":
        if action in PR_ACTIONS:
            return _pull_request(payload, DeliveryKind.PULL_REQUEST, common)
        if action == "closed":
            return _pull_request(payload, DeliveryKind.PULL_REQUEST_CLOSED, common)
    elif event == "push":
        _need_repository(common)
        return Delivery(kind=DeliveryKind.PUSH, pushes=_pushes(payload), **common)
    elif event == MERGE_GROUP_EVENT and action == "checks_requested":
        _need_repository(common)
        group = _obj(payload, "merge_group")
        head = _str(group, "head_sha")
        if not _FULL_HASH.match(head):
            raise WebhookError("the merge_group payload has no merge_group.head_sha")
        common["event_key"] = MERGE_GROUP_EVENT
        return Delivery(
            kind=DeliveryKind.PUSH,
            head=head,
            source_branch=_branch(_str(group, "head_ref")) or _str(group, "head_ref"),
            destination_branch=_branch(_str(group, "base_ref")) or _str(group, "base_ref"),
            title=first_line(_str(group, "head_commit", "message"), 500),
            pushes=(BranchPush(branch=_branch(_str(group, "head_ref")), head=head),),
            **common,
        )
    elif event in RERUN_EVENTS and action == "rerequested":
        _need_repository(common)
        return _rerun(payload, event, common)
    return Delivery(kind=DeliveryKind.IGNORED, **common)


def is_merge_group(delivery: Delivery) -> bool:
    """A ``merge_group`` ``checks_requested`` delivery: answer it with a check run on its
    ``head`` (commits: :meth:`GitHub.fetch_merge_group`), or the merge queue waits for ever."""
    return delivery.platform == PLATFORM and delivery.event_key == MERGE_GROUP_EVENT


def _need_repository(common: Mapping[str, Any]) -> None:
    if not common.get("repository"):
        raise WebhookError(
            "the webhook payload has no repository.full_name",
            hint="is this a GitHub webhook?",
        )


def _pull_request(
    payload: Mapping[str, Any], kind: DeliveryKind, common: dict[str, Any]
) -> Delivery:
    _need_repository(common)
    pr = _obj(payload, "pull_request")
    number = _str(pr, "number") or _str(payload, "number")
    if not number:
        raise WebhookError("the pull_request payload has no pull_request.number")
    return Delivery(
        kind=kind,
        pull_request_id=number,
        head=_str(pr, "head", "sha"),
        source_branch=_str(pr, "head", "ref"),
        destination_branch=_str(pr, "base", "ref"),
        title=_str(pr, "title"),
        description=_str(pr, "body"),
        state=pr_state(pr),
        author=_str(pr, "user", "login"),
        author_id=_str(pr, "user", "id"),
        url=_str(pr, "html_url"),
        **common,
    )


def _rerun(payload: Mapping[str, Any], event: str, common: dict[str, Any]) -> Delivery:
    """ "Re-run" on our check run or its suite: evaluate its PR again (forced). Without a PR in
    the payload (GitHub lists none for a fork's branch) the branch is re-evaluated as a push."""
    if event == "check_run":
        run = _obj(payload, "check_run")
        suite = _obj(run, "check_suite")
        head = _str(run, "head_sha") or _str(suite, "head_sha")
        prs = run.get("pull_requests") or suite.get("pull_requests")
        branch = _str(suite, "head_branch")
    else:
        suite = _obj(payload, "check_suite")
        head = _str(suite, "head_sha")
        prs = suite.get("pull_requests")
        branch = _str(suite, "head_branch")
    first = prs[0] if isinstance(prs, list) and prs and isinstance(prs[0], dict) else {}
    number = _str(first, "number")
    if number:
        return Delivery(
            kind=DeliveryKind.RECHECK,
            pull_request_id=number,
            head=head,
            source_branch=_str(first, "head", "ref") or branch,
            destination_branch=_str(first, "base", "ref"),
            state="OPEN",
            **common,
        )
    if branch and head:
        return Delivery(
            kind=DeliveryKind.PUSH, pushes=(BranchPush(branch=branch, head=head),), **common
        )
    return Delivery(kind=DeliveryKind.IGNORED, **common)


PUSH_PAYLOAD_COMMITS = 2048  # a push payload lists at most this many commits


def _pushes(payload: Mapping[str, Any]) -> tuple[BranchPush, ...]:
    branch = _branch(_str(payload, "ref"))
    head = _str(payload, "after")
    if not branch or payload.get("deleted") or not _FULL_HASH.match(head) or set(head) == {"0"}:
        return ()  # a tag, or a branch deletion
    commits = payload.get("commits")
    listed = (
        [commit_from(c) for c in commits if isinstance(c, dict)]
        if isinstance(commits, list)
        else []
    )
    return (
        BranchPush(
            branch=branch,
            head=head,
            commits=tuple(listed),
            truncated=len(listed) >= PUSH_PAYLOAD_COMMITS,
        ),
    )


# -- the adapter --------------------------------------------------------------------------------


class GitHub:
    """The GitHub :class:`~jirahooks.platforms.base.PlatformAdapter` for one App installation.

    ``owner``: the account whose repositories the installation covers. ``base_url``: the REST
    root (``https://HOST/api/v3`` on GitHub Enterprise Server). ``use_checks=False`` publishes
    commit statuses instead of check runs. ``webhook_secret``: deliveries are verified by
    :meth:`parse_webhook` (empty: the caller verifies). ``annotation_path``: the file the check
    run's annotations point at (GitHub requires one; jirahooks' findings are about commits and
    the PR, so they name the rules file)."""

    platform = PLATFORM

    def __init__(
        self,
        owner: str,
        credentials: GitHubAppCredentials,
        *,
        base_url: str = API_URL,
        client: GitHubClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        use_checks: bool = True,
        check_name: str = CHECK_NAME,
        webhook_secret: str = "",
        annotation_path: str = ".jirahooks.yml",
        bot_login: str = "",
    ) -> None:
        self.owner = owner
        self.client = client or GitHubClient(credentials, base_url=base_url, transport=transport)
        self.client.owner = self.client.owner or owner
        self.use_checks = use_checks
        self.check_name = check_name
        self._webhook_secret = webhook_secret
        self.annotation_path = annotation_path
        self._bot_login = bot_login
        # (repository, commit) → (check run id, details_url): the run this process publishes to
        self._runs: dict[tuple[str, str], tuple[int, str]] = {}
        # (repository, commit) → a final status for a commit without a run of ours: the report
        # that follows creates the run with it, completed, in one request
        self._held: dict[tuple[str, str], dict[str, Any]] = {}

    def __repr__(self) -> str:
        return f"GitHub(owner={self.owner!r}, checks={self.use_checks})"

    async def aclose(self) -> None:
        await self.client.aclose()

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> Delivery:
        if self._webhook_secret:
            verify_signature(self._webhook_secret, headers, body)
        return parse_delivery(headers, body)

    def _path(self, repository: str, suffix: str = "") -> str:
        return f"/repos/{quote(self.owner, safe='')}/{quote(repository, safe='')}{suffix}"

    # -- reading ------------------------------------------------------------------------------

    async def resolve_commit(self, repository: str, ref: str) -> str:
        """The full hash of a short hash or ref (``GET …/commits/{ref}``)."""
        if _FULL_HASH.match(ref):
            return ref
        data = await self.client.request(
            "GET", self._path(repository, f"/commits/{quote(ref, safe='')}")
        )
        full = _str(data, "sha")
        if not _FULL_HASH.match(full):
            raise PlatformRequestError(f"GitHub did not resolve {ref!r} to a full commit hash")
        return full

    async def _pr_commits(self, repository: str, pr_id: str) -> list[Commit]:
        return [
            commit_from(c)
            async for c in self.client.paginate(
                self._path(repository, f"/pulls/{pr_id}/commits"), limit=PR_COMMITS_CAP
            )
        ]

    async def compare_commits(self, repository: str, base: str, head: str) -> list[Commit]:
        """Every commit of ``head`` not in ``base`` (oldest first): ``GET …/compare/B...H``,
        paginated — what a PR of more than 250 commits needs."""
        basehead = f"{quote(base, safe='')}...{quote(head, safe='')}"
        return [
            commit_from(c)
            async for c in self.client.paginate(
                self._path(repository, f"/compare/{basehead}"),
                items=lambda page: page.get("commits") if isinstance(page, dict) else None,
            )
        ]

    async def fetch_pull_request(
        self, repository: str, pr_id: str, *, known: Delivery | None = None
    ) -> PullRequestDetails:
        """The PR and every commit (oldest first, as GitHub lists them).

        With ``known`` (a ``pull_request`` delivery of this PR, whose head hash is full) the
        commit list comes first, and when its last commit is the payload's head the payload is
        the PR: one request family instead of two. ``GET …/pulls/{n}/commits`` stops at 250
        commits; a PR that has more (``commits`` in the PR object, or a list cut at exactly 250)
        is read through the compare API from the PR's base to its head instead."""
        commits: list[Commit] | None = None
        if known is not None and known.head and known.pull_request_id == str(pr_id):
            commits = await self._pr_commits(repository, pr_id)
            if (
                commits
                and len(commits) < PR_COMMITS_CAP
                and commits[-1].hash == known.head
                and (known.state or "OPEN") == "OPEN"
            ):
                return PullRequestDetails(
                    id=known.pull_request_id,
                    title=known.title,
                    description=known.description,
                    source_branch=known.source_branch,
                    destination_branch=known.destination_branch,
                    head=known.head,
                    state="OPEN",
                    author=known.author,
                    author_id=known.author_id,
                    url=known.url or None,
                    commits=tuple(commits),
                )
        pr: Any = await self.client.request("GET", self._path(repository, f"/pulls/{pr_id}"))
        head = _str(pr, "head", "sha")
        base = _str(pr, "base", "sha") or _str(pr, "base", "ref")
        try:
            total = int(pr.get("commits") or 0) if isinstance(pr, dict) else 0
        except (TypeError, ValueError):
            total = 0
        if total > PR_COMMITS_CAP or (commits is not None and len(commits) >= PR_COMMITS_CAP):
            commits = await self.compare_commits(repository, base, head)
            if total and len(commits) < total:
                log.warning(
                    "github %s#%s: %d of %d commits read (compare API)",
                    repository,
                    pr_id,
                    len(commits),
                    total,
                )
        elif commits is None or not commits or commits[-1].hash != head:
            commits = await self._pr_commits(repository, pr_id)
            if len(commits) >= PR_COMMITS_CAP:
                commits = await self.compare_commits(repository, base, head)
        return PullRequestDetails(
            id=_str(pr, "number") or str(pr_id),
            title=_str(pr, "title"),
            description=_str(pr, "body"),
            source_branch=_str(pr, "head", "ref"),
            destination_branch=_str(pr, "base", "ref"),
            head=head,
            state=pr_state(pr or {}),
            author=_str(pr, "user", "login"),
            author_id=_str(pr, "user", "id"),
            url=_str(pr, "html_url") or None,
            commits=tuple(commits),
        )

    async def fetch_merge_group(self, repository: str, delivery: Delivery) -> PullRequestDetails:
        """What a merge group adds to its base branch, as a PR-shaped value to evaluate: the
        commits of ``delivery.head`` not in the base branch (compare API). Publish its result
        with :meth:`publish_status` on ``delivery.head``."""
        commits = await self.compare_commits(repository, delivery.destination_branch, delivery.head)
        return PullRequestDetails(
            id="",
            title=delivery.title,
            description="",
            source_branch=delivery.source_branch,
            destination_branch=delivery.destination_branch,
            head=delivery.head,
            commits=tuple(commits),
        )

    async def list_open_pull_requests(
        self, repository: str, *, source_branch: str = ""
    ) -> list[OpenPullRequest]:
        """``GET …/pulls?state=open``; with ``source_branch`` filtered by GitHub (``head=
        owner:branch``) and checked again here."""
        params: dict[str, Any] = {"state": "open"}
        if source_branch:
            params["head"] = f"{self.owner}:{source_branch}"
        found = [
            OpenPullRequest(
                id=_str(pr, "number"),
                head=_str(pr, "head", "sha"),
                source_branch=_str(pr, "head", "ref"),
            )
            async for pr in self.client.paginate(self._path(repository, "/pulls"), params=params)
        ]
        return [pr for pr in found if not source_branch or pr.source_branch == source_branch]

    # -- publishing ---------------------------------------------------------------------------

    async def _check_run(self, repository: str, commit: str) -> int | None:
        """Our check run on ``commit``: remembered, else the latest of that name on GitHub."""
        known = self._runs.get((repository, commit))
        if known is not None:
            return known[0]
        data = await self.client.request(
            "GET",
            self._path(repository, f"/commits/{commit}/check-runs"),
            params=self._run_filter(),
        )
        runs = data.get("check_runs") if isinstance(data, dict) else None
        for run in runs if isinstance(runs, list) else []:
            if isinstance(run, dict) and run.get("name") == self.check_name and run.get("id"):
                self._runs[(repository, commit)] = (int(run["id"]), _str(run, "details_url"))
                return int(run["id"])
        return None

    def _run_filter(self) -> dict[str, Any]:
        """Our runs only: by name and, with a numeric App id, by App (another App's run of the
        same name is never updated)."""
        params: dict[str, Any] = {"check_name": self.check_name, "filter": "latest"}
        app_id = self.client.credentials.app_id
        if app_id.isdigit():
            params["app_id"] = int(app_id)
        return params

    async def _write_run(
        self,
        repository: str,
        commit: str,
        body: dict[str, Any],
        *,
        new: bool = False,
        hold: bool = False,
    ) -> int:
        """Create or update our run on ``commit``; ``hold``: only update — with no run of ours
        there, keep ``body`` for the report that follows (0)."""
        try:
            return await self._write_run_once(repository, commit, body, new=new, hold=hold)
        except PlatformRequestError as exc:
            if exc.status != 404:
                raise
            raise PlatformRequestError(
                exc.message,
                hint="no Checks API here (an older GitHub Enterprise Server?) or the App cannot "
                "see the repository: publish commit statuses instead (use_checks false) or "
                "check the installation's repositories",
                code=exc.code,
                status=exc.status,
            ) from exc

    async def _write_run_once(
        self,
        repository: str,
        commit: str,
        body: dict[str, Any],
        *,
        new: bool = False,
        hold: bool = False,
    ) -> int:
        run_id = None if new else await self._check_run(repository, commit)
        if run_id is None and hold:
            if len(self._held) >= HELD_LIMIT:  # reports that never followed: drop the oldest
                self._held.pop(next(iter(self._held)))
            self._held[(repository, commit)] = body
            return 0
        if run_id is None:
            data = await self.client.request(
                "POST",
                self._path(repository, "/check-runs"),
                json={"name": self.check_name, "head_sha": commit, **body},
            )
            run_id = int(_str(data, "id") or 0)
            if not run_id:
                raise PlatformRequestError("GitHub created a check run without an id")
        else:
            await self.client.request(
                "PATCH", self._path(repository, f"/check-runs/{run_id}"), json=body
            )
        details = str(body.get("details_url") or self._runs.get((repository, commit), (0, ""))[1])
        self._runs[(repository, commit)] = (run_id, details)
        return run_id

    async def publish_status(self, repository: str, commit: str, status: BuildStatus) -> None:
        """The check run's state (or, without checks, a commit status). A final state on a
        commit that shows no run of ours is not sent on its own: :meth:`publish_report`, which
        the pipeline calls next, creates the run with it already completed — one request, not
        a create and an update. An existing run is updated at once."""
        self._held.pop((repository, commit), None)
        if not self.use_checks:
            body: dict[str, Any] = {
                "state": _STATUS_STATES[status.state],
                "description": first_line(status.description, DESCRIPTION_LIMIT),
                "context": self.check_name,
            }
            if status.url:
                body["target_url"] = status.url
            await self.client.request(
                "POST", self._path(repository, f"/statuses/{commit}"), json=body
            )
            return
        run: dict[str, Any] = {"external_id": status.key}
        if status.url:
            run["details_url"] = status.url
        summary = first_line(status.description, 1000) or status.name
        if status.state is BuildState.INPROGRESS:
            run["status"] = "in_progress"
        else:
            run["status"] = "completed"
            run["conclusion"] = _CONCLUSIONS[status.state]
        run["output"] = {
            "title": first_line(status.description, 255) or status.name,
            "summary": summary,
        }
        await self._write_run(
            repository, commit, run, hold=status.state is not BuildState.INPROGRESS
        )

    async def publish_report(
        self, repository: str, commit: str, report: Report, *, replace: bool = True
    ) -> None:
        """The report as the check run's output and annotations (50 per request). ``replace``
        starts a new check run (GitHub appends annotations to a run, it never replaces them).
        After a final status that found no run of ours, the run is created here with that
        status, completed, and the first 50 annotations; the rest follow in PATCHes."""
        held = self._held.pop((repository, commit), None)
        if not self.use_checks:
            log.debug("github %s@%s: commit statuses carry no report", repository, commit[:12])
            return
        summary = report.details + (f"\n\n[Details]({report.link})" if report.link else "")
        output: dict[str, Any] = {
            "title": first_line(report.title, 255),
            "summary": summary[:OUTPUT_LIMIT],
        }
        if report.data:
            rows = "\n".join(
                f"| {d.get('title', '')} | {d.get('value', '')} |" for d in report.data
            )
            output["text"] = ("| | |\n|---|---|\n" + rows)[:OUTPUT_LIMIT]
        annotations = [self._annotation(a) for a in report.annotations[:MAX_ANNOTATIONS]]
        batches = chunks(annotations, ANNOTATIONS_PER_REQUEST) or [[]]
        run: dict[str, Any] = {
            **(held or {}),
            "output": {**output, "annotations": list(batches[0])},
        }
        conclusion = _REPORT_CONCLUSIONS.get(report.result)
        if conclusion:
            run.update(status="completed", conclusion=conclusion)
        elif held is None:
            run["status"] = "in_progress"
        if report.link:
            run["details_url"] = report.link
        run["external_id"] = report.external_id
        # a held status: its lookup found no run of ours, so this one is created
        run_id = await self._write_run(repository, commit, run, new=replace or held is not None)
        for batch in batches[1:]:
            await self.client.request(
                "PATCH",
                self._path(repository, f"/check-runs/{run_id}"),
                json={"output": {**output, "annotations": list(batch)}},
            )

    def _annotation(self, annotation: Any) -> dict[str, Any]:
        item: dict[str, Any] = {
            "path": self.annotation_path,
            "start_line": 1,
            "end_line": 1,
            "annotation_level": _LEVELS.get(annotation.severity, "failure"),
            "message": first_line(annotation.summary, 4000) or annotation.external_id,
            "title": first_line(annotation.summary, 255),
        }
        if annotation.details:
            item["raw_details"] = annotation.details[:OUTPUT_LIMIT]
        return item

    # -- the review ---------------------------------------------------------------------------

    async def bot_login(self) -> str:
        """The App's user on GitHub (``<slug>[bot]``), from ``GET /app`` once."""
        if not self._bot_login:
            data = await self.client.request("GET", "/app", app_auth=True)
            slug = _str(data, "slug")
            if not slug:
                raise PlatformRequestError("GET /app answered without the App's slug")
            self._bot_login = f"{slug}[bot]"
        return self._bot_login

    async def review(
        self,
        repository: str,
        pr_id: str,
        verdict: ReviewVerdict,
        *,
        previous: ReviewVerdict | None = None,
    ) -> None:
        """Approve, request changes, or dismiss both. GitHub keeps every review and counts a
        reviewer's latest, so a review is sent only when the App's latest one says otherwise,
        and WITHDRAW dismisses the App's standing reviews (422/404 on one already gone: fine)."""
        if verdict is ReviewVerdict.WITHDRAW and previous is ReviewVerdict.WITHDRAW:
            return
        login = await self.bot_login()
        base = self._path(repository, f"/pulls/{pr_id}/reviews")
        ours = [
            r
            async for r in self.client.paginate(base)
            if _str(r, "user", "login") == login
            and _str(r, "state") in ("APPROVED", "CHANGES_REQUESTED", "DISMISSED")
        ]
        latest = _str(ours[-1], "state") if ours else ""
        if verdict is ReviewVerdict.WITHDRAW:
            for r in ours:
                if _str(r, "state") in ("APPROVED", "CHANGES_REQUESTED"):
                    await self.client.request(
                        "PUT",
                        f"{base}/{_str(r, 'id')}/dismissals",
                        json={
                            "message": "Process Guardian: reviews are no longer sent for this "
                            "repository.",
                            "event": "DISMISS",
                        },
                        allow=(404, 422),
                    )
            return
        wanted = "APPROVED" if verdict is ReviewVerdict.APPROVE else "CHANGES_REQUESTED"
        if latest == wanted:
            return
        body = {
            "event": "APPROVE" if verdict is ReviewVerdict.APPROVE else "REQUEST_CHANGES",
            "body": "Process Guardian: every rule passed."
            if verdict is ReviewVerdict.APPROVE
            else "Process Guardian: a rule blocks this pull request; see the "
            f"“{self.check_name}” check for what to fix.",
        }
        await self.client.request("POST", base, json=body)
