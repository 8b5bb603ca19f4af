"""The server's bridge to ``jirahooks.jira``: stored connections → resolvers, connection tests,
JQL validation.

Stored connections hold an encrypted token (and, for OAuth client credentials, an encrypted
client secret), not ``${ENV}`` references, so they are handed to the Jira layer as
``StoredConnection`` — a ``ConnectionConfig`` whose ``secret()`` / ``client_secret_value()``
return the decrypted values (kept out of ``repr``) instead of reading the environment.

OAuth access tokens live in ``jira.auth``'s process cache, shared through Redis (encrypted with
the server's key) when a Redis URL is configured — never in the database. Every client the
resolvers build reports to ``ConnectionHealth`` (server/connection_health.py): a credential
rejected during an evaluation becomes the connection's last result, so the dashboard flags it.

One ``JiraCache`` lives as long as the app, so issue data stays warm between requests; with a
Redis URL its entries live in Redis, shared by every server process.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from jirahooks.crypto import SecretBox, SecretKeyError
from jirahooks.engine.resolver import OfflineResolver, Resolver
from jirahooks.errors import JiraError
from jirahooks.jira.cache import JiraCache, RedisBackend
from jirahooks.rules.config import ConnectionConfig, Deployment
from jirahooks.store.models import Connection, connection_auth, connection_budget

if TYPE_CHECKING:
    from jirahooks.server.connection_health import ConnectionHealth

log = logging.getLogger("jirahooks.server.jira")

# A syntactically valid reference that names no variable anyone sets: it only satisfies
# ConnectionConfig's "no literal secrets" check; StoredConnection.secret() answers instead.
STORED_SECRET_REF = "${JIRAHOOKS_STORED_SECRET}"


@dataclasses.dataclass(frozen=True)
class StoredConnection(ConnectionConfig):
    """A connection from the store, with its decrypted token."""

    plaintext: str = dataclasses.field(default="", repr=False, compare=False)
    client_plaintext: str = dataclasses.field(default="", repr=False, compare=False)
    connection_id: int | None = dataclasses.field(default=None, compare=False)
    # Why the stored token could not be read ("" when it could): such a connection answers
    # every request with a connection problem, so the jira_unreachable policy decides.
    unreadable: str = ""

    def secret(self, path: str = "") -> str:
        return self.plaintext

    def client_secret_value(self, path: str = "") -> str:
        return self.client_plaintext

    @property
    def token_label(self) -> str:
        # Never the placeholder reference: say where an administrator replaces the token.
        return f"the API token stored for connection '{self.name}' (Jira connections → Edit)"


UNREADABLE_HINT = (
    "the token was stored with another secret key: start the server with the key the token was "
    "written with, or enter the connection's token again"
)


def to_config(connection: Connection, box: SecretBox) -> StoredConnection:
    unreadable = ""
    client_secret = getattr(connection, "client_secret_encrypted", "") or ""
    try:
        token = box.decrypt(connection.token_encrypted) if connection.token_encrypted else ""
        client_secret = box.decrypt(client_secret) if client_secret else ""
    except SecretKeyError:
        token = client_secret = ""
        unreadable = "its stored token cannot be decrypted with the server's secret key"
        log.warning(
            "connection %r (id %s): %s (%s)", connection.name, connection.id, unreadable, box
        )
    return StoredConnection(
        name=connection.name,
        url=connection.url,
        deployment=Deployment(connection.deployment),
        email=connection.email,
        account_id=connection.account_id,
        token=STORED_SECRET_REF if token else "",
        timeout_seconds=connection.timeout_seconds,
        max_concurrency=connection.max_concurrency,
        **connection_budget(connection),
        **connection_auth(connection),
        client_secret=STORED_SECRET_REF if client_secret else "",
        plaintext=token,
        client_plaintext=client_secret,
        connection_id=connection.id,
        unreadable=unreadable,
    )


def jira_client(config: StoredConnection, **options: Any) -> Any:
    """The JiraClient of a stored connection; one whose token is unreadable fails every request
    with a connection problem (``SECRET_KEY_INVALID``) and sends nothing."""
    from jirahooks.jira.client import JiraClient

    if not config.unreadable:
        return JiraClient(
            config, secret=config.plaintext, client_secret=config.client_plaintext, **options
        )
    reason = config.unreadable

    class UnreadableTokenClient(JiraClient):
        async def _request(self, *args: Any, **kwargs: Any) -> Any:
            raise JiraError(
                reason,
                hint=UNREADABLE_HINT,
                code="SECRET_KEY_INVALID",
                connection=self.name,
            )

    return UnreadableTokenClient(config, secret="", **options)


class Resolvers:
    """Builds the resolver for one evaluation from the enabled connections, sharing one cache
    (in process, or in Redis when ``redis_url`` is given)."""

    def __init__(
        self,
        box: SecretBox,
        *,
        cache: JiraCache | None = None,
        redis_url: str = "",
        database: Any = None,
    ) -> None:
        self.box = box
        from jirahooks.jira.auth import share_tokens

        # OAuth access tokens: shared through Redis encrypted with the server's key (0010)
        share_tokens(redis_url, box)
        if redis_url:  # the budget per technical user counts across processes (0005)
            from jirahooks.jira.budget import share_budgets

            share_budgets(redis_url)
        self.health: ConnectionHealth | None = None
        if database is not None:
            from jirahooks.server.connection_health import ConnectionHealth

            self.health = ConnectionHealth(database)
        if cache is None:
            backend = RedisBackend(redis_url) if redis_url else None
            # concurrent evaluations share lookups (decision 0005)
            cache = JiraCache(backend, coalesce=True)
        self.cache = cache
        self.observer: Any = None  # the server's metrics (a jira.client.RequestObserver)

    def resolver(
        self,
        connections: Sequence[Connection],
        *,
        deadline_seconds: float | None = None,
        configs: Sequence[StoredConnection] | None = None,
    ) -> Resolver:
        """``configs``: ``connections`` already converted (``to_config``, the Validation API's
        configuration snapshot keeps them), so their tokens are not decrypted again."""
        if not connections:
            return OfflineResolver()
        from jirahooks.jira.chain import ConnectionChain

        # As jirahooks.jira.build_resolver, but a connection whose token cannot be decrypted
        # fails alone (a connection problem), never the whole evaluation.
        if configs is None:
            configs = [to_config(c, self.box) for c in connections]
        health = self.health
        clients = [
            jira_client(
                config,
                observer=self.observer,
                health=health.observer(config.connection_id) if health is not None else None,
            )
            for config in configs
        ]
        return ConnectionChain(clients, cache=self.cache, deadline_seconds=deadline_seconds)

    async def aclose(self) -> None:
        if self.health is not None:
            await self.health.aclose()
        await self.cache.aclose()


def _client(config: StoredConnection) -> Any:
    from jirahooks.retry import RetryPolicy

    # An administrator waiting on "Test connection" wants the first answer, not five retries.
    return jira_client(config, retry=RetryPolicy(max_attempts=1))


async def test_connection(
    connection: Connection, box: SecretBox, *, seconds: float = 10.0
) -> dict[str, Any]:
    """Reachability, deployment, credentials, search and project list (``jira.diagnose``):
    every problem found, each with its real reason and a hint."""
    from jirahooks.jira.diagnose import diagnose

    config = to_config(connection, box)
    found = await diagnose(_client(config), seconds, token_expires_on=connection.token_expires_on)
    me = found.me
    account = {
        "account_id": str(me.get("accountId") or me.get("key") or ""),
        "name": str(me.get("name") or ""),
        "display_name": str(me.get("displayName") or ""),
        "email": str(me.get("emailAddress") or ""),
    }
    detected = found.deployment.value if found.deployment is not None else None
    facts = {"cloud_id": found.cloud_id, "warnings": list(found.warnings)}
    if found.problems:
        first = found.problems[0]
        return {
            "ok": False,
            "code": first.code,
            "message": first.message,
            "hint": first.hint,
            "deployment": detected,
            "account": account if me else None,
            "problems": [p.to_dict() for p in found.problems],
            **facts,
        }
    deployment = config.deployment if config.deployment != Deployment.AUTO else found.deployment
    result: dict[str, Any] = {
        "ok": True,
        "code": "CONNECTED",
        "message": f"connected to {config.url} as {account['display_name'] or account['name']}",
        "hint": "",
        "deployment": str(getattr(deployment, "value", deployment or "")),
        "account": account,
        "problems": [],
        **facts,
    }
    if config.account_id and account["account_id"] and config.account_id != account["account_id"]:
        result["code"] = "ACCOUNT_MISMATCH"
        result["hint"] = (
            f"the token belongs to account {account['account_id']}, the connection names "
            f"{config.account_id}: fix the account ID or the token"
        )
    return result


async def validate_jql(
    connections: Sequence[Connection], box: SecretBox, jql: str, *, seconds: float = 5.0
) -> tuple[list[str], list[str]]:
    """(errors, warnings) for a rule's JQL, asking the first connection that answers."""
    if not connections:
        return [], ["the JQL was not checked: no Jira connection is configured"]
    from jirahooks.jira.api import JiraApi
    from jirahooks.jira.client import Deadline

    warnings: list[str] = []
    for connection in connections:
        client = _client(to_config(connection, box))
        try:
            async with client.session():
                errors: list[str] = await JiraApi(client).validate_jql(jql, Deadline(seconds))
        except JiraError as exc:
            warnings.append(
                f"connection '{connection.name}' could not check the JQL: {exc.message}"
            )
            continue
        return errors, warnings
    return [], [*warnings, "the JQL was not checked: no Jira connection answered"]
