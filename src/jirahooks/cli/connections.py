"""``jirahooks connections test [NAME]``: can jirahooks reach each Jira connection, as whom?

For each connection of the configuration document (or only NAME), in the admin's order::

    jira-cloud   OK      https://acme.atlassian.net  account: Jirahooks Bot <bot@acme.com> (5b10…)
                         deployment: cloud (configured)
    jira-dc      FAILED  https://jira.acme.com/jira  [JIRA_AUTH_REJECTED] … (HTTP 401)
                         hint: token rejected — rotate it: …

Reachability and the deployment come from ``serverInfo`` (anonymous; a configured deployment
that does not match it is a problem of its own), the account from ``/myself`` (which proves the
token); the search and the project list the evaluation uses are tried too, and every problem
is listed (``jira.diagnose``). Each credential kind (``auth``: api_token, scoped_api_token,
oauth_client_credentials, pat, basic) is tested the way evaluations use it — through the
api.atlassian.com gateway for scoped tokens and Cloud OAuth (the cloudId is printed), with an
OAuth access token fetched from the token endpoint; a rejection says what Jira said ("token
expired", "revoked or blocked by your organisation", "scope missing: read:jira-work"); basic
auth passes with a warning. Exit 0 when every connection is OK, 4 when any failed.
"""

from __future__ import annotations

import argparse
import asyncio
from dataclasses import dataclass, field
from typing import Any

from jirahooks.cli._common import add_config_argument, load_config
from jirahooks.errors import (
    EXIT_ENVIRONMENT,
    EXIT_OK,
    ConfigError,
    JirahooksError,
    UsageError,
)
from jirahooks.rules.config import ConnectionConfig


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    test = sub.add_parser(
        "test",
        help="check reachability, the account used and the deployment type of each connection",
    )
    add_config_argument(test)
    test.add_argument("name", nargs="?", help="test only this connection")
    test.add_argument(
        "--timeout", type=float, default=15.0, metavar="SECONDS", help="budget per connection"
    )
    add_config_argument(sub.add_parser("list", help="list the configured connections"))


@dataclass
class ConnectionReport:
    name: str
    url: str
    ok: bool
    account: str = ""
    deployment: str = ""
    error: JirahooksError | None = None
    more: list[JirahooksError] = field(default_factory=list)  # every further problem
    warnings: list[str] = field(default_factory=list)
    via: str = ""  # "api.atlassian.com (cloudId …)" for gateway kinds
    auth: str = ""  # the auth kind when one is configured (auto: not shown)


def _account(me: dict[str, Any]) -> str:
    name = str(me.get("displayName") or me.get("name") or "?")
    email = str(me.get("emailAddress") or "")
    ident = str(me.get("accountId") or me.get("name") or "")
    text = f"{name} <{email}>" if email else name
    return f"{text} ({ident})" if ident and ident != name else text


async def probe(config: ConnectionConfig, timeout: float) -> ConnectionReport:
    """Test one connection; never raises for Jira or secret problems."""
    from jirahooks.jira.client import Deadline, JiraClient

    try:
        client = JiraClient(
            config, secret=config.secret(), client_secret=config.client_secret_value()
        )
    except ConfigError as exc:  # the ${ENV} variable is not set
        problem = exc.problems[0]
        error = JirahooksError(
            f"{problem.path}: {problem.message}", hint=problem.hint, code=exc.code
        )
        return ConnectionReport(config.name, config.url, False, error=error)
    from jirahooks.jira.diagnose import diagnose

    found = await diagnose(client, timeout)
    via = f"{client.api_url} (cloudId {found.cloud_id})" if found.cloud_id else ""
    if found.problems:
        errors = [JirahooksError(p.message, hint=p.hint, code=p.code) for p in found.problems]
        return ConnectionReport(
            config.name,
            config.url,
            False,
            error=errors[0],
            more=errors[1:],
            warnings=found.warnings,
            via=via,
        )
    deployment = await client.deployment(Deadline(timeout))
    how = "configured" if client.deployment_configured else "detected"
    detail = f"{deployment.value} ({how}"
    if found.server.get("version"):
        detail += f", Jira {found.server['version']}"
    return ConnectionReport(
        config.name,
        config.url,
        True,
        _account(found.me),
        detail + ")",
        warnings=found.warnings,
        via=via,
        auth="" if config.auth == "auto" else client.kind.value,
    )


async def probe_all(configs: list[ConnectionConfig], timeout: float) -> list[ConnectionReport]:
    return list(await asyncio.gather(*(probe(c, timeout) for c in configs)))


def run(args: argparse.Namespace) -> int:
    from jirahooks import output

    _, document = load_config(args.config)
    configs = list(document.connections)
    if args.action == "list":
        for c in configs:
            auth = "" if c.auth == "auto" else f"  auth: {c.auth.value}"
            output.out(f"{c.name}  {c.url}  {c.deployment.value}{auth}")
        if not configs:
            output.out("no Jira connections configured")
        return EXIT_OK
    if args.name:
        configs = [c for c in configs if c.name == args.name]
        if not configs:
            known = ", ".join(c.name for c in document.connections) or "(none)"
            raise UsageError(f"no connection named '{args.name}'", hint=f"known: {known}")
    if not configs:
        output.out("no Jira connections configured: only format checks will run")
        return EXIT_OK
    reports = asyncio.run(probe_all(configs, args.timeout))
    width = max(len(r.name) for r in reports)
    for report in reports:
        status = "OK" if report.ok else "FAILED"
        head = f"{report.name:<{width}}  {status:<6}  {report.url}"
        pad = " " * (width + 10)
        if report.ok:
            output.out(f"{head}  account: {report.account}")
            output.out(f"{pad}deployment: {report.deployment}")
            if report.auth:
                via = f" via {report.via}" if report.via else ""
                output.out(f"{pad}auth: {report.auth}{via}")
        else:
            assert report.error is not None
            output.out(f"{head}  [{report.error.code}] {report.error.message}")
            if report.error.hint:
                output.out(f"{pad}hint: {report.error.hint}")
            for more in report.more:
                output.out(f"{pad}[{more.code}] {more.message}")
                if more.hint:
                    output.out(f"{pad}hint: {more.hint}")
        for warning in report.warnings:
            output.out(f"{pad}warning: {warning}")
    failed = sum(not r.ok for r in reports)
    return EXIT_ENVIRONMENT if failed else EXIT_OK
