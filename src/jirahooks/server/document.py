"""Configuration as code: apply a configuration document to the store, export it back.

``apply_document`` is idempotent: applying the same document twice changes nothing the second
time (and writes no audit entries). It manages what the document declares — the workspace's
settings, its connections (in order), workspace rules, the listed repositories with their
overrides, connection switches, disabled and own rules, validation tokens, and the Bitbucket
Cloud configuration (``bitbucket:``; the ``app_password`` alias is stored as ``api_token`` and
noted as a warning). Objects the document does not mention are left alone unless ``prune`` is
set.

Secrets come from ``${ENV}`` references. A reference whose variable is unset keeps the stored
secret of an existing connection or token (so an exported document re-applies cleanly) and is
an error for a new one — and for a connection whose URL, deployment, e-mail or account ID
changes: a stored token is only sent where it was entered (``jirahooks.server.binding``). ``export_document`` writes every secret as a reference
(``${JIRAHOOKS_CONNECTION_<NAME>_TOKEN}``, ``${JIRAHOOKS_VALIDATION_TOKEN_<NAME>}``,
``${JIRAHOOKS_BITBUCKET_TOKEN}``, ``${JIRAHOOKS_BITBUCKET_WEBHOOK_SECRET}``, and for the hosts of
``platforms:`` ``${JIRAHOOKS_GITHUB_PRIVATE_KEY}``, ``${JIRAHOOKS_GITLAB_TOKEN}``,
``${JIRAHOOKS_BITBUCKET_DC_TOKEN}``, ``${JIRAHOOKS_<HOST>_WEBHOOK_SECRET}``), never a value.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from jirahooks.crypto import SecretBox, SecretKeyError
from jirahooks.errors import ConfigError, ConfigProblem
from jirahooks.rules.config import BitbucketConfig, ConfigDocument, ConnectionConfig
from jirahooks.server import binding
from jirahooks.server.auth import Role
from jirahooks.server.bootstrap import ensure_workspace
from jirahooks.store import queries
from jirahooks.store.deliveries import PlatformConfig
from jirahooks.store.models import (
    CONNECTION_AUTH_DEFAULTS,
    Connection,
    Membership,
    Repository,
    RepositoryConnection,
    RuleRow,
    User,
    ValidationToken,
    Workspace,
    connection_auth,
    connection_budget,
    utcnow,
)

_ENV_REF = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")
BITBUCKET_TOKEN_REF = "${JIRAHOOKS_BITBUCKET_TOKEN}"
BITBUCKET_SECRET_REF = "${JIRAHOOKS_BITBUCKET_WEBHOOK_SECRET}"

log = logging.getLogger("jirahooks.server.document")


@dataclass
class ApplyReport:
    """What ``apply_document`` changed, one line per change."""

    changes: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, text: str) -> None:
        self.changes.append(text)


def _env_value(reference: str, environ: dict[str, str] | os._Environ[str]) -> str | None:
    match = _ENV_REF.match(reference)
    if not match:
        return None
    return environ.get(match.group(1)) or None


def _env_name(prefix: str, name: str) -> str:
    return prefix + re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_").upper()


class _Applier:
    def __init__(
        self, session: AsyncSession, box: SecretBox, actor: str, environ: dict[str, str] | None
    ) -> None:
        self.session = session
        self.box = box
        self.actor = actor
        self.environ = os.environ if environ is None else environ
        self.report = ApplyReport()
        self.workspace: Workspace

    def audit(self, action: str, target: str, before: Any = None, after: Any = None) -> None:
        queries.audit(
            self.session,
            workspace_id=self.workspace.id,
            actor=self.actor,
            action=action,
            target=target,
            before=before,
            after=after,
        )
        self.report.add(f"{action} {target}")

    def secret(self, reference: str, path: str, stored: str) -> str:
        """The new ciphertext: unchanged when the value is unset or equal to the stored one."""
        value = _env_value(reference, self.environ)
        if value is None:
            if not stored:
                match = _ENV_REF.match(reference)
                var = match.group(1) if match else reference
                raise ConfigError(
                    [
                        ConfigProblem(
                            path, f"environment variable {var} is not set", f"export {var}=…"
                        )
                    ]
                )
            self.report.notes.append(f"{path}: {reference} is unset, the stored secret is kept")
            return stored
        if stored and self._readable(stored) == value:
            return stored
        return self.box.encrypt(value)

    def _readable(self, stored: str) -> str | None:
        """The stored plaintext; None when it cannot be decrypted with the server's key (it was
        written with another one): the document's value then replaces it."""
        try:
            return self.box.decrypt(stored)
        except SecretKeyError:
            self.report.notes.append(
                "a stored secret could not be decrypted with the server's key and is replaced "
                "by the document's value"
            )
            return None


def _require_token_to_rebind(
    row: Connection, values: dict[str, Any], path: str, reference: str, *, supplied: bool
) -> None:
    """A stored token stays with the Jira and user it was entered for (``binding``): a new URL,
    deployment, e-mail or account ID needs the token's variable set."""
    if supplied or not (row.token_encrypted or row.client_secret_encrypted):
        return
    before = binding.jira_binding(row.url, row.deployment, row.email, row.account_id)
    after = binding.jira_binding(
        values["url"], values["deployment"], values["email"], values["account_id"]
    )
    # the OAuth client secret is sent to the token URL for this client, the token to the gateway
    for name in ("auth_kind", "client_id", "token_url", "gateway_url"):
        before[name] = str(getattr(row, name) or "")
        after[name] = str(values.get(name, before[name]) or "")
    fields = binding.changed(before, after)
    if fields:
        match = _ENV_REF.match(reference)
        hint = (
            f"export {match.group(1)}=<the token for the new {', '.join(fields)}>"
            if match
            else "give the connection a token: ${VARIABLE} and set the variable"
        )
        raise ConfigError(
            [
                ConfigProblem(
                    path,
                    f"connection '{row.name}': " + binding.token_required_message(fields),
                    hint,
                )
            ]
        )


async def apply_document(
    session: AsyncSession,
    box: SecretBox,
    document: ConfigDocument,
    *,
    actor: str = "cli:apply",
    prune: bool = False,
    environ: dict[str, str] | None = None,
    default_workspace: str = "default",
) -> ApplyReport:
    """Load ``document`` into the store (the caller commits).

    Who administers the workspace: the document's ``admins`` (made ADMIN; users that do not
    exist yet are created, without a token). A workspace the document creates without ``admins``
    gets the administrators of ``default_workspace`` (the server's first-start workspace), so
    someone can always reach it."""
    a = _Applier(session, box, actor, environ)
    new = await queries.workspace_by_slug(session, document.workspace) is None
    a.workspace = ws = await ensure_workspace(session, document.workspace, actor=actor)
    await _apply_admins(a, document, new=new, default_workspace=default_workspace)
    if (ws.settings or {}) != dict(document.settings_raw):
        a.audit("settings.update", f"workspace:{ws.slug}", ws.settings, dict(document.settings_raw))
        ws.settings = dict(document.settings_raw)
    by_name = {c.name: c for c in await queries.connections(session, ws.id)}
    for position, config in enumerate(document.connections):
        row = by_name.pop(config.name, None)
        path = f"connections[{position}].token"
        values = {
            "url": config.url.rstrip("/"),
            "deployment": config.deployment.value,
            "email": config.email,
            "account_id": config.account_id,
            "position": position,
            "timeout_seconds": config.timeout_seconds,
            "max_concurrency": config.max_concurrency,
            **connection_budget(config),
            **_auth_columns(config),
        }
        secret_path = f"connections[{position}].client_secret"
        if row is None:
            token = a.secret(config.token, path, "") if config.token else ""
            client_secret = (
                a.secret(config.client_secret, secret_path, "") if config.client_secret else ""
            )
            row = Connection(
                workspace_id=ws.id,
                name=config.name,
                token_encrypted=token,
                client_secret_encrypted=client_secret,
                **values,
            )
            session.add(row)
            a.audit(
                "connection.create",
                f"connection:{config.name}",
                None,
                {**values, "token": bool(token), "client_secret": bool(client_secret)},
            )
            continue
        client_secret = (
            a.secret(config.client_secret, secret_path, row.client_secret_encrypted)
            if config.client_secret
            else row.client_secret_encrypted
        )
        token = (
            a.secret(config.token, path, row.token_encrypted)
            if config.token
            else row.token_encrypted
        )
        supplied = any(
            bool(ref) and _env_value(ref, a.environ) is not None
            for ref in (config.token, config.client_secret)
        )
        _require_token_to_rebind(row, values, path, config.token, supplied=supplied)
        before = {k: getattr(row, k) for k in values}
        secrets_changed = (
            token != row.token_encrypted or client_secret != row.client_secret_encrypted
        )
        if before != values or secrets_changed:
            for key, value in values.items():
                setattr(row, key, value)
            after = {**values, "token_changed": token != row.token_encrypted}
            if client_secret != row.client_secret_encrypted:
                after["client_secret_changed"] = True
            row.token_encrypted = token
            row.client_secret_encrypted = client_secret
            row.updated_at = utcnow()
            a.audit("connection.update", f"connection:{config.name}", before, after)
    if prune:
        for row in by_name.values():
            a.audit("connection.delete", f"connection:{row.name}", {"name": row.name}, None)
            await session.delete(row)
    await session.flush()
    await _apply_rules(a, None, list(document.rules), prune)
    connections = {c.name: c for c in await queries.connections(session, ws.id)}
    for repo_config in document.repositories:
        repo = await queries.repository_by_slug(session, ws.id, repo_config.slug)
        if repo is None:
            repo = Repository(
                workspace_id=ws.id, slug=repo_config.slug, settings={}, disabled_rules=[]
            )
            session.add(repo)
            await session.flush()
            a.audit("repository.create", f"repository:{repo.slug}", None, {"slug": repo.slug})
        overrides = dict(repo_config.settings_overrides)
        if (repo.settings or {}) != overrides:
            a.audit("settings.update", f"repository:{repo.slug}", repo.settings, overrides)
            repo.settings = overrides
        disabled = list(repo_config.disable_rules)
        if list(repo.disabled_rules or []) != disabled:
            a.audit(
                "repository.update",
                f"repository:{repo.slug}",
                {"disabled_rules": repo.disabled_rules},
                {"disabled_rules": disabled},
            )
            repo.disabled_rules = disabled
        await _apply_switches(a, repo, connections, repo_config.connections)
        await _apply_rules(a, repo, list(repo_config.rules), prune)
    await _apply_tokens(a, document, prune)
    if document.bitbucket is not None:
        await _apply_bitbucket(a, document.bitbucket)
    for platform, section in (document.platforms or {}).items():
        await _apply_platform(a, platform, section)
    await session.flush()
    return a.report


async def _apply_bitbucket(a: _Applier, doc: BitbucketConfig) -> None:
    """The ``bitbucket:`` section, checked as the admin API checks a ``PUT``; the token stays
    with the API URL, auth kind, user and Bitbucket workspace it was entered for."""
    from jirahooks.pipeline.queue import platform_config
    from jirahooks.platforms.bitbucket_auth import APP_PASSWORD_WARNING, normalize_kind
    from jirahooks.platforms.bitbucket_client import API_URL
    from jirahooks.platforms.bitbucket_cloud import PLATFORM
    from jirahooks.server import bitbucket_admin
    from jirahooks.server.errors import ApiError

    ws = a.workspace
    body = bitbucket_admin.BitbucketConfigIn(
        token=None,
        webhook_secret=None,
        auth_kind=doc.auth_kind.value,
        username=doc.username,
        public_url=doc.public_url,
        bitbucket_workspace=doc.bitbucket_workspace,
        api_url=doc.api_url,
    )
    try:
        bitbucket_admin._refuse_what_cannot_work(body, ws.slug)
    except ApiError as exc:
        field_name, sep, rest = exc.message.partition(":")
        path = f"bitbucket.{field_name}" if sep and " " not in field_name else "bitbucket"
        problem = ConfigProblem(path, rest.strip() if sep else exc.message, exc.hint)
        raise ConfigError([problem]) from exc
    kind, alias = normalize_kind(doc.auth_kind.value)
    if alias:
        a.report.notes.append(f"bitbucket.auth_kind: {APP_PASSWORD_WARNING}")
        log.warning(
            "workspace %s: Bitbucket auth_kind 'app_password' in a configuration document, "
            "stored as 'api_token' (app passwords are no longer accepted by Bitbucket)",
            ws.slug,
        )
    config = await platform_config(a.session, ws.id, PLATFORM)
    stored_token = config.token_encrypted if config is not None else ""
    stored_secret = config.webhook_secret_encrypted if config is not None else ""
    token = a.secret(doc.token, "bitbucket.token", stored_token) if doc.token else stored_token
    secret = (
        a.secret(doc.webhook_secret, "bitbucket.webhook_secret", stored_secret)
        if doc.webhook_secret
        else stored_secret
    )
    values: dict[str, Any] = {
        "auth_kind": kind.value,
        "username": doc.username.strip(),
        "remote_workspace": doc.bitbucket_workspace.strip(),
        "api_url": doc.api_url.rstrip("/"),
        "public_url": doc.public_url.rstrip("/"),
        "require_signature": doc.require_signature,
        "register_unknown_repositories": doc.register_unknown_repositories,
    }
    supplied = bool(doc.token) and _env_value(doc.token, a.environ) is not None
    if config is not None and config.token_encrypted and not supplied:
        before_binding = binding.bitbucket_binding(
            config.api_url or API_URL,
            config.auth_kind,
            config.username,
            config.remote_workspace or ws.slug,
        )
        after_binding = binding.bitbucket_binding(
            values["api_url"] or API_URL,
            values["auth_kind"],
            values["username"],
            values["remote_workspace"] or ws.slug,
        )
        fields = binding.changed(before_binding, after_binding)
        if fields:
            match = _ENV_REF.match(doc.token or BITBUCKET_TOKEN_REF)
            var = match.group(1) if match else "JIRAHOOKS_BITBUCKET_TOKEN"
            raise ConfigError(
                [
                    ConfigProblem(
                        "bitbucket.token",
                        binding.token_required_message(fields),
                        f"export {var}=<the token for the new {', '.join(fields)}>",
                    )
                ]
            )
    shown = {**values, "token_set": bool(token), "webhook_secret_set": bool(secret)}
    if config is None:
        config = PlatformConfig(workspace_id=ws.id, platform=PLATFORM, **values)
        config.token_encrypted, config.webhook_secret_encrypted = token, secret
        a.session.add(config)
        a.audit("bitbucket.create", "bitbucket", None, shown)
        return
    before = {k: getattr(config, k) for k in values}
    if before != values or token != config.token_encrypted or secret != stored_secret:
        after = {
            **shown,
            "token_changed": token != config.token_encrypted,
            "webhook_secret_changed": secret != stored_secret,
        }
        for key, value in values.items():
            setattr(config, key, value)
        config.token_encrypted, config.webhook_secret_encrypted = token, secret
        config.updated_at = utcnow()
        a.audit("bitbucket.update", "bitbucket", before, after)


async def _apply_platform(a: _Applier, platform: str, section: Mapping[str, str]) -> None:
    """One host of ``platforms:``, checked and stored as its admin API ``PUT`` does; a secret
    is the value of its ``${ENV}`` reference, an unset one keeps the stored secret."""
    from jirahooks.server import host_settings as hs

    spec = hs.host(platform)
    path = f"platforms.{platform}"
    row = await hs.stored_row(a.session, a.workspace.id, platform)
    secret_names = {f.name for f in spec.secrets}
    body: dict[str, Any] = {k: v for k, v in section.items() if k not in secret_names}
    for item in spec.secrets:
        reference = section.get(item.name, "")
        if not reference:
            continue
        value = _env_value(reference, a.environ)
        if value is None:
            if row is None or not getattr(row, item.column):
                match = _ENV_REF.match(reference)
                var = match.group(1) if match else reference
                raise ConfigError(
                    [
                        ConfigProblem(
                            f"{path}.{item.name}",
                            f"environment variable {var} is not set",
                            f"export {var}=…",
                        )
                    ]
                )
            a.report.notes.append(
                f"{path}.{item.name}: {reference} is unset, the stored secret is kept"
            )
            continue
        body[item.name] = value
    try:
        saved = await hs.save(a.session, a.workspace.id, spec, body, a.box)
    except hs.SettingsInvalid as exc:
        raise ConfigError(
            [ConfigProblem(f"{path}.{p.path}", p.message, p.hint) for p in exc.problems]
        ) from None
    except hs.TokenRequired as exc:
        var = spec.env_var(spec.token_field)
        raise ConfigError(
            [
                ConfigProblem(
                    f"{path}.{spec.token_field}",
                    binding.token_required_message(exc.fields, spec.token_field),
                    f"export {var}=<the {spec.token_field} for the new {', '.join(exc.fields)}>",
                )
            ]
        ) from None
    if saved.changed:
        action = "platform.update" if saved.before is not None else "platform.create"
        a.audit(action, f"platform:{platform}", saved.before, hs.audit_view(spec, saved.row))


async def _apply_switches(
    a: _Applier,
    repo: Repository,
    connections: dict[str, Connection],
    enabled: tuple[str, ...] | None,
) -> None:
    result = await a.session.execute(
        select(RepositoryConnection).where(RepositoryConnection.repository_id == repo.id)
    )
    rows = {r.connection_id: r for r in result.scalars()}
    for name, connection in connections.items():
        want = enabled is None or name in enabled
        row = rows.get(connection.id)
        have = row.enabled if row is not None else True
        if want == have:
            continue
        if row is None:
            a.session.add(
                RepositoryConnection(
                    repository_id=repo.id, connection_id=connection.id, enabled=want
                )
            )
        else:
            row.enabled = want
        a.audit(
            "repository.connection",
            f"repository:{repo.slug}/connection:{name}",
            {"enabled": have},
            {"enabled": want},
        )


async def _apply_rules(a: _Applier, repo: Repository | None, rules: list[Any], prune: bool) -> None:
    ws = a.workspace
    rows = {
        r.rule_id: r for r in await queries.rule_rows(a.session, ws.id, repo.id if repo else None)
    }
    scope = f"repository:{repo.slug}" if repo else f"workspace:{ws.slug}"
    for position, rule in enumerate(rules):
        definition = queries.rule_definition(rule)
        row = rows.pop(rule.id, None)
        if row is None:
            a.session.add(
                RuleRow(
                    workspace_id=ws.id,
                    repository_id=repo.id if repo else None,
                    rule_id=rule.id,
                    position=position,
                    definition=definition,
                )
            )
            a.audit("rule.create", f"{scope}/rule:{rule.id}", None, definition)
        elif row.definition != definition or row.position != position:
            a.audit("rule.update", f"{scope}/rule:{rule.id}", row.definition, definition)
            row.definition = definition
            row.position = position
            row.updated_at = utcnow()
    if prune:
        for row in rows.values():
            a.audit("rule.delete", f"{scope}/rule:{row.rule_id}", row.definition, None)
            await a.session.delete(row)


async def _user_for(a: _Applier, name_or_email: str) -> User:
    """The user named (or with the e-mail) ``name_or_email``; created when there is none."""
    found = (
        await a.session.execute(select(User).where(User.name == name_or_email))
    ).scalar_one_or_none()
    if found is None and "@" in name_or_email:
        found = (
            (
                await a.session.execute(
                    select(User)
                    .where(func.lower(User.email) == name_or_email.lower())
                    .order_by(User.id)
                )
            )
            .scalars()
            .first()
        )
    if found is not None:
        return found
    user = User(name=name_or_email, email=name_or_email if "@" in name_or_email else "")
    a.session.add(user)
    await a.session.flush()
    a.audit("user.create", f"user:{user.name}", None, {"name": user.name, "email": user.email})
    a.report.notes.append(
        f"user '{user.name}' was created without an API token: on the server host, "
        f"`jirahooks admin-token issue --user {user.name}` prints one"
    )
    return user


async def _apply_admins(
    a: _Applier, document: ConfigDocument, *, new: bool, default_workspace: str
) -> None:
    ws = a.workspace
    users = [await _user_for(a, name) for name in document.admins]
    if new and not users and ws.slug != default_workspace:
        default = await queries.workspace_by_slug(a.session, default_workspace)
        if default is not None:
            result = await a.session.execute(
                select(User)
                .join(Membership, Membership.user_id == User.id)
                .where(
                    Membership.workspace_id == default.id,
                    Membership.repository_id.is_(None),
                    Membership.role == Role.ADMIN.value,
                )
                .order_by(User.id)
            )
            users = list(result.scalars())
        if users:
            a.report.notes.append(
                f"workspace '{ws.slug}' is administered by the administrators of "
                f"'{default_workspace}' ({', '.join(u.name for u in users)}); "
                "name others with `admins:`"
            )
    for user in users:
        row = (
            await a.session.execute(
                select(Membership).where(
                    Membership.user_id == user.id,
                    Membership.workspace_id == ws.id,
                    Membership.repository_id.is_(None),
                )
            )
        ).scalar_one_or_none()
        if row is None:
            a.session.add(Membership(user_id=user.id, workspace_id=ws.id, role=Role.ADMIN.value))
            a.audit("user.add", f"user:{user.name}", None, {"role": Role.ADMIN.value})
        elif row.role != Role.ADMIN.value:
            a.audit("user.update", f"user:{user.name}", {"role": row.role}, {"role": "ADMIN"})
            row.role = Role.ADMIN.value
    if not users and new:
        a.report.notes.append(
            f"workspace '{ws.slug}' has no administrator: add `admins: [NAME]` to the document, "
            "or grant a role in the admin API"
        )


async def _apply_tokens(a: _Applier, document: ConfigDocument, prune: bool) -> None:
    ws = a.workspace
    result = await a.session.execute(
        select(ValidationToken).where(ValidationToken.workspace_id == ws.id)
    )
    rows = {t.name: t for t in result.scalars()}
    for i, config in enumerate(document.validation_tokens):
        repo = (
            await queries.repository_by_slug(a.session, ws.id, config.repository)
            if config.repository
            else None
        )
        repo_id = repo.id if repo else None
        row = rows.pop(config.name, None)
        path = f"validation_tokens[{i}].secret"
        if row is None:
            secret = a.secret(config.secret, path, "")
            a.session.add(
                ValidationToken(
                    workspace_id=ws.id,
                    repository_id=repo_id,
                    name=config.name,
                    secret_encrypted=secret,
                    created_by=a.actor,
                )
            )
            a.audit(
                "validation_token.create",
                f"validation_token:{config.name}",
                None,
                {"repository": config.repository or None, "secret": True},
            )
            continue
        secret = a.secret(config.secret, path, row.secret_encrypted)
        if (
            row.repository_id != repo_id
            or secret != row.secret_encrypted
            or row.revoked_at is not None
        ):
            a.audit(
                "validation_token.update",
                f"validation_token:{config.name}",
                {"repository_id": row.repository_id, "revoked": row.revoked_at is not None},
                {
                    "repository": config.repository or None,
                    "secret_changed": secret != row.secret_encrypted,
                },
            )
            row.repository_id = repo_id
            if secret != row.secret_encrypted:
                row.secret_encrypted = secret
                row.rotated_at = utcnow()
            row.revoked_at = None
    if prune:
        for row in rows.values():
            if row.revoked_at is None:
                row.revoked_at = utcnow()
                a.audit(
                    "validation_token.revoke",
                    f"validation_token:{row.name}",
                    {"revoked": False},
                    {"revoked": True},
                )


async def export_document(session: AsyncSession, workspace_slug: str) -> dict[str, Any]:
    """The workspace as a configuration document; secrets as ``${ENV}`` references only."""
    ws = await queries.workspace_by_slug(session, workspace_slug)
    if ws is None:
        raise ConfigError(
            [ConfigProblem("workspace", f"no workspace '{workspace_slug}' in the store")]
        )
    out: dict[str, Any] = {"workspace": ws.slug}
    admins = await _admin_names(session, ws.id)
    if admins:
        out["admins"] = admins
    if ws.settings:
        out["settings"] = dict(ws.settings)
    connections = await queries.connections(session, ws.id)
    if connections:
        out["connections"] = [_connection(c) for c in connections]
    rules = await queries.rule_rows(session, ws.id, None)
    if rules:
        out["rules"] = [dict(r.definition) for r in rules]
    result = await session.execute(
        select(Repository).where(Repository.workspace_id == ws.id).order_by(Repository.slug)
    )
    repos = list(result.scalars())
    slugs = {r.id: r.slug for r in repos}
    if repos:
        out["repositories"] = [await _repository(session, r, connections) for r in repos]
    result2 = await session.execute(
        select(ValidationToken)
        .where(ValidationToken.workspace_id == ws.id, ValidationToken.revoked_at.is_(None))
        .order_by(ValidationToken.id)
    )
    tokens = [
        {
            "name": t.name,
            "secret": "${" + _env_name("JIRAHOOKS_VALIDATION_TOKEN_", t.name) + "}",
            **({"repository": slugs[t.repository_id]} if t.repository_id in slugs else {}),
        }
        for t in result2.scalars()
    ]
    if tokens:
        out["validation_tokens"] = tokens
    from jirahooks.pipeline.queue import platform_config
    from jirahooks.platforms.bitbucket_cloud import PLATFORM

    config = await platform_config(session, ws.id, PLATFORM)
    if config is not None:
        out["bitbucket"] = _bitbucket(config)
    hosts = await _platforms(session, ws.id)
    if hosts:
        out["platforms"] = hosts
    return out


async def _platforms(session: AsyncSession, workspace_id: int) -> dict[str, Any]:
    """Each host's non-secret settings (the defaults left out), its secrets as references."""
    from jirahooks.server import host_settings as hs

    out: dict[str, Any] = {}
    for spec in hs.HOSTS:
        row = await hs.stored_row(session, workspace_id, spec.platform)
        if row is None:
            continue
        public = hs.stored(spec, row)
        data: dict[str, Any] = {
            f.name: public[f.name] == "true" if f.kind == "bool" else public[f.name]
            for f in spec.public
            if public[f.name] not in ("", f.default)
        }
        for name, present in hs.secrets_set(spec, row).items():
            if present:
                data[name] = "${" + spec.env_var(name) + "}"
        out[spec.platform] = data
    return out


def _bitbucket(config: PlatformConfig) -> dict[str, Any]:
    data: dict[str, Any] = {"auth_kind": config.auth_kind}
    if config.username:
        data["username"] = config.username
    if config.token_encrypted:
        data["token"] = BITBUCKET_TOKEN_REF
    if config.webhook_secret_encrypted:
        data["webhook_secret"] = BITBUCKET_SECRET_REF
    for key, name in (
        ("remote_workspace", "bitbucket_workspace"),
        ("api_url", "api_url"),
        ("public_url", "public_url"),
    ):
        if getattr(config, key):
            data[name] = getattr(config, key)
    if not config.require_signature:
        data["require_signature"] = False
    if not config.register_unknown_repositories:
        data["register_unknown_repositories"] = False
    return data


async def _admin_names(session: AsyncSession, workspace_id: int) -> list[str]:
    """Names of the workspace's administrators (the document's ``admins``)."""
    result = await session.execute(
        select(User.name)
        .join(Membership, Membership.user_id == User.id)
        .where(
            Membership.workspace_id == workspace_id,
            Membership.repository_id.is_(None),
            Membership.role == Role.ADMIN.value,
        )
        .order_by(User.name)
    )
    return list(result.scalars())


def _connection(c: Connection) -> dict[str, Any]:
    data: dict[str, Any] = {"name": c.name, "url": c.url}
    if c.deployment != "auto":
        data["deployment"] = c.deployment
    if c.email:
        data["email"] = c.email
    if c.account_id:
        data["account_id"] = c.account_id
    if c.token_encrypted:
        data["token"] = "${" + _env_name("JIRAHOOKS_CONNECTION_", c.name) + "_TOKEN}"
    if c.timeout_seconds != 10.0:
        data["timeout_seconds"] = c.timeout_seconds
    if c.max_concurrency != 4:
        data["max_concurrency"] = c.max_concurrency
    defaults = connection_budget(ConnectionConfig(name="-", url="https://-"))
    data.update({k: v for k, v in connection_budget(c).items() if v != defaults[k]})
    data.update({k: v for k, v in connection_auth(c).items() if v != CONNECTION_AUTH_DEFAULTS[k]})
    if c.client_secret_encrypted:
        name = _env_name("JIRAHOOKS_CONNECTION_", c.name)
        data["client_secret"] = "${" + name + "_CLIENT_SECRET}"
    return data


def _auth_columns(config: ConnectionConfig) -> dict[str, Any]:
    """A document connection's auth settings as columns; a cloudId the document does not name
    keeps the one the server discovered (``/_edge/tenant_info``)."""
    values = connection_auth(config)
    columns = {("auth_kind" if k == "auth" else k): v for k, v in values.items()}
    if not columns["cloud_id"]:
        del columns["cloud_id"]
    return columns


async def _repository(
    session: AsyncSession, repo: Repository, connections: list[Connection]
) -> dict[str, Any]:
    data: dict[str, Any] = {"slug": repo.slug}
    if repo.settings:
        data["settings"] = dict(repo.settings)
    switches = await queries.connection_switches(session, repo.id)
    if any(not enabled for enabled in switches.values()):
        data["connections"] = [c.name for c in connections if switches.get(c.id, True)]
    if repo.disabled_rules:
        data["disable_rules"] = list(repo.disabled_rules)
    rules = await queries.rule_rows(session, repo.workspace_id, repo.id)
    if rules:
        data["rules"] = [dict(r.definition) for r in rules]
    return data


async def rotate_key(session: AsyncSession, box: SecretBox) -> int:
    """Re-encrypt every stored secret with ``box``'s primary key; returns how many."""
    count = 0
    for connection in (await session.execute(select(Connection))).scalars():
        if connection.token_encrypted:
            connection.token_encrypted = box.rotate(connection.token_encrypted)
            count += 1
    for token in (await session.execute(select(ValidationToken))).scalars():
        token.secret_encrypted = box.rotate(token.secret_encrypted)
        count += 1
    for platform in (await session.execute(select(PlatformConfig))).scalars():
        for column in ("token_encrypted", "webhook_secret_encrypted"):
            if getattr(platform, column):
                setattr(platform, column, box.rotate(getattr(platform, column)))
                count += 1
    return count
