"""The Jira REST calls jirahooks makes, for Jira Cloud (v3) and Data Center (v2).

=====================  ====================================  ==================================
need                   Jira Cloud                            Jira Data Center
=====================  ====================================  ==================================
do these keys exist    POST /rest/api/3/issue/bulkfetch      POST /rest/api/2/search
                       (≤ 100 keys; unknown keys absent)     ``key in (...)``, validateQuery
                                                             false, startAt paging
do they match a JQL    POST /rest/api/3/jql/match (ids)      POST /rest/api/2/search
                                                             ``(jql) AND id in (...)``
projects               GET /rest/api/3/project/search        GET /rest/api/2/project
validate a rule's JQL  POST /rest/api/3/jql/parse            POST /rest/api/2/search,
                                                             maxResults 0, validateQuery true
=====================  ====================================  ==================================

JQL is never the existence check on Cloud (``key in (A-1, MISSING-2)`` is undocumented there),
and the removed ``/rest/api/3/search`` is never called.

Moved issues and case variants come back under their *current* key without saying which
requested key matched. ``lookup_keys`` maps by set difference and, when a batch returned issues
nobody asked for by that key, asks again for the leftovers, halving the batch until each
leftover is attributed (``O(moved · log batch)`` extra requests, usually none).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from jirahooks.engine.resolver import IssueData
from jirahooks.errors import JiraError, JiraRequestError, JiraUnavailable
from jirahooks.jira.client import Deadline, JiraClient, JiraHttpError
from jirahooks.rules.config import Deployment
from jirahooks.rules.jql import check as jql_check

FIELDS = ("summary", "status", "issuetype", "fixVersions", "assignee", "project", "updated")
CLOUD_BATCH = 100  # bulkfetch limit
CLOUD_MATCH_BATCH = 1000  # jql/match: issue ids per request
DC_BATCH = 500  # keys per Data Center search (the JQL stays a few KB)
DC_PAGE = 1000  # what we ask for; the server's cap (read back from the answer) wins
CLOUD_PROJECT_PAGE = 100

_KEY_ORDER = re.compile(r"^(.*)-(\d+)$")


def key_order(key: str) -> tuple[str, int]:
    """Sort keys by project, then number: batches then hold few projects (see lookup_keys)."""
    match = _KEY_ORDER.match(key)
    return (match.group(1), int(match.group(2))) if match else (key, 0)


def chunks(items: Sequence[str], size: int) -> list[list[str]]:
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


def quote(value: str) -> str:
    """A JQL string literal (keys are quoted: some project keys are JQL reserved words)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _name(value: Any, attr: str = "name") -> str:
    return str(value.get(attr) or "") if isinstance(value, Mapping) else ""


def parse_issue(raw: Mapping[str, Any], *, connection: str, base_url: str) -> IssueData:
    """An issue bean → ``IssueData`` keyed by its current key (re-keyed by the caller)."""
    fields = raw.get("fields") or {}
    if not isinstance(fields, Mapping):
        fields = {}
    key = str(raw.get("key") or "").upper()
    status = fields.get("status")
    category = status.get("statusCategory") if isinstance(status, Mapping) else None
    assignee = fields.get("assignee")
    assignee_id = ""
    if isinstance(assignee, Mapping):
        assignee_id = str(assignee.get("accountId") or assignee.get("name") or "")
    versions = fields.get("fixVersions") or []
    return IssueData(
        key=key,
        current_key=key,
        id=str(raw.get("id") or ""),
        summary=str(fields.get("summary") or ""),
        status=_name(status),
        status_category=_name(category, "key"),
        issue_type=_name(fields.get("issuetype")),
        fix_versions=tuple(_name(v) for v in versions if isinstance(v, Mapping)),
        assignee=assignee_id,
        connection=connection,
        url=f"{base_url}/browse/{key}" if key else "",
        fields=dict(fields),
    )


@dataclass
class Lookup:
    """What one connection said about a set of keys, filled in as batches complete (so a
    deadline that strikes mid-way keeps every answer already received)."""

    found: dict[str, IssueData] = field(default_factory=dict)
    unknown: set[str] = field(default_factory=set)
    errors: list[JiraError] = field(default_factory=list)

    def answered(self) -> set[str]:
        return set(self.found) | self.unknown


class JiraApi:
    """The calls jirahooks needs, on one connection, for its deployment."""

    def __init__(self, client: JiraClient) -> None:
        self.client = client

    @property
    def name(self) -> str:
        return self.client.name

    async def _cloud(self, deadline: Deadline) -> bool:
        return await self.client.deployment(deadline) == Deployment.CLOUD

    # -- existence ------------------------------------------------------------------------

    async def fetch(self, keys: Sequence[str], deadline: Deadline) -> list[IssueData]:
        """The issues Jira returns for these keys (under their current keys)."""
        if await self._cloud(deadline):
            return await self._bulkfetch(keys, deadline)
        return await self._dc_search(
            "key in (" + ", ".join(quote(k) for k in keys) + ")", deadline, list(FIELDS)
        )

    async def _bulkfetch(self, keys: Sequence[str], deadline: Deadline) -> list[IssueData]:
        body = {"issueIdsOrKeys": list(keys), "fields": list(FIELDS)}
        for _attempt in range(2):
            data = await self.client.request(
                "POST", "/rest/api/3/issue/bulkfetch", json=body, deadline=deadline
            )
            if not isinstance(data, Mapping):
                raise self._bad("bulkfetch answered without an object")
            # issueErrors are retriable problems of issues that exist: ask once more.
            if not data.get("issueErrors"):
                break
        else:
            raise self._bad("bulkfetch kept reporting issueErrors")
        return [self._issue(raw) for raw in data.get("issues") or [] if isinstance(raw, Mapping)]

    async def _dc_search(self, jql: str, deadline: Deadline, fields: list[str]) -> list[IssueData]:
        issues: list[IssueData] = []
        start = 0
        while True:
            body = {
                "jql": jql,
                "startAt": start,
                "maxResults": DC_PAGE,
                "validateQuery": False,
                "fields": fields,
            }
            data = await self.client.request(
                "POST", "/rest/api/2/search", json=body, deadline=deadline
            )
            if not isinstance(data, Mapping):
                raise self._bad("search answered without an object")
            page = [
                self._issue(raw) for raw in data.get("issues") or [] if isinstance(raw, Mapping)
            ]
            issues.extend(page)
            start += len(page)
            total = int(data.get("total") or 0)
            if not page or start >= total:
                return issues

    def _issue(self, raw: Mapping[str, Any]) -> IssueData:
        return parse_issue(raw, connection=self.name, base_url=self.client.base_url)

    def _bad(self, what: str) -> JiraUnavailable:
        return JiraUnavailable(
            f"Jira connection '{self.name}': {what}",
            hint="an unexpected answer; a proxy or an incompatible Jira version?",
            code="JIRA_BAD_RESPONSE",
            connection=self.name,
        )

    async def lookup_keys(
        self, keys: Iterable[str], deadline: Deadline, result: Lookup, *, concurrency: int
    ) -> None:
        """Resolve upper-case keys into ``result``; failures land in ``result.errors`` and the
        keys they concern stay unanswered."""
        ordered = sorted(set(keys), key=key_order)
        if not ordered:
            return
        try:
            cloud = await self._cloud(deadline)  # may detect the deployment: one request
        except JiraError as exc:
            result.errors.append(exc)
            return
        size = CLOUD_BATCH if cloud else DC_BATCH
        gate = asyncio.Semaphore(max(1, concurrency))
        leftovers: list[str] = []

        async def fetch(batch: Sequence[str]) -> list[IssueData] | None:
            try:
                async with gate:
                    # A connection that failed for good (token rejected, down after retries)
                    # is not asked again in this call: its remaining keys stay unanswered.
                    if result.errors:
                        return None
                    return await self.fetch(batch, deadline)
            except JiraError as exc:
                result.errors.append(exc)
                return None

        async def first_pass(batch: list[str]) -> None:
            issues = await fetch(batch)
            if issues is None:
                return
            current = {issue.current_key: issue for issue in issues}
            rest = [k for k in batch if k not in current]
            for key in batch:
                if key in current:
                    result.found[key] = current[key]
            extra = [i for i in issues if i.current_key not in batch]
            if not issues:
                result.unknown.update(rest)
            elif len(rest) == 1 and len(extra) == 1:
                # One key without its issue, one issue without its key: they belong together.
                result.found[rest[0]] = replace(extra[0], key=rest[0])
            else:
                # An issue asked for under an old key may have come back under its new key —
                # possibly deduplicated with a key asked for directly. Ask again to be sure.
                leftovers.extend(rest)

        async def attribute(batch: list[str]) -> None:
            issues = await fetch(batch)
            if issues is None:
                return
            current = {issue.current_key: issue for issue in issues}
            direct = [k for k in batch if k in current]
            for key in direct:
                result.found[key] = current[key]
            rest = [k for k in batch if k not in current]
            extra = [i for i in issues if i.current_key not in direct]
            if not rest:
                return
            if not extra:
                result.unknown.update(rest)
            elif len(rest) == 1:
                result.found[rest[0]] = replace(extra[0], key=rest[0])
            else:
                half = len(rest) // 2
                await asyncio.gather(attribute(rest[:half]), attribute(rest[half:]))

        await asyncio.gather(*(first_pass(b) for b in chunks(ordered, size)))
        if leftovers:
            leftovers.sort(key=key_order)
            await asyncio.gather(*(attribute(b) for b in chunks(leftovers, size)))

    # -- JQL --------------------------------------------------------------------------------

    async def match(self, jql: str, ids: Sequence[str], deadline: Deadline) -> set[str]:
        """Which of these issue ids match ``jql`` (raises ``JiraHttpError`` for a bad JQL)."""
        if not ids:
            return set()
        unsafe = jql_check(jql)
        if unsafe is not None:  # the engine never asks; a JQL that could escape is never sent
            raise JiraRequestError(
                f"Jira connection '{self.name}': the rule's JQL was not sent ({unsafe.message})",
                hint=unsafe.hint,
                code="JIRA_JQL_UNSAFE",
                connection=self.name,
            )
        matched: set[str] = set()
        if await self._cloud(deadline):
            for batch in chunks(list(ids), CLOUD_MATCH_BATCH):
                body = {"issueIds": [int(i) for i in batch], "jqls": [jql]}
                data = await self.client.request(
                    "POST", "/rest/api/3/jql/match", json=body, deadline=deadline
                )
                matches = data.get("matches") if isinstance(data, Mapping) else None
                if not isinstance(matches, list) or not matches:
                    raise self._bad("jql/match answered without matches")
                errors = [str(e) for e in matches[0].get("errors") or []]
                if errors:
                    raise JiraHttpError(
                        f"Jira connection '{self.name}' rejected the JQL: {'; '.join(errors)}",
                        status=400,
                        messages=errors,
                        connection=self.name,
                    )
                matched.update(str(i) for i in matches[0].get("matchedIssues") or [])
            return matched
        # jql_check above refused any ORDER BY, so the condition can be spliced as it is
        base = jql.strip()
        for batch in chunks(list(ids), DC_BATCH):
            condition = f"({base}) AND id in ({', '.join(batch)})"
            issues = await self._dc_search(condition, deadline, ["id"])
            matched.update(i.id for i in issues)
        return matched

    async def validate_jql(self, jql: str, deadline: Deadline) -> list[str]:
        """Jira's errors for a rule's JQL (empty when valid); a JQL that fails the structural
        check is refused without asking Jira."""
        unsafe = jql_check(jql)
        if unsafe is not None:
            return [f"unsafe JQL: {unsafe.message}"]
        if await self._cloud(deadline):
            data = await self.client.request(
                "POST",
                "/rest/api/3/jql/parse",
                params={"validation": "strict"},
                json={"queries": [jql]},
                deadline=deadline,
            )
            queries = data.get("queries") if isinstance(data, Mapping) else None
            if not isinstance(queries, list) or not queries:
                raise self._bad("jql/parse answered without queries")
            return [str(e) for e in queries[0].get("errors") or []]
        body = {"jql": jql, "startAt": 0, "maxResults": 0, "validateQuery": True, "fields": ["id"]}
        try:
            await self.client.request("POST", "/rest/api/2/search", json=body, deadline=deadline)
        except JiraHttpError as exc:
            if exc.status == 400:
                return exc.messages or [exc.message]
            raise
        return []

    # -- projects ---------------------------------------------------------------------------

    async def updated_issues(
        self, projects: Sequence[str], minutes: int, deadline: Deadline
    ) -> list[IssueData]:
        """Issues of these projects updated in the last ``minutes`` (the fallback sweep): one
        paged search — Cloud ``POST /rest/api/3/search/jql`` (``nextPageToken``), Data Center
        ``POST /rest/api/2/search`` (``startAt``)."""
        if not projects:
            return []
        jql = (
            "project in (" + ", ".join(quote(p) for p in sorted(projects)) + ")"
            f' AND updated >= "-{max(1, minutes)}m"'
        )
        if not await self._cloud(deadline):
            return await self._dc_search(jql, deadline, list(FIELDS))
        return await self._cloud_search(jql, deadline) or []  # None only with a limit

    async def project_issues(
        self, project: str, deadline: Deadline, *, limit: int
    ) -> list[IssueData] | None:
        """Every issue of one project (the existence index, decision 0009), with the fields
        the resolver shows; ``None`` (after at most ``limit`` issues read) when the project
        holds more than ``limit`` issues. Cloud: ``POST /rest/api/3/search/jql`` pages of
        100 (Jira returns fewer per page when fields are asked for); Data Center: a
        ``maxResults: 0`` search reads the total first, then ``startAt`` pages."""
        jql = f"project = {quote(project)}"
        if not await self._cloud(deadline):
            body = {"jql": jql, "startAt": 0, "maxResults": 0, "validateQuery": False}
            data = await self.client.request(
                "POST", "/rest/api/2/search", json={**body, "fields": ["id"]}, deadline=deadline
            )
            total = int(data.get("total") or 0) if isinstance(data, Mapping) else 0
            if total > limit:
                return None
            return await self._dc_search(jql, deadline, list(FIELDS))
        return await self._cloud_search(jql, deadline, limit=limit)

    async def _cloud_search(
        self, jql: str, deadline: Deadline, *, limit: int | None = None
    ) -> list[IssueData] | None:
        """Every issue ``jql`` finds on Cloud, with the resolver's fields: ``POST
        /rest/api/3/search/jql`` paged by ``nextPageToken``; ``None`` once more than ``limit``
        issues were read."""
        issues: list[IssueData] = []
        token = ""
        while True:
            page: dict[str, Any] = {"jql": jql, "fields": list(FIELDS), "maxResults": 100}
            if token:
                page["nextPageToken"] = token
            answer = await self.client.request(
                "POST", "/rest/api/3/search/jql", json=page, deadline=deadline
            )
            if not isinstance(answer, Mapping):
                raise self._bad("search/jql answered without an object")
            issues.extend(
                self._issue(raw) for raw in answer.get("issues") or [] if isinstance(raw, Mapping)
            )
            if limit is not None and len(issues) > limit:
                return None
            token = str(answer.get("nextPageToken") or "")
            if answer.get("isLast", True) or not token:
                return issues

    async def projects(self, deadline: Deadline) -> frozenset[str]:
        """Keys of every project the connection's user can see."""
        keys: set[str] = set()
        if await self._cloud(deadline):
            start = 0
            while True:
                params = {"startAt": start, "maxResults": CLOUD_PROJECT_PAGE}
                data = await self.client.request(
                    "GET", "/rest/api/3/project/search", params=params, deadline=deadline
                )
                if not isinstance(data, Mapping):
                    raise self._bad("project/search answered without an object")
                values = [v for v in data.get("values") or [] if isinstance(v, Mapping)]
                keys.update(str(v.get("key") or "").upper() for v in values)
                start += len(values)
                if data.get("isLast", True) or not values:
                    break
        else:
            data = await self.client.request("GET", "/rest/api/2/project", deadline=deadline)
            if not isinstance(data, list):
                raise self._bad("project list answered without a list")
            keys.update(str(v.get("key") or "").upper() for v in data if isinstance(v, Mapping))
        keys.discard("")
        return frozenset(keys)
