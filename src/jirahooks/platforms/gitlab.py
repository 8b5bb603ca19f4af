"""GitLab (gitlab.com and self-managed): webhooks in, merge requests fetched, results published.

The :class:`~jirahooks.platforms.base.PlatformAdapter` for one GitLab instance (and, when
``namespace`` is set, one top-level group: repositories are then paths relative to it).
Decisions (docs/gitlab.md):

- **Webhook token.** GitLab sends the hook's secret token verbatim in ``X-Gitlab-Token`` (no
  HMAC): :func:`token_ok` compares it in constant time against every configured secret.
- **Dedupe.** ``request_id`` is ``Idempotency-Key`` (the same on GitLab's retries of one
  delivery) or, from GitLab versions without it, ``X-Gitlab-Event-UUID``. GitLab sends no
  attempt number.
- **Merge request updates.** ``open`` and ``reopen`` evaluate; ``merge`` and ``close`` are
  PULL_REQUEST_CLOSED. An ``update`` evaluates only when it carries new commits (``oldrev``) or
  changes what the rules read (title, description, source or target branch); any other update
  (labels, assignees, reviewers, milestone) is IGNORED — it cannot change the verdict, and an
  evaluation per label click would cost API requests for nothing. An update without a
  ``changes`` object is evaluated (nothing says it is harmless). ``approved`` / ``approval`` /
  ``unapproved`` / ``unapproval`` are IGNORED: jirahooks' own approval would otherwise start an
  evaluation of itself.
- **Results.** A commit status on the MR head (``running`` / ``success`` / ``failed`` /
  ``canceled``); an MR note summarising failures, found again by a hidden marker and by its
  author (the token's own user), edited in place, never posted twice; the external status
  check response (Ultimate) when ``status_check_id`` is set (or ``status_check_name``, found
  in each project's list of checks once and remembered); the veto is approve / unapprove
  (GitLab has no API to request changes: ``REQUEST_CHANGES`` withdraws the approval, and the
  failed status blocks through "Pipelines must succeed" / the status check).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import random
import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx

from jirahooks.event import Commit
from jirahooks.platforms.base import (
    BuildState,
    BuildStatus,
    Delivery,
    DeliveryKind,
    OpenPullRequest,
    PlatformAdapter,
    PlatformAuthError,
    PlatformRequestError,
    PlatformUnavailable,
    PullRequestDetails,
    Report,
    ReviewVerdict,
    first_line,
)
from jirahooks.platforms.gitlab_client import GITLAB_URL, GitLabClient, GitLabCredentials
from jirahooks.platforms.gitlab_hooks import (
    PLATFORM,
    is_recheck_command,
    mr_state,
    parse_delivery,
    split_project,
    str_at,
    token_ok,
)

__all__ = [
    "PLATFORM",
    "GitLab",
    "is_recheck_command",
    "note_body",
    "parse_delivery",
    "split_project",
    "token_ok",
]

log = logging.getLogger("jirahooks.platforms.gitlab")

NOTE_MARKER = "<!-- jirahooks:process-guardian -->"
NOTE_ITEMS = 50  # failures listed in the note; the rest are counted
DESCRIPTION_LIMIT = 255  # GitLab's commit status description column
TARGET_URL_LIMIT = 255
_FULL_HASH = re.compile(r"^[0-9a-f]{40}$")
_TRANSITION = re.compile(r"Cannot transition status via :(\w+) from :(\w+)")
STATE_OF = {
    BuildState.INPROGRESS: "running",
    BuildState.SUCCESSFUL: "success",
    BuildState.FAILED: "failed",
    BuildState.STOPPED: "canceled",
}
CHECK_STATE_OF = {
    BuildState.INPROGRESS: "pending",
    BuildState.SUCCESSFUL: "passed",
    BuildState.FAILED: "failed",
    BuildState.STOPPED: "failed",
}


def commit_from(data: Mapping[str, Any]) -> Commit:
    """A REST commit (``GET …/merge_requests/:iid/commits``, ``…/repository/commits/:sha``)."""
    parents = data.get("parent_ids")
    return Commit(
        hash=str_at(data, "id"),
        message=str_at(data, "message") or str_at(data, "title"),
        author_name=str_at(data, "author_name"),
        author_email=str_at(data, "author_email"),
        parents=tuple(str(p) for p in parents) if isinstance(parents, list) else None,
        url=str_at(data, "web_url") or None,
    )


def target_url_problem(url: str) -> str | None:
    """Why GitLab would refuse ``url`` as a status ``target_url`` (None: fine)."""
    if not url:
        return None
    if urlsplit(url).scheme not in ("http", "https"):
        return f"{url!r} is not an http(s) URL"
    if len(url) > TARGET_URL_LIMIT:
        return f"the link is longer than GitLab's {TARGET_URL_LIMIT} characters"
    return None


_MARKDOWN = re.compile(r"([\\`*_{}\[\]<>()#+!|~])")


def plain(text: str) -> str:
    """``text`` (commit subjects, branch names, Jira summaries: anyone's words) as inert
    Markdown in a note the bot posts: no formatting, links or HTML, no ``@mention`` (``@all``
    would notify everyone), and no line starting with ``/`` — GitLab runs quick actions
    (``/merge``, ``/approve``) in notes with the token's rights."""
    escaped = _MARKDOWN.sub(r"\\\1", text).replace("@", "@\u200b")
    return "\n".join(
        "\\" + line if line.lstrip().startswith("/") else line for line in escaped.splitlines()
    )


def note_body(report: Report) -> str:
    """The MR note: the hidden marker first (how the note is found again), then the result."""
    icon = {"PASSED": "✅", "FAILED": "❌"}.get(report.result, "⏳")
    lines = [NOTE_MARKER, f"### {icon} {plain(report.title)}", "", plain(report.details)]
    shown = report.annotations[:NOTE_ITEMS]
    if shown:
        lines.append("")
        for item in shown:
            lines.append(f"- {plain(first_line(item.summary, 1000))}")
            for detail in item.details.splitlines()[:3]:
                lines.append(f"  > {plain(detail)}")
        rest = len(report.annotations) - len(shown)
        if rest > 0:
            lines.append(f"- … and {rest} more")
    if report.link:
        lines += ["", f"[Details]({report.link})"]
    lines += ["", "_Comment `/jirahooks recheck` to evaluate again._"]
    return "\n".join(lines)


# -- the adapter ------------------------------------------------------------------------------


class GitLab:
    """The GitLab :class:`~jirahooks.platforms.base.PlatformAdapter`.

    ``repository`` arguments are a project id, or a full path (``group/sub/project``) — with
    ``namespace``, a path relative to that group (``sub/project``). ``status_check_id`` is the id of an external
    status check (Ultimate) to answer as well; ``status_check_name`` names one instead, looked
    up in each project (a project without it gets the commit status only); neither: commit
    status only."""

    platform = PLATFORM

    def __init__(
        self,
        credentials: GitLabCredentials,
        *,
        base_url: str = GITLAB_URL,
        namespace: str = "",
        status_check_id: int | None = None,
        status_check_name: str = "",
        client: GitLabClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.namespace = namespace.strip("/")
        self.status_check_id = status_check_id
        self.status_check_name = status_check_name.strip()
        # project → the id of its check called ``status_check_name`` (None: it has none)
        self._check_of: collections.OrderedDict[str, int | None] = collections.OrderedDict()
        self.client = client or GitLabClient(credentials, base_url=base_url, transport=transport)
        self._user_id: str | None = None
        # (project, iid) → our note's id, so an update is one PUT, not a search of every note
        self._note_of: dict[tuple[str, str], str] = {}
        # (project, iid) → the head last fetched: an approval names it, so a head pushed since
        # (not evaluated yet) is never approved
        self._head_of: dict[tuple[str, str], str] = {}
        # (project, head) → MR iids, learnt when fetching an MR: publishing needs no lookup
        self._mrs_of: collections.OrderedDict[tuple[str, str], list[str]] = (
            collections.OrderedDict()
        )

    def __repr__(self) -> str:
        return f"GitLab({self.client.base_url!r}, namespace={self.namespace!r})"

    async def aclose(self) -> None:
        await self.client.aclose()

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> Delivery:
        return parse_delivery(headers, body, namespace=self.namespace)

    def verify_webhook(self, headers: Mapping[str, str], secrets: Iterable[str]) -> bool:
        return token_ok(headers, secrets)

    def project(self, repository: str) -> str:
        """The full project path (or id). With ``namespace``, ``repository`` is always relative
        to it, as :func:`parse_delivery` gives it (a delivery from outside the namespace is the
        caller's to refuse, like Bitbucket's foreign workspace)."""
        if repository.isdigit() or not self.namespace:
            return repository
        return f"{self.namespace}/{repository}"

    def _path(self, repository: str, suffix: str = "") -> str:
        return self.client.project_path(self.project(repository), suffix)

    def _remember(self, repository: str, head: str, iid: str) -> None:
        self._head_of[(self.project(repository), iid)] = head
        while len(self._head_of) > 1024:
            self._head_of.pop(next(iter(self._head_of)))
        key = (self.project(repository), head)
        known = self._mrs_of.setdefault(key, [])
        if iid not in known:
            known.append(iid)
        self._mrs_of.move_to_end(key)
        while len(self._mrs_of) > 1024:
            self._mrs_of.popitem(last=False)

    async def resolve_commit(self, repository: str, ref: str) -> str:
        if _FULL_HASH.match(ref):
            return ref
        data = await self.client.request(
            "GET", self._path(repository, f"/repository/commits/{ref}")
        )
        full = str_at(data, "id")
        if not _FULL_HASH.match(full):
            raise PlatformRequestError(f"GitLab did not resolve commit {ref!r} to a full hash")
        return full

    async def _commits_newest_first(self, repository: str, iid: str) -> list[Commit]:
        path = self._path(repository, f"/merge_requests/{iid}/commits")
        return [commit_from(c) async for c in self.client.paginate(path)]

    async def fetch_pull_request(
        self, repository: str, pr_id: str, *, known: Delivery | None = None
    ) -> PullRequestDetails:
        """The MR and every commit (oldest first). With ``known`` (an MR hook of this MR whose
        head is still the newest commit) the payload stands in for ``GET …/merge_requests/:iid``
        — one request fewer, as for Bitbucket. Only an MR hook whose actor is the MR's author
        can stand in (the payload names the author only by id otherwise)."""
        newest_first: list[Commit] | None = None
        if (
            known is not None
            and known.kind is DeliveryKind.PULL_REQUEST  # a note or push lacks the MR's details
            and known.head
            and known.author  # the hook names the author only when the author acted
            and known.pull_request_id == str(pr_id)
        ):
            newest_first = await self._commits_newest_first(repository, pr_id)
            if newest_first and newest_first[0].hash == known.head and known.state == "OPEN":
                self._remember(repository, known.head, known.pull_request_id)
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
                    commits=tuple(reversed(newest_first)),
                )
        mr: Any = await self.client.request(
            "GET", self._path(repository, f"/merge_requests/{pr_id}")
        )
        head = str_at(mr, "sha")
        if not (newest_first and newest_first[0].hash == head):
            newest_first = await self._commits_newest_first(repository, pr_id)
        if head:
            self._remember(repository, head, str_at(mr, "iid") or str(pr_id))
        return PullRequestDetails(
            id=str_at(mr, "iid") or str(pr_id),
            title=str_at(mr, "title"),
            description=str_at(mr, "description"),
            source_branch=str_at(mr, "source_branch"),
            destination_branch=str_at(mr, "target_branch"),
            head=head or (newest_first[0].hash if newest_first else ""),
            state=mr_state(str_at(mr, "state")),
            author=str_at(mr, "author", "name") or str_at(mr, "author", "username"),
            author_id=str_at(mr, "author", "id"),
            url=str_at(mr, "web_url") or None,
            commits=tuple(reversed(newest_first)),
        )

    async def list_open_pull_requests(
        self, repository: str, *, source_branch: str = ""
    ) -> list[OpenPullRequest]:
        params: dict[str, Any] = {"state": "opened"}
        if source_branch:
            params["source_branch"] = source_branch
        found = [
            OpenPullRequest(
                id=str_at(mr, "iid"),
                head=str_at(mr, "sha"),
                source_branch=str_at(mr, "source_branch"),
            )
            async for mr in self.client.paginate(
                self._path(repository, "/merge_requests"), params=params
            )
        ]
        return [mr for mr in found if not source_branch or mr.source_branch == source_branch]

    async def merge_requests_of(self, repository: str, commit: str) -> list[str]:
        """The iids of the open MRs whose head is ``commit``."""
        known = self._mrs_of.get((self.project(repository), commit))
        if known:
            return list(known)
        path = self._path(repository, f"/repository/commits/{commit}/merge_requests")
        found = [
            str_at(mr, "iid")
            async for mr in self.client.paginate(path)
            if str_at(mr, "state") == "opened" and str_at(mr, "sha") == commit
        ]
        for iid in found:
            self._remember(repository, commit, iid)
        return found

    async def publish_status(self, repository: str, commit: str, status: BuildStatus) -> None:
        state = STATE_OF[status.state]
        body: dict[str, Any] = {
            "state": state,
            "name": status.key,
            "description": first_line(status.description, DESCRIPTION_LIMIT),
        }
        problem = target_url_problem(status.url)
        if problem:
            log.warning("commit status link dropped: %s", problem)
        elif status.url:
            body["target_url"] = status.url
        if status.refname:
            body["ref"] = status.refname
        await self._post_status(repository, commit, body)
        check = await self._status_check(repository)
        if check is not None:
            await self._answer_status_check(repository, commit, status.state, check)

    async def _status_check(self, repository: str) -> int | None:
        """The external status check to answer for ``repository``: the configured id, or the
        id of the project's check called ``status_check_name`` (one list request per
        project, remembered)."""
        if self.status_check_id is not None or not self.status_check_name:
            return self.status_check_id
        project = self.project(repository)
        if project in self._check_of:
            self._check_of.move_to_end(project)
            return self._check_of[project]
        found: int | None = None
        async for item in self.client.paginate(self._path(repository, "/external_status_checks")):
            if item.get("name") == self.status_check_name and isinstance(item.get("id"), int):
                found = int(item["id"])
                break
        if found is None:
            log.info(
                "GitLab project %s has no external status check named %r: commit status only",
                project,
                self.status_check_name,
            )
        self._check_of[project] = found
        while len(self._check_of) > 1024:
            self._check_of.popitem(last=False)
        return found

    async def _post_status(self, repository: str, commit: str, body: dict[str, Any]) -> None:
        """POST the status. Two GitLab answers are not failures of ours:

        - 400 "Cannot transition status via :run from :running": GitLab keeps one
          pending/running status per name and ref and refuses to move it to the state it is
          in — that status already says what we wanted to say;
        - 409: another request holds the commit's status lock (concurrent updates of one
          commit): retried with backoff, then PlatformUnavailable so the queue retries later.
        """
        retry = self.client.retry
        attempt = 0
        while True:
            attempt += 1
            try:
                await self.client.request(
                    "POST", self._path(repository, f"/statuses/{commit}"), json=body
                )
                return
            except PlatformRequestError as exc:
                moved = _TRANSITION.search(exc.message)
                if exc.status == 400 and moved and moved.group(2) == body["state"]:
                    return
                if exc.status != 409:
                    raise
                if attempt >= retry.max_attempts:
                    raise PlatformUnavailable(
                        f"GitLab kept the status of {commit[:12]} locked: {exc.message}",
                        hint="another request is updating this commit's status; the work is "
                        "retried later",
                        status=409,
                    ) from exc
            await asyncio.sleep(retry.backoff(attempt, random.random()))

    async def _answer_status_check(
        self, repository: str, commit: str, state: BuildState, check: int
    ) -> None:
        """409: the MR's head moved on since (GitLab takes responses for the head only); the
        new head gets its own evaluation, so this stale answer is dropped."""
        for iid in await self.merge_requests_of(repository, commit):
            await self.client.request(
                "POST",
                self._path(repository, f"/merge_requests/{iid}/status_check_responses"),
                json={
                    "sha": commit,
                    "external_status_check_id": check,
                    "status": CHECK_STATE_OF[state],
                },
                allow=(409,),
            )

    async def user_id(self) -> str:
        """The token's own user (a project/group access token has a bot user)."""
        if self._user_id is None:
            self._user_id = str_at(await self.client.request("GET", "/user"), "id")
        return self._user_id

    async def find_note(self, repository: str, iid: str) -> str | None:
        """Our summary note on the MR: the marker, written by the token's user, not a system
        note (anyone can paste the marker; only our own note may be edited)."""
        me = await self.user_id()
        path = self._path(repository, f"/merge_requests/{iid}/notes")
        async for note in self.client.paginate(path, params={"sort": "asc"}):
            if (
                not note.get("system")
                and NOTE_MARKER in str_at(note, "body")
                and str_at(note, "author", "id") == me
            ):
                return str_at(note, "id")
        return None

    async def publish_report(
        self, repository: str, commit: str, report: Report, *, replace: bool = True
    ) -> None:
        """The MR note, updated in place (``replace`` changes nothing: the note is always
        edited, never posted twice). A passing result creates no note, but turns an earlier
        failure note into "passed"."""
        body = {"body": note_body(report)}
        for iid in await self.merge_requests_of(repository, commit):
            notes = self._path(repository, f"/merge_requests/{iid}/notes")
            key = (self.project(repository), iid)
            note_id = self._note_of.get(key)
            if note_id:
                # remembered from before: one PUT; 404 — someone deleted it — looks again
                if await self.client.request("PUT", f"{notes}/{note_id}", json=body, allow=(404,)):
                    continue
                self._note_of.pop(key, None)
            note_id = await self.find_note(repository, iid)
            if note_id:
                await self.client.request("PUT", f"{notes}/{note_id}", json=body)
            elif report.result == "FAILED":
                created = await self.client.request("POST", notes, json=body)
                note_id = str_at(created, "id")
            if note_id:
                self._note_of[key] = note_id
                while len(self._note_of) > 1024:
                    self._note_of.pop(next(iter(self._note_of)))

    async def _approved(self, repository: str, iid: str) -> bool:
        data = await self.client.request(
            "GET", self._path(repository, f"/merge_requests/{iid}/approvals")
        )
        return bool((data or {}).get("user_has_approved"))

    async def review(
        self,
        repository: str,
        pr_id: str,
        verdict: ReviewVerdict,
        *,
        previous: ReviewVerdict | None = None,
    ) -> None:
        """Approve, or withdraw our approval (REQUEST_CHANGES and WITHDRAW: GitLab's API has no
        change request). The approval state is read first: GitLab answers 401 to approving an
        MR the user approved already, which must not read as a revoked token. The approval
        names the head last fetched (``sha``): GitLab refuses it (409) when commits were pushed
        since, and the MR stays unapproved until that head is evaluated."""
        base = self._path(repository, f"/merge_requests/{pr_id}")
        approved = await self._approved(repository, pr_id)
        if verdict is ReviewVerdict.APPROVE:
            if approved:
                return
            head = self._head_of.get((self.project(repository), str(pr_id)))
            try:
                moved = await self.client.request(
                    "POST", base + "/approve", json={"sha": head} if head else None, allow=(409,)
                )
                if moved is None:  # 409: the head moved on; its own evaluation decides
                    log.info("MR !%s: not approved, its head moved past %s", pr_id, head)
            except PlatformAuthError as exc:
                if exc.status != 401 or not await self._approved(repository, pr_id):
                    raise
        elif approved:
            await self.client.request("POST", base + "/unapprove", allow=(404,))


if TYPE_CHECKING:

    def _conforms(adapter: GitLab) -> PlatformAdapter:
        return adapter  # mypy checks that GitLab implements the protocol
