"""A connection test that reports every problem with its real reason.

``diagnose(client)`` asks, in order and each within the budget:

1. ``GET /rest/api/2/serverInfo`` (anonymous, served by both deployments): reachable? Its
   ``deploymentType`` (``Cloud``, or ``Server``/``DataCenter``) is compared with the configured
   deployment — a Data Center connection pointed at a Cloud site fails with that reason and a
   hint, not with whatever 404 a later call gets;
2. ``/myself`` (proves the token);
3. the search the evaluation will use — Data Center ``POST /rest/api/2/search`` (Cloud answers
   410: the endpoint was removed there), Cloud ``POST /rest/api/3/jql/parse``;
4. the project list (``ignore_unknown_projects`` needs it; a 404, an SSO page or a missing
   permission there make keys of unlisted projects undetermined).

0. the credential's own requests (``jira.auth``): the site's cloudId from ``/_edge/tenant_info``
   (gateway kinds; kept in ``cloud_id`` so the server stores it) and an OAuth access token —
   a failure here (``OAUTH_CLIENT_REJECTED``, ``JIRA_SCOPE_MISSING``, ``JIRA_CLOUD_ID_UNKNOWN``)
   stops the test: nothing further can be asked.

Rejections say what Jira said (``jira.client``): ``TOKEN_EXPIRED``, ``TOKEN_REVOKED`` ("revoked
or blocked by your organisation"), ``JIRA_SCOPE_MISSING`` ("scope missing: read:jira-work").
``basic`` auth passes with a warning (``warnings``): Data Center deprecates it.

Every problem found is kept (not only the first); a connection that cannot be reached at all
stops after step 1. Problems name the connection once, in the test's own header.

Expired tokens: Atlassian API tokens (and Data Center personal access tokens) expire, and Jira
answers an expired token exactly like a wrong one — ``401`` on ``/myself`` ("credentials are
incorrect or missing", both specs), no reason in the body or headers. So the test cannot learn
the expiry from Jira; it learns it from the expiry date the administrator entered: a rejected
token past that date is reported as ``TOKEN_EXPIRED``, and a rejected token without a date says
that expiry is one possible cause.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from jirahooks.errors import JiraError
from jirahooks.jira.client import Deadline, JiraClient, JiraHttpError
from jirahooks.rules.config import Deployment


@dataclass(frozen=True, slots=True)
class Problem:
    code: str
    message: str
    hint: str = ""

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message, "hint": self.hint}


@dataclass
class Diagnosis:
    """What a connection test found; ``ok`` when there is no problem."""

    server: dict[str, Any] = field(default_factory=dict)
    me: dict[str, Any] = field(default_factory=dict)
    deployment: Deployment | None = None  # what the server says it is
    problems: list[Problem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # not problems: the test still passes
    cloud_id: str = ""  # the gateway's cloudId, configured or discovered

    @property
    def ok(self) -> bool:
        return not self.problems


def _detail(error: JiraError, name: str) -> str:
    from jirahooks.jira.chain import without_connection

    return without_connection(error.message, name)


def server_deployment(info: dict[str, Any]) -> Deployment | None:
    """``serverInfo.deploymentType`` → the deployment (``None`` when it does not say)."""
    kind = str(info.get("deploymentType") or "").strip().lower()
    if kind == "cloud":
        return Deployment.CLOUD
    if kind in ("server", "datacenter", "data center"):
        return Deployment.DATACENTER
    return None


def _mismatch(configured: Deployment, actual: Deployment, info: dict[str, Any]) -> Problem:
    reported = info.get("deploymentType")
    if actual is Deployment.CLOUD:
        return Problem(
            "JIRA_DEPLOYMENT_MISMATCH",
            f"the connection is set to {configured.value}, but this is a Jira Cloud site "
            f"(serverInfo.deploymentType: {reported})",
            "this is a Jira Cloud site: set deployment to cloud (or auto), with the account's "
            "e-mail and an API token",
        )
    return Problem(
        "JIRA_DEPLOYMENT_MISMATCH",
        f"the connection is set to {configured.value}, but this is Jira Data Center / Server "
        f"(serverInfo.deploymentType: {reported})",
        "this is a Jira Data Center / Server: set deployment to datacenter (or auto), with a "
        "personal access token",
    )


async def _search_probe(client: JiraClient, cloud: bool, deadline: Deadline) -> None:
    if cloud:
        await client.request(
            "POST",
            "/rest/api/3/jql/parse",
            params={"validation": "none"},
            json={"queries": ["project is not EMPTY"]},
            deadline=deadline,
        )
    else:
        body = {"jql": "", "startAt": 0, "maxResults": 0, "validateQuery": False, "fields": ["id"]}
        await client.request("POST", "/rest/api/2/search", json=body, deadline=deadline)


TOKEN_EXPIRED = "TOKEN_EXPIRED"
_REJECTED = "JIRA_AUTH_REJECTED"


def explain_expiry(
    problems: list[Problem], expires_on: date | None, today: date | None = None
) -> list[Problem]:
    """A rejected token past its expiry date becomes ``TOKEN_EXPIRED``; without a date (or
    before it) the rejection's hint names expiry as one possible cause. Other problems stay."""
    today = today or date.today()
    out: list[Problem] = []
    for problem in problems:
        if problem.code != _REJECTED:
            out.append(problem)
        elif expires_on is not None and expires_on <= today:
            out.append(
                Problem(
                    TOKEN_EXPIRED,
                    f"the API token expired on {expires_on.isoformat()}: {problem.message}",
                    "create a new API token for the connection's user (Cloud: Atlassian account "
                    "→ Security → API tokens; Data Center: Profile → Personal access tokens), "
                    "enter it here with its new expiry date",
                )
            )
        else:
            why = (
                f"the token is set to expire on {expires_on.isoformat()}, so it should still "
                "work: it is wrong or was revoked"
                if expires_on is not None
                else "API tokens expire (Atlassian: within a year): an expired token is "
                "rejected the same way — enter the token's expiry date to tell them apart"
            )
            hint = f"{problem.hint}; {why}" if problem.hint else why
            out.append(Problem(problem.code, problem.message, hint))
    return out


async def diagnose(
    client: JiraClient, seconds: float = 10.0, *, token_expires_on: date | None = None
) -> Diagnosis:
    """Test one connection (see the module docstring); never raises for Jira problems."""
    result = await _diagnose(client, seconds)
    result.problems = list(dict.fromkeys(explain_expiry(result.problems, token_expires_on)))
    return result


async def _diagnose(client: JiraClient, seconds: float) -> Diagnosis:
    from jirahooks.jira.api import JiraApi
    from jirahooks.jira.auth import BASIC_WARNING
    from jirahooks.rules.config import AuthKind

    result = Diagnosis()
    name = client.name
    deadline = Deadline(seconds)
    if client.kind is AuthKind.BASIC:
        result.warnings.append(BASIC_WARNING)
    async with client.session():
        try:
            await client.prepare(deadline)
        except JiraError as exc:
            result.problems.append(Problem(exc.code, _detail(exc, name), exc.hint))
            return result
        result.cloud_id = client.cloud_id
        try:
            result.server = await client.server_info(deadline)
        except JiraHttpError as exc:  # answered, but not with serverInfo: a wrong URL?
            result.problems.append(
                Problem(
                    exc.code,
                    _detail(exc, name),
                    "is the URL Jira's base URL (with the context path, e.g. /jira)?",
                )
            )
        except JiraError as exc:
            result.problems.append(Problem(exc.code, _detail(exc, name), exc.hint))
            if exc.code in ("JIRA_UNAVAILABLE", "JIRA_TIMEOUT"):
                return result  # nothing answers: every further call would say the same
        result.deployment = server_deployment(result.server)
        configured = client.config.deployment
        if (
            configured != Deployment.AUTO
            and result.deployment is not None
            and Deployment(configured) is not result.deployment
        ):
            result.problems.append(
                _mismatch(Deployment(configured), result.deployment, result.server)
            )
        cloud = await _is_cloud(client, result, deadline)
        try:
            result.me = await client.myself(deadline)
        except JiraError as exc:
            result.problems.append(Problem(exc.code, _detail(exc, name), exc.hint))
        try:
            await _search_probe(client, cloud, deadline)
        except JiraHttpError as exc:
            path = "/rest/api/3/jql/parse" if cloud else "/rest/api/2/search"
            why = " (the endpoint was removed on Jira Cloud)" if exc.status == 410 else ""
            result.problems.append(
                Problem(
                    "JIRA_SEARCH_UNAVAILABLE",
                    f"the {'Cloud' if cloud else 'Data Center'} search {path} answered "
                    f"HTTP {exc.status}{why}: issue keys cannot be looked up",
                    "check the connection's deployment setting"
                    if not result.problems
                    else "fix the problems above first",
                )
            )
        except JiraError as exc:
            result.problems.append(Problem(exc.code, _detail(exc, name), exc.hint))
        try:
            await JiraApi(client).projects(deadline)
        except JiraError as exc:
            result.problems.append(
                Problem(
                    "JIRA_PROJECTS_UNREADABLE",
                    f"the project list cannot be read: {_detail(exc, name)}",
                    "rules that ignore unknown projects then treat keys of unlisted projects as "
                    "undetermined (the Jira-unreachable policy decides); the connection's user "
                    "needs the Browse projects permission",
                )
            )
    result.problems = list(dict.fromkeys(result.problems))
    return result


async def _is_cloud(client: JiraClient, result: Diagnosis, deadline: Deadline) -> bool:
    """The deployment the evaluation will use (configured, else detected)."""
    try:
        return await client.deployment(deadline) == Deployment.CLOUD
    except JiraError:
        return result.deployment is Deployment.CLOUD
