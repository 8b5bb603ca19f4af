"""SQLAlchemy models: the server's tables (product.md's domain model).

Portable types only (String, Text, Integer, Boolean, JSON, timezone-aware DateTime) so the same
Alembic migrations run on SQLite and PostgreSQL. Secrets are stored encrypted (``*_encrypted``
columns, Fernet tokens from ``jirahooks.crypto``); API tokens are stored as SHA-256 hashes.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on both databases (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime,
        dict[str, Any]: JSON,
        list[Any]: JSON,
    }


class Workspace(Base):
    """The top-level tenant. ``settings`` holds the Process Guardian settings as given.

    ``config_version`` goes up by one in every transaction that changes what the Validation API
    reads for the workspace (its settings, repositories, rules, connections, validation tokens):
    ``jirahooks.store.versioning`` bumps it, and the server's per-process snapshots of that
    configuration are only reused while it is unchanged.
    """

    __tablename__ = "workspaces"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(100), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    config_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class Repository(Base):
    """A repository of a workspace: its settings overrides and disabled workspace rules."""

    __tablename__ = "repositories"
    __table_args__ = (UniqueConstraint("workspace_id", "slug"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    slug: Mapped[str] = mapped_column(String(200))
    uuid: Mapped[str | None] = mapped_column(String(100), default=None, index=True)
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    disabled_rules: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    email: Mapped[str] = mapped_column(String(320), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Membership(Base):
    """A role: ``ADMIN``/``MEMBER`` of a workspace (repository_id NULL) or ``ADMIN`` of one
    repository (repository administrator)."""

    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("user_id", "workspace_id", "repository_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    workspace_id: Mapped[int] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    repository_id: Mapped[int | None] = mapped_column(
        ForeignKey("repositories.id", ondelete="CASCADE"), default=None
    )
    role: Mapped[str] = mapped_column(String(20))


class ApiToken(Base):
    """A bearer token for the admin API, stored as a SHA-256 hash (tokens are 256-bit random)."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)


class Connection(Base):
    """A Jira connection (workspace level only), in the admin's order (``position``)."""

    __tablename__ = "connections"
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    url: Mapped[str] = mapped_column(String(500))
    deployment: Mapped[str] = mapped_column(String(20), default="auto")
    email: Mapped[str] = mapped_column(String(320), default="")
    account_id: Mapped[str] = mapped_column(String(200), default="")
    token_encrypted: Mapped[str] = mapped_column(Text, default="")
    position: Mapped[int] = mapped_column(Integer, default=0)
    timeout_seconds: Mapped[float] = mapped_column(Float, default=10.0)
    max_concurrency: Mapped[int] = mapped_column(Integer, default=4)
    # the Jira budget (issue 20, migration 0009): 0 = the cache's default / no ceiling
    budget_per_minute: Mapped[int] = mapped_column(Integer, default=0)
    cache_existence_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    cache_negative_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    cache_fields_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    index_max_issues: Mapped[int] = mapped_column(Integer, default=20_000)
    # The day the API token stops working, as the admin entered it (Atlassian API tokens expire
    # within a year; Jira's 401 for an expired token looks like any other rejected token).
    token_expires_on: Mapped[date | None] = mapped_column(Date, default=None)
    # How it authenticates (issue 15, migration 0010): jira.auth's kinds; "auto" is the
    # reference's behaviour (api_token with an e-mail, else pat). The OAuth client secret is
    # encrypted like the token; access tokens are never stored here (jira.auth.TokenCache).
    auth_kind: Mapped[str] = mapped_column(String(40), default="auto", server_default="auto")
    client_id: Mapped[str] = mapped_column(String(300), default="", server_default="")
    client_secret_encrypted: Mapped[str] = mapped_column(Text, default="", server_default="")
    scopes: Mapped[str] = mapped_column(String(1000), default="", server_default="")
    token_url: Mapped[str] = mapped_column(String(500), default="", server_default="")
    gateway_url: Mapped[str] = mapped_column(String(500), default="", server_default="")
    # discovered from the site's /_edge/tenant_info by the connection test, or entered
    cloud_id: Mapped[str] = mapped_column(String(100), default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Read-only view of the last connection test: written as its own row, so recording a test
    # never counts as a configuration change (store/versioning.py).
    last_test: Mapped[ConnectionTest | None] = relationship(
        lazy="selectin", viewonly=True, uselist=False
    )


class ConnectionTest(Base):
    """The last test of a connection (one row per connection): when, the result, the reason.
    Never the token; the message and hint are the connection test's own (``jira.diagnose``)."""

    __tablename__ = "connection_tests"

    connection_id: Mapped[int] = mapped_column(
        ForeignKey("connections.id", ondelete="CASCADE"), primary_key=True
    )
    tested_at: Mapped[datetime] = mapped_column(default=utcnow)
    ok: Mapped[bool] = mapped_column(Boolean)
    code: Mapped[str] = mapped_column(String(100))
    message: Mapped[str] = mapped_column(Text, default="")
    hint: Mapped[str] = mapped_column(Text, default="")
    # Runtime health (migration 0010): the last request whose credentials Jira accepted, and
    # whether the last result came from a test or from evaluations ("test" / "runtime").
    last_success_at: Mapped[datetime | None] = mapped_column(default=None)
    source: Mapped[str] = mapped_column(String(20), default="test", server_default="test")


class RepositoryConnection(Base):
    """A repository's switch for one workspace connection (no row: enabled)."""

    __tablename__ = "repository_connections"
    __table_args__ = (UniqueConstraint("repository_id", "connection_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    repository_id: Mapped[int] = mapped_column(ForeignKey("repositories.id", ondelete="CASCADE"))
    connection_id: Mapped[int] = mapped_column(ForeignKey("connections.id", ondelete="CASCADE"))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)


class RuleRow(Base):
    """A rule at workspace scope (repository_id NULL) or repository scope; ``definition`` is the
    rule as plain data (the configuration document's form, defaults dropped)."""

    __tablename__ = "rules"
    __table_args__ = (UniqueConstraint("workspace_id", "repository_id", "rule_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    repository_id: Mapped[int | None] = mapped_column(
        ForeignKey("repositories.id", ondelete="CASCADE"), default=None, index=True
    )
    rule_id: Mapped[str] = mapped_column(String(100))
    position: Mapped[int] = mapped_column(Integer, default=0)
    definition: Mapped[dict[str, Any]] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ValidationToken(Base):
    """An HMAC secret for the Validation API, for a repository or the whole workspace."""

    __tablename__ = "validation_tokens"
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    repository_id: Mapped[int | None] = mapped_column(
        ForeignKey("repositories.id", ondelete="CASCADE"), default=None
    )
    name: Mapped[str] = mapped_column(String(200))
    secret_encrypted: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    rotated_at: Mapped[datetime | None] = mapped_column(default=None)
    last_used_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)


class EvaluationRow(Base):
    """One stored run of the Process Guardian (audit trail): append-only, each row a link of its
    workspace's hash chain (``store/chain.py``); no route updates or deletes one."""

    __tablename__ = "evaluations"
    __table_args__ = (UniqueConstraint("workspace_id", "chain_seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    repository_id: Mapped[int | None] = mapped_column(
        ForeignKey("repositories.id", ondelete="SET NULL"), default=None, index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    source: Mapped[str] = mapped_column(String(40))
    trigger: Mapped[str] = mapped_column(String(20))
    branch: Mapped[str] = mapped_column(String(500), default="")
    result: Mapped[str] = mapped_column(String(20), index=True)
    duration_ms: Mapped[float] = mapped_column(Float, default=0.0)
    token_id: Mapped[int | None] = mapped_column(
        ForeignKey("validation_tokens.id", ondelete="SET NULL"), default=None
    )
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    event: Mapped[dict[str, Any]] = mapped_column()
    rules: Mapped[list[Any]] = mapped_column(default=list)
    document: Mapped[dict[str, Any]] = mapped_column()
    issues: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # the X-Request-Id of the request (or PR-worker job) that made it (migration 0008)
    request_id: Mapped[str] = mapped_column(String(100), default="", server_default="", index=True)
    # the workspace's config_version the rules were read at (migration 0012; None: older rows)
    config_version: Mapped[int | None] = mapped_column(Integer, default=None)
    # the hash chain (store/chain.py, migration 0012): link number per workspace and its hash
    chain_seq: Mapped[int | None] = mapped_column(Integer, default=None)
    chain_hash: Mapped[str | None] = mapped_column(String(64), default=None)


class EvaluationChainHead(Base):
    """The last link of a workspace's evaluation chain (store/chain.py): the row writers lock
    to append, and how ``verify`` notices rows deleted at the end of the chain."""

    __tablename__ = "evaluation_chain_heads"

    workspace_id: Mapped[int] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(Integer, default=0)
    hash: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class AuditEntry(Base):
    """One configuration change: who, what, when, before/after (secrets redacted)."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workspace_id: Mapped[int | None] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), default=None, index=True
    )
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(200))
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    action: Mapped[str] = mapped_column(String(60))
    target: Mapped[str] = mapped_column(String(300), default="")
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)


class ServerMeta(Base):
    """Facts about the store itself, by name. ``secret_key_check``: a constant encrypted with the
    server's secret key (``jirahooks.store.keycheck``), so every process and command that opens
    the database with a key can tell, before writing anything, whether it is the right key."""

    __tablename__ = "server_meta"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


# A connection's Jira budget settings (same names in ConnectionConfig, the admin API, the store)
# and their defaults (a row not flushed yet has None where the column default will be).
CONNECTION_BUDGET_DEFAULTS: dict[str, Any] = {
    "budget_per_minute": 0,
    "cache_existence_seconds": 0.0,
    "cache_negative_seconds": 0.0,
    "cache_fields_seconds": 0.0,
    "index_max_issues": 20_000,
}
CONNECTION_BUDGET_FIELDS = tuple(CONNECTION_BUDGET_DEFAULTS)


def connection_budget(source: Any) -> dict[str, Any]:
    """The budget settings of a connection row, a ``ConnectionConfig`` or an API body."""
    values = {name: getattr(source, name, None) for name in CONNECTION_BUDGET_FIELDS}
    return {k: CONNECTION_BUDGET_DEFAULTS[k] if v is None else v for k, v in values.items()}


# How a connection authenticates (issue 15): the same names in ConnectionConfig, the admin API
# and the store; secrets (token, client secret) are not among them.
CONNECTION_AUTH_DEFAULTS: dict[str, Any] = {
    "auth": "auto",
    "client_id": "",
    "scopes": "",
    "token_url": "",
    "gateway_url": "",
    "cloud_id": "",
}
CONNECTION_AUTH_FIELDS = tuple(CONNECTION_AUTH_DEFAULTS)


def connection_auth(source: Any) -> dict[str, Any]:
    """The auth settings of a connection row (``auth_kind``), a ``ConnectionConfig`` or an API
    body (``auth``), by their ConnectionConfig names."""
    values = {
        name: getattr(
            source, "auth_kind" if name == "auth" and hasattr(source, "auth_kind") else name, None
        )
        for name in CONNECTION_AUTH_FIELDS
    }
    return {k: CONNECTION_AUTH_DEFAULTS[k] if v is None else str(v) for k, v in values.items()}
