"""The fake Jira's endpoints (see fake_jira.py): routing, auth, faults and JSON answers."""

from __future__ import annotations

import base64
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from . import fake_jira_auth as fauth
from . import fake_jira_jql as jqlmod

if TYPE_CHECKING:
    from .fake_jira import FakeIssue, FakeJira, FakeUser, RecordedRequest

JSON = "application/json;charset=UTF-8"
NOT_FOUND = "Issue does not exist or you do not have permission to see it."
Answer = tuple[int, Any]
Handler = Callable[..., Answer]

CLOUD_SEARCH_KEYS = {
    "expand",
    "fields",
    "fieldsByKeys",
    "jql",
    "maxResults",
    "nextPageToken",
    "properties",
    "reconcileIssues",
}
BULKFETCH_KEYS = {"expand", "fields", "fieldsByKeys", "issueIdsOrKeys", "properties"}
DC_SEARCH_KEYS = {"expand", "fields", "jql", "maxResults", "startAt", "validateQuery"}
ALL_FIELDS = ("summary", "status", "issuetype", "fixVersions", "assignee", "project", "updated")
MATCH_MAX_IDS = 1000
MATCH_MAX_JQLS = 100


class ApiError(Exception):
    def __init__(self, status: int, *messages: str) -> None:
        super().__init__(status)
        self.status = status
        self.messages = list(messages)


def errors(*messages: str) -> dict[str, Any]:
    return {"errorMessages": list(messages), "errors": {}}


def _strict_body(body: Any, allowed: set[str]) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ApiError(400, "The request body must be a JSON object.")
    for name in body:
        if name not in allowed:
            raise ApiError(400, f'Unrecognized field "{name}" — not marked as ignorable.')
    return body


def _wanted_fields(values: list[str] | None, default: tuple[str, ...] | None) -> set[str]:
    """Jira's ``fields`` parameter: names, comma lists, ``*all``, ``*navigable``, ``-name``."""
    if not values:
        return set(default or ())
    names = [n.strip() for v in values for n in str(v).split(",") if n.strip()]
    wanted: set[str] = set()
    for name in names:
        if name in ("*all", "*navigable"):
            wanted.update(ALL_FIELDS)
        elif not name.startswith("-"):
            wanted.add(name)
    for name in names:
        if name.startswith("-"):
            wanted.discard(name[1:])
    return wanted & set(ALL_FIELDS)


def _int(value: Any, name: str, default: int) -> int:
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        raise ApiError(400, f"'{name}' must be a number.")
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise ApiError(400, f"'{name}' must be a number.") from exc


class Router:
    """Dispatches a recorded request to an endpoint of the fake's deployment."""

    def __init__(self, fake: FakeJira) -> None:
        self.fake = fake
        cloud = fake.deployment == "cloud"
        self.api = "3" if cloud else "2"
        self.token_path = fauth.CLOUD_TOKEN_PATH if cloud else fauth.DC_TOKEN_PATH
        routes: list[tuple[str, str, Handler, bool]] = [
            ("GET", r"/rest/api/2/serverInfo", self.server_info, True),
            ("GET", r"/rest/api/2/myself", self.myself, False),
            ("GET", r"/rest/api/2/issue/([^/]+)", self.get_issue, False),
        ]
        if cloud:
            routes += [
                ("GET", r"/rest/api/3/serverInfo", self.server_info, True),
                ("GET", r"/rest/api/3/myself", self.myself, False),
                ("GET", r"/rest/api/3/issue/([^/]+)", self.get_issue, False),
                ("POST", r"/rest/api/3/issue/bulkfetch", self.bulkfetch, False),
                ("GET", r"/rest/api/3/search/jql", self.search_jql, False),
                ("POST", r"/rest/api/3/search/jql", self.search_jql, False),
                ("POST", r"/rest/api/3/jql/match", self.jql_match, False),
                ("POST", r"/rest/api/3/jql/parse", self.jql_parse, False),
                ("GET", r"/rest/api/3/project/search", self.project_search, False),
                ("*", r"/rest/api/[23]/search", self.search_gone, True),
            ]
        else:
            routes += [
                ("GET", r"/rest/api/2/search", self.dc_search, False),
                ("POST", r"/rest/api/2/search", self.dc_search, False),
                ("GET", r"/rest/api/2/project", self.dc_projects, False),
            ]
        self.routes = [(m, re.compile(p + "$"), h, a) for m, p, h, a in routes]

    # -- dispatch ---------------------------------------------------------------------------

    def dispatch(self, req: RecordedRequest, inside: bool) -> tuple[int, dict[str, str], Any, str]:
        fake = self.fake
        if not inside:
            return 404, {}, "<html><body>Not Found</body></html>", "text/html"
        fault = fake.take_fault(req.method, req.path)
        if fault is not None:
            fake.wait(fault.hang)
            if fault.status is not None:
                return fault.status, dict(fault.headers), fault.body, fault.content_type
        if req.gateway and (fake.deployment != "cloud" or req.gateway != fake.cloud_id):
            return 404, {}, {"code": 404, "message": "Not Found"}, JSON
        if req.method == "POST" and not req.gateway and req.path == self.token_path:
            status, answer = fauth.token_endpoint(fake, req)
            return status, {"Cache-Control": "no-store"}, answer, JSON
        if (
            req.method == "GET"
            and req.path == fauth.TENANT_INFO_PATH
            and fake.deployment == "cloud"
        ):
            return 200, {}, {"cloudId": fake.cloud_id}, JSON
        user, failed, rejection = fauth.authenticate(fake, req)
        if rejection is not None:
            headers = {"X-Seraph-LoginReason": "AUTHENTICATED_FAILED"} if not req.gateway else {}
            return rejection[0], headers, rejection[1], JSON
        headers: dict[str, str] = {}
        if failed:
            headers["X-Seraph-LoginReason"] = "AUTHENTICATED_FAILED"
        elif user is not None:
            headers["X-Seraph-LoginReason"] = "OK"
        if fake.seraph_reason:
            headers["X-Seraph-LoginReason"] = fake.seraph_reason
        route = self._route(req)
        if route is None:
            return 404, headers, errors(f"null for uri: {fake.url}{req.path}"), JSON
        if route == "method":
            return 405, headers, errors("Method Not Allowed"), JSON
        handler, args, anonymous_ok = route
        if (
            user is None
            and not anonymous_ok
            and (not fake.anonymous_access or handler == self.myself)
        ):
            return (
                401,
                headers,
                errors(
                    "You are not authenticated. Authentication required to perform this operation."
                ),
                JSON,
            )
        try:
            status, payload = handler(req, user, *args)
        except ApiError as exc:
            status, payload = exc.status, errors(*exc.messages)
        except jqlmod.JqlError as exc:
            status, payload = 400, errors(*exc.messages)
        return status, headers, payload, JSON

    def _route(self, req: RecordedRequest) -> Any:
        path_matched = False
        for method, pattern, handler, anonymous_ok in self.routes:
            match = pattern.match(req.path)
            if match:
                path_matched = True
                if method in ("*", req.method):
                    return handler, match.groups(), anonymous_ok
        return "method" if path_matched else None

    # -- beans ------------------------------------------------------------------------------

    def _visible(self, user: FakeUser | None) -> list[FakeIssue]:
        if user is None:
            return []
        with self.fake.lock:
            issues = [i for i in self.fake.issues.values() if not i.hidden]
        return sorted(issues, key=lambda i: int(i.id))

    def _find(self, key: str, user: FakeUser | None) -> FakeIssue | None:
        issue = self.fake.find(key)
        return issue if issue is not None and not issue.hidden and user is not None else None

    def _project_id(self, key: str) -> str:
        with self.fake.lock:
            return str(10000 + sorted(self.fake.projects).index(key))

    def _project(self, key: str) -> dict[str, Any]:
        return {
            "id": self._project_id(key),
            "key": key,
            "name": self.fake.projects.get(key, key),
            "self": f"{self.fake.url}/rest/api/{self.api}/project/{self._project_id(key)}",
        }

    def _user(self, name: str) -> dict[str, Any]:
        base = f"{self.fake.url}/rest/api/{self.api}/user"
        # Jira answers a user's display name; a user the fake knows has one of its own.
        known = {u.account_id: u.display_name for u in self.fake.users} | {
            u.name: u.display_name for u in self.fake.users
        }
        display = known.get(name) or name
        if self.api == "3":
            return {
                "accountId": name,
                "accountType": "atlassian",
                "active": True,
                "displayName": display,
                "self": f"{base}?accountId={name}",
            }
        return {
            "name": name,
            "key": name,
            "displayName": display,
            "active": True,
            "self": f"{base}?username={name}",
        }

    def bean(self, issue: FakeIssue, wanted: set[str]) -> dict[str, Any]:
        url = self.fake.url
        category_names = {"new": "To Do", "indeterminate": "In Progress", "done": "Done"}
        values: dict[str, Any] = {
            "summary": issue.summary,
            "status": {
                "name": issue.status,
                "id": "1",
                "self": f"{url}/rest/api/{self.api}/status/1",
                "statusCategory": {
                    "key": issue.status_category,
                    "name": category_names.get(issue.status_category, issue.status_category),
                    "id": 2,
                    "self": f"{url}/rest/api/{self.api}/statuscategory/2",
                },
            },
            "issuetype": {"name": issue.issue_type, "id": "10001", "subtask": False},
            "fixVersions": [
                {"name": v, "id": str(20000 + n), "released": False, "archived": False}
                for n, v in enumerate(issue.fix_versions)
            ],
            "assignee": self._user(issue.assignee) if issue.assignee else None,
            "project": self._project(issue.project),
            "updated": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(issue.updated))
            + f".{int(issue.updated * 1000) % 1000:03d}+0000",
        }
        return {
            "expand": "renderedFields,names,schema,operations,editmeta,changelog",
            "id": issue.id,
            "key": issue.key,
            "self": f"{url}/rest/api/{self.api}/issue/{issue.id}",
            "fields": {k: v for k, v in values.items() if k in wanted},
        }

    # -- both deployments -------------------------------------------------------------------

    def server_info(self, req: RecordedRequest, user: FakeUser | None) -> Answer:
        cloud = self.fake.deployment == "cloud"
        version = [1001, 0, 0] if cloud else [10, 3, 1]
        return 200, {
            "baseUrl": self.fake.url,
            "version": ".".join(map(str, version)) + ("-SNAPSHOT" if cloud else ""),
            "versionNumbers": version,
            "deploymentType": "Cloud" if cloud else "Server",
            "buildNumber": 100275 if cloud else 10030001,
            "buildDate": "2025-01-08T00:00:00.000+0000",
            "serverTime": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000"),
            "scmInfo": "1f51473f5c7b75c1a69a0090f4832cdc5053702a",
            "serverTitle": "Fake Jira",
        }

    def myself(self, req: RecordedRequest, user: FakeUser) -> Answer:
        if self.fake.deployment == "cloud":
            return 200, {
                "accountId": user.account_id,
                "accountType": "atlassian",
                "active": True,
                "displayName": user.display_name,
                "emailAddress": user.email,
                "self": f"{self.fake.url}/rest/api/3/user?accountId={user.account_id}",
                "timeZone": "Europe/Berlin",
                "locale": "en_US",
            }
        return 200, {
            "key": "JIRAUSER10100",
            "name": user.name,
            "displayName": user.display_name,
            "emailAddress": user.email,
            "active": True,
            "deleted": False,
            "self": f"{self.fake.url}/rest/api/2/user?username={user.name}",
            "timeZone": "Europe/Berlin",
            "locale": "en_US",
        }

    def get_issue(self, req: RecordedRequest, user: FakeUser | None, key: str) -> Answer:
        issue = self._find(key, user)
        if issue is None:
            raise ApiError(404, NOT_FOUND)
        return 200, self.bean(issue, _wanted_fields(req.query.get("fields"), ALL_FIELDS))

    # -- Cloud ------------------------------------------------------------------------------

    def search_gone(self, req: RecordedRequest, user: FakeUser | None) -> Answer:
        raise ApiError(
            410,
            "The requested API has been removed. Please migrate to the /rest/api/3/search/jql "
            "API. A full migration guideline is available at "
            "https://developer.atlassian.com/changelog/#CHANGE-2046",
        )

    def bulkfetch(self, req: RecordedRequest, user: FakeUser | None) -> Answer:
        body = _strict_body(req.body, BULKFETCH_KEYS)
        wanted_keys = body.get("issueIdsOrKeys")
        if not isinstance(wanted_keys, list) or not wanted_keys:
            raise ApiError(400, "At least one issue ID or key must be provided.")
        if len(wanted_keys) > 100:
            raise ApiError(400, "The number of issue IDs or keys must not exceed 100.")
        wanted = _wanted_fields(body.get("fields"), ALL_FIELDS)
        seen: set[str] = set()
        issues = []
        for key in wanted_keys:
            issue = self._find(str(key), user)
            if issue is not None and issue.id not in seen:
                seen.add(issue.id)
                issues.append(self.bean(issue, wanted))
        return 200, {"issues": issues, "issueErrors": []}

    def search_jql(self, req: RecordedRequest, user: FakeUser | None) -> Answer:
        if req.method == "POST":
            body = _strict_body(req.body, CLOUD_SEARCH_KEYS)
            fields = body.get("fields")
        else:
            body = {k: v[-1] for k, v in req.query.items()}
            fields = req.query.get("fields")
        text = str(body.get("jql") or "").strip()
        query = self.fake.parse_jql(text)
        if query.root is None:
            raise ApiError(
                400,
                "Unbounded JQL queries are not allowed here. Please add a "
                "search restriction to your query.",
            )
        limit = max(1, min(_int(body.get("maxResults"), "maxResults", 50), 5000))
        token = str(body.get("nextPageToken") or "")
        try:
            offset = int(base64.urlsafe_b64decode(token.encode()).decode()) if token else 0
        except ValueError as exc:
            raise ApiError(400, "Invalid nextPageToken.") from exc
        account = user.account_id if user else None
        hits = [i for i in self._visible(user) if query.matches(i, account)]
        page = hits[offset : offset + limit]
        wanted = _wanted_fields(fields if isinstance(fields, list) else None, ())
        issues = []
        for issue in page:
            item: dict[str, Any] = {"id": issue.id}
            if wanted:
                item.update(key=issue.key, fields=self.bean(issue, wanted)["fields"])
            issues.append(item)
        answer: dict[str, Any] = {
            "issues": issues,
            "isLast": offset + limit >= len(hits),
        }
        if not answer["isLast"]:
            answer["nextPageToken"] = base64.urlsafe_b64encode(
                str(offset + limit).encode()
            ).decode()
        return 200, answer

    def jql_match(self, req: RecordedRequest, user: FakeUser | None) -> Answer:
        body = _strict_body(req.body, {"issueIds", "jqls"})
        ids, queries = body.get("issueIds"), body.get("jqls")
        if not isinstance(ids, list) or not isinstance(queries, list):
            raise ApiError(400, "issueIds and jqls are required.")
        if not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
            raise ApiError(400, "issueIds must be numbers.")
        if len(ids) > MATCH_MAX_IDS or len(queries) > MATCH_MAX_JQLS:
            raise ApiError(
                400,
                f"At most {MATCH_MAX_IDS} issue IDs and {MATCH_MAX_JQLS} JQL queries are allowed.",
            )
        issues = [i for i in (self._find(str(n), user) for n in ids) if i is not None]
        account = user.account_id if user else None
        matches = []
        for text in queries:
            try:
                query = self.fake.parse_jql(str(text))
            except jqlmod.JqlError as exc:
                matches.append({"matchedIssues": [], "errors": exc.messages})
                continue
            matched = [int(i.id) for i in issues if query.matches(i, account)]
            matches.append({"matchedIssues": matched, "errors": []})
        return 200, {"matches": matches}

    def jql_parse(self, req: RecordedRequest, user: FakeUser | None) -> Answer:
        validation = (req.query.get("validation") or [""])[-1]
        if validation not in ("strict", "warn", "none"):
            raise ApiError(400, "The 'validation' parameter must be strict, warn or none.")
        body = _strict_body(req.body, {"queries"})
        queries = body.get("queries")
        if not isinstance(queries, list) or not queries:
            raise ApiError(400, "queries must not be empty.")
        answers = []
        for text in queries:
            entry: dict[str, Any] = {"query": str(text)}
            try:
                query = self.fake.parse_jql(str(text))
                problems = (
                    query.problems(self.fake.key_exists, self.fake.projects)
                    if validation != "none"
                    else []
                )
            except jqlmod.JqlError as exc:
                problems = exc.messages
            entry["errors"] = list(dict.fromkeys(problems))
            answers.append(entry)
        return 200, {"queries": answers}

    def project_search(self, req: RecordedRequest, user: FakeUser | None) -> Answer:
        start = max(0, _int((req.query.get("startAt") or [""])[-1], "startAt", 0))
        limit = _int((req.query.get("maxResults") or [""])[-1], "maxResults", 50)
        limit = 100 if limit > 100 or limit < 1 else limit
        with self.fake.lock:
            keys = sorted(self.fake.projects) if user is not None else []
        page = keys[start : start + limit]
        last = start + limit >= len(keys)
        base = f"{self.fake.url}/rest/api/3/project/search"
        answer: dict[str, Any] = {
            "self": f"{base}?startAt={start}&maxResults={limit}",
            "maxResults": limit,
            "startAt": start,
            "total": len(keys),
            "isLast": last,
            "values": [self._project(k) for k in page],
        }
        if not last:
            answer["nextPage"] = f"{base}?startAt={start + limit}&maxResults={limit}"
        return 200, answer

    # -- Data Center ------------------------------------------------------------------------

    def dc_search(self, req: RecordedRequest, user: FakeUser | None) -> Answer:
        if req.method == "POST":
            body = _strict_body(req.body, DC_SEARCH_KEYS)
            validate = body.get("validateQuery", True)
            if not isinstance(validate, bool):
                raise ApiError(400, "validateQuery must be a boolean.")
            fields = body.get("fields")
        else:
            body = {k: v[-1] for k, v in req.query.items()}
            validate = str(body.get("validateQuery", "true")).lower() != "false"
            fields = req.query.get("fields")
        query = self.fake.parse_jql(str(body.get("jql") or ""))
        problems = list(dict.fromkeys(query.problems(self.fake.key_exists, self.fake.projects)))
        if validate and problems:
            raise ApiError(400, *problems)
        start = max(0, _int(body.get("startAt"), "startAt", 0))
        limit = max(
            0, min(_int(body.get("maxResults"), "maxResults", 50), self.fake.max_results_cap)
        )
        name = user.name if user else None
        hits = [i for i in self._visible(user) if query.matches(i, name)]
        wanted = _wanted_fields(fields if isinstance(fields, list) else None, ALL_FIELDS)
        answer: dict[str, Any] = {
            "expand": "schema,names",
            "startAt": start,
            "maxResults": limit,
            "total": len(hits),
            "issues": [self.bean(i, wanted) for i in hits[start : start + limit]],
        }
        if problems:
            answer["warningMessages"] = problems
        return 200, answer

    def dc_projects(self, req: RecordedRequest, user: FakeUser | None) -> Answer:
        with self.fake.lock:
            keys = sorted(self.fake.projects) if user is not None else []
        return 200, [self._project(k) for k in keys]
