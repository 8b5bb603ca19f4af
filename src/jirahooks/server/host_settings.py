"""Admin settings of the pull-request hosts beyond Bitbucket Cloud: GitHub (a GitHub App), GitLab
and Bitbucket Data Center — one table of fields per host, declared once (:data:`HOSTS`).

Every host's settings live in one ``platform_configs`` row keyed by (workspace, platform id):

- the shared columns: ``api_url``, ``remote_workspace`` (the host's scope: the GitHub owner, the
  GitLab group/project path, the Data Center project key), ``auth_kind``, ``public_url``;
- the secrets, Fernet-encrypted, write-only: ``token_encrypted`` (the App's private key PEM, the
  GitLab access token, the Data Center HTTP access token) and ``webhook_secret_encrypted``;
- the rest in ``settings`` (JSON, migration 0015): GitHub's App id, installation id,
  ``use_checks`` (check runs, or commit statuses for a GitHub Enterprise Server without the
  Checks API) and the private key's SHA-256 fingerprint (the one GitHub shows next to the key
  on the App's page).

:func:`check` validates a ``PUT`` body (or an ``apply`` section) against the table: unknown
fields, required fields, URLs, patterns, choices, a private key that ``cryptography`` cannot
read as an unencrypted RSA key — each problem with the field's path and a hint
(:class:`SettingsInvalid`). :func:`adapter_config` turns a stored row into the adapter's
constructor arguments — what a registered host's adapter factory builds from
(e.g. ``platforms.gitlab_host``); the admin API, the web page and ``apply``/``export`` read the rows
too.
"""

from __future__ import annotations

import base64
import hashlib
import importlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from jirahooks.crypto import SecretBox
from jirahooks.platforms import bitbucket_dc, github, gitlab_hooks, registry
from jirahooks.platforms.github_client import API_URL as GITHUB_API_URL
from jirahooks.platforms.gitlab_client import GITLAB_URL
from jirahooks.store.deliveries import PlatformConfig
from jirahooks.store.models import utcnow
from jirahooks.textcheck import Kind, text_problem

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from jirahooks.platforms.registry import StoredConfig


def N_(message: str) -> str:
    """Marks a label or help text for the web UI's catalogues (babel.cfg); it is translated
    where it is shown."""
    return message


_URL = re.compile(r"https?://[^/\s?#]+[^\s?#]*")


@dataclass(frozen=True)
class SettingField:
    """One setting of a host: how it is entered, checked and where it is stored.

    ``column``: the ``platform_configs`` column that holds it (``""``: the ``settings`` JSON).
    ``kind``: ``text``, ``url``, ``choice``, ``bool`` (``true`` / ``false``; a YAML or JSON
    boolean is taken too), ``secret`` (write-only) or ``pem`` (a write-only RSA private key). ``binds``: the stored secret was entered for this value — changing it
    without the secret again is refused (the secret is only ever sent where it was meant for).
    """

    name: str
    label: str
    help: str
    kind: str = "text"
    column: str = ""
    required: bool = False
    default: str = ""
    pattern: str = ""
    pattern_hint: str = ""
    choices: tuple[str, ...] = ()
    binds: bool = False
    example: str = ""

    @property
    def secret(self) -> bool:
        return self.kind in ("secret", "pem")


@dataclass(frozen=True)
class HostSpec:
    """A host's settings table, how its adapter is built, and its docs."""

    platform: str
    title: str
    docs: str
    fields: tuple[SettingField, ...]
    adapter: str  # "module:Class"
    default_api_url: str = ""
    token_field: str = "token"  # the field stored in ``token_encrypted``
    env_prefix: str = ""  # apply/export: ${JIRAHOOKS_<HOST>_<FIELD>}

    def field(self, name: str) -> SettingField:
        for item in self.fields:
            if item.name == name:
                return item
        raise KeyError(name)

    @property
    def public(self) -> tuple[SettingField, ...]:
        return tuple(f for f in self.fields if not f.secret)

    @property
    def secrets(self) -> tuple[SettingField, ...]:
        return tuple(f for f in self.fields if f.secret)

    def env_var(self, name: str) -> str:
        return f"{self.env_prefix}{name.upper()}"

    @property
    def processed(self) -> bool:
        """Whether the PR pipeline takes this host's webhooks (its platform is registered in
        ``platforms.registry``); the admin API and the web page say so when it does not."""
        return self.platform in registry.HOSTS

    @property
    def webhook_path(self) -> str:
        """Where the host's webhooks go (``""`` while they are not processed)."""
        return f"/webhooks/{self.platform}/{{workspace}}" if self.processed else ""


WEBHOOK_SECRET = "webhook_secret"
_PUBLIC_URL = SettingField(
    "public_url",
    N_("jirahooks' public URL"),
    N_(
        "jirahooks' public base URL, for the links in published results; empty: JIRAHOOKS_PUBLIC_URL"
    ),
    kind="url",
    column="public_url",
    example="https://guardian.example.com",
)


def _webhook_secret(help: str) -> SettingField:
    return SettingField(
        WEBHOOK_SECRET,
        N_("Webhook secret"),
        help,
        kind="secret",
        column="webhook_secret_encrypted",
    )


HOSTS: tuple[HostSpec, ...] = (
    HostSpec(
        platform=github.PLATFORM,
        title="GitHub",
        docs="docs/github.md",
        adapter="jirahooks.platforms.github:GitHub",
        default_api_url=GITHUB_API_URL,
        token_field="private_key",
        env_prefix="JIRAHOOKS_GITHUB_",
        fields=(
            SettingField(
                "api_url",
                N_("API URL"),
                N_(
                    "GitHub's REST API root; empty: https://api.github.com. GitHub Enterprise Server: "
                    "https://HOST/api/v3"
                ),
                kind="url",
                column="api_url",
                binds=True,
                example="https://github.example.com/api/v3",
            ),
            SettingField(
                "app_id",
                N_("App ID"),
                N_("the App ID (or client ID) on the GitHub App's settings page"),
                required=True,
                pattern=r"[0-9]{1,20}|Iv[0-9A-Za-z.]{1,40}",
                pattern_hint="the number shown as 'App ID' (or the 'Client ID', Iv…)",
                binds=True,
                example="424242",
            ),
            SettingField(
                "installation_id",
                N_("Installation ID"),
                N_(
                    "the installation of the App on the owner's account: the number at the end of "
                    "https://github.com/organizations/OWNER/settings/installations/<ID>; empty: "
                    "found from the owner with the App's credentials"
                ),
                pattern=r"[0-9]{1,20}",
                pattern_hint="digits only, e.g. 31337",
                binds=True,
                example="31337",
            ),
            SettingField(
                "owner",
                N_("Owner (organization or user)"),
                N_("the account whose repositories the installation covers"),
                column="remote_workspace",
                required=True,
                pattern=r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})",
                pattern_hint="a GitHub organization or user name (letters, digits, '-')",
                example="acme",
            ),
            SettingField(
                "private_key",
                N_("Private key (PEM)"),
                N_("the .pem file GitHub generated for the App"),
                kind="pem",
                column="token_encrypted",
            ),
            SettingField(
                "use_checks",
                N_("Publish as check runs"),
                N_(
                    "true: a check run with a report and annotations; false: a commit status "
                    "(GitHub Enterprise Server without the Checks API)"
                ),
                kind="bool",
                choices=("true", "false"),
                default="true",
            ),
            _webhook_secret(N_("the App's webhook secret (X-Hub-Signature-256)")),
            _PUBLIC_URL,
        ),
    ),
    HostSpec(
        platform=gitlab_hooks.PLATFORM,
        title="GitLab",
        docs="docs/gitlab.md",
        adapter="jirahooks.platforms.gitlab:GitLab",
        default_api_url=GITLAB_URL,
        env_prefix="JIRAHOOKS_GITLAB_",
        fields=(
            SettingField(
                "api_url",
                N_("GitLab URL"),
                N_("the instance's URL (or its /api/v4 root); empty: https://gitlab.com"),
                kind="url",
                column="api_url",
                binds=True,
                example="https://gitlab.example.com",
            ),
            SettingField(
                "namespace",
                N_("Group or project path"),
                N_(
                    "the top-level group (or project path) the token belongs to; repositories are "
                    "then paths relative to it; empty: full project paths"
                ),
                column="remote_workspace",
                pattern=r"[A-Za-z0-9_.][A-Za-z0-9_.-]*(?:/[A-Za-z0-9_.][A-Za-z0-9_.-]*)*",
                pattern_hint="a path such as acme or acme/platform (no leading or trailing '/')",
                binds=True,
                example="acme",
            ),
            SettingField(
                "token_header",
                N_("Token header"),
                N_(
                    "private_token: PRIVATE-TOKEN (project / group access tokens); bearer: "
                    "Authorization: Bearer"
                ),
                kind="choice",
                column="auth_kind",
                choices=("private_token", "bearer"),
                default="private_token",
            ),
            SettingField(
                "token",
                N_("Access token"),
                N_(
                    "a project or group access token with the 'api' scope and at least the "
                    "Developer role"
                ),
                kind="secret",
                column="token_encrypted",
            ),
            _webhook_secret(N_("the webhook's secret token (X-Gitlab-Token)")),
            _PUBLIC_URL,
        ),
    ),
    HostSpec(
        platform=bitbucket_dc.PLATFORM,
        title="Bitbucket Data Center",
        docs="docs/bitbucket-datacenter.md",
        adapter="jirahooks.platforms.bitbucket_dc:BitbucketDataCenter",
        env_prefix="JIRAHOOKS_BITBUCKET_DC_",
        fields=(
            SettingField(
                "api_url",
                N_("Base URL"),
                N_("the instance's base URL, with its context path if it has one"),
                kind="url",
                column="api_url",
                required=True,
                binds=True,
                example="https://git.example.com/bitbucket",
            ),
            SettingField(
                "project_key",
                N_("Project key"),
                N_("the key of the project whose repositories jirahooks checks"),
                column="remote_workspace",
                required=True,
                pattern=r"~?[A-Za-z][A-Za-z0-9_]{0,127}",
                pattern_hint="a project key such as PRJ (letters, digits, '_'; ~user for a "
                "personal project)",
                binds=True,
                example="PRJ",
            ),
            SettingField(
                "auth_kind",
                N_("Token kind"),
                N_(
                    "http_access_token: a project or repository HTTP access token; "
                    "personal_access_token: a technical user's token"
                ),
                kind="choice",
                column="auth_kind",
                choices=("http_access_token", "personal_access_token"),
                default="http_access_token",
                binds=True,
            ),
            SettingField(
                "token",
                N_("HTTP access token"),
                N_("sent as Authorization: Bearer"),
                kind="secret",
                column="token_encrypted",
            ),
            _webhook_secret(N_("the webhook's secret (HMAC X-Hub-Signature)")),
            _PUBLIC_URL,
        ),
    ),
)


def host(platform: str) -> HostSpec:
    for spec in HOSTS:
        if spec.platform == platform:
            return spec
    raise KeyError(platform)


@dataclass(frozen=True)
class Problem:
    path: str
    message: str
    hint: str


class SettingsInvalid(ValueError):
    """Settings that no request to the host could work with; every problem, with its field."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(f"{p.path}: {p.message}" for p in problems))
        self.problems = problems


def key_fingerprint(pem: str) -> str:
    """``SHA256:…`` of the key's public half, as GitHub shows it next to the App's keys; a
    :class:`ValueError` saying why for anything but an unencrypted RSA private key in PEM."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    try:
        key = serialization.load_pem_private_key(pem.strip().encode(), password=None)
    except TypeError as exc:  # encrypted
        raise ValueError("the private key is encrypted") from exc
    except ValueError as exc:
        raise ValueError("not a PEM private key") from exc
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("not an RSA key (GitHub App keys are RSA)")
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return "SHA256:" + base64.b64encode(hashlib.sha256(der).digest()).decode()


_BOOLEANS = {"true": "true", "false": "false"}


def _boolean(value: Any) -> Any:
    """``True`` / ``False`` (JSON, YAML — ``apply`` hands them as ``"True"``) → ``"true"`` /
    ``"false"``; anything else unchanged, for the check to refuse."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return _BOOLEANS.get(value.strip().lower(), value)
    return value


def _check_one(spec: HostSpec, item: SettingField, value: Any) -> Problem | None:
    if value is None and item.secret:
        return None
    if not isinstance(value, str):
        return Problem(item.name, "expected a string", item.help)
    text = value.strip()
    kind = Kind.TEXT if item.kind == "pem" else Kind.LINE  # a PEM has line breaks
    problem = text_problem(text, kind, 10_000 if item.secret else 500)
    if problem is not None:
        return Problem(item.name, problem, item.help)
    if not text:
        if item.required:
            return Problem(item.name, "is required", f"{item.help} (e.g. {item.example})")
        return None
    if item.kind == "url" and not _URL.fullmatch(text):
        return Problem(
            item.name,
            "expected an http(s) URL without query or fragment",
            f"{item.help} (e.g. {item.example})" if item.example else item.help,
        )
    if item.kind in ("choice", "bool") and text not in item.choices:
        return Problem(item.name, f"expected one of {', '.join(item.choices)}", item.help)
    if item.pattern and not re.fullmatch(item.pattern, text):
        return Problem(item.name, f"'{text}' is not valid", item.pattern_hint or item.help)
    if item.kind == "pem":
        try:
            key_fingerprint(text)
        except ValueError as exc:
            return Problem(
                item.name,
                f"{exc}",
                "paste the whole .pem file GitHub generated for the App (-----BEGIN RSA "
                "PRIVATE KEY----- …), unencrypted",
            )
    return None


def check(spec: HostSpec, body: Mapping[str, Any]) -> dict[str, Any]:
    """``body`` checked against the host's table: every public field (trimmed, defaults
    filled in) and the secrets that were given (``None``: keep the stored one). Raises
    :class:`SettingsInvalid` with every problem found."""
    names = {f.name for f in spec.fields}
    problems = [
        Problem(name, "is not a setting of " + spec.title, "known: " + ", ".join(sorted(names)))
        for name in body
        if name not in names
    ]
    values: dict[str, Any] = {}
    for item in spec.fields:
        value = body.get(item.name, None if item.secret else item.default)
        if item.kind == "bool":
            value = _boolean(value)
            value = item.default if value is None or value == "" else value
        problem = _check_one(spec, item, value)
        if problem is not None:
            problems.append(problem)
        elif item.secret:
            values[item.name] = None if value is None else value.strip()
        else:
            text = value.strip()
            values[item.name] = text.rstrip("/") if item.kind == "url" else text
    if problems:
        raise SettingsInvalid(problems)
    return values


# -- stored rows ----------------------------------------------------------------------------


def stored(spec: HostSpec, row: StoredConfig) -> dict[str, str]:
    """The public values of a stored row."""
    extra = row.settings or {}
    return {
        f.name: str(getattr(row, f.column) if f.column else extra.get(f.name, f.default) or "")
        for f in spec.public
    }


def blank(spec: HostSpec) -> PlatformConfig:
    """An unsaved row with the host's defaults (what GET shows before anything is stored)."""
    row = PlatformConfig(platform=spec.platform, settings={})
    for item in spec.fields:
        if item.column:
            setattr(row, item.column, "" if item.secret else item.default)
    return row


def secrets_set(spec: HostSpec, row: PlatformConfig) -> dict[str, bool]:
    return {f.name: bool(getattr(row, f.column)) for f in spec.secrets}


def rebinding(spec: HostSpec, row: PlatformConfig | None, values: Mapping[str, Any]) -> list[str]:
    """The binding fields a change moves while the stored token would be kept (empty: none)."""
    if row is None or not row.token_encrypted or values.get(spec.token_field) is not None:
        return []
    before = stored(spec, row)
    return [f.name for f in spec.public if f.binds and before[f.name] != values[f.name]]


def write(spec: HostSpec, row: PlatformConfig, values: Mapping[str, Any], box: SecretBox) -> None:
    """Store checked ``values`` in ``row`` (secrets encrypted; ``None`` keeps, ``""`` clears)."""
    extra = dict(row.settings or {})
    for item in spec.fields:
        value = values[item.name]
        if item.secret:
            if value is not None:
                setattr(row, item.column, box.encrypt(value) if value else "")
                if item.kind == "pem":
                    extra["key_fingerprint"] = key_fingerprint(value) if value else ""
        elif item.column:
            setattr(row, item.column, value)
        else:
            extra[item.name] = value
    row.settings = extra


def audit_view(spec: HostSpec, row: PlatformConfig) -> dict[str, Any]:
    """What the audit log records: public values and whether each secret is set."""
    return {**stored(spec, row), **{f"{k}_set": v for k, v in secrets_set(spec, row).items()}}


class TokenRequired(ValueError):
    """A change would send the stored token where it was not entered for."""

    def __init__(self, spec: HostSpec, fields: list[str]) -> None:
        super().__init__(", ".join(fields))
        self.spec = spec
        self.fields = fields


async def stored_row(
    session: AsyncSession, workspace_id: int, platform: str
) -> PlatformConfig | None:
    from sqlalchemy import select

    found = await session.execute(
        select(PlatformConfig).where(
            PlatformConfig.workspace_id == workspace_id, PlatformConfig.platform == platform
        )
    )
    return found.scalar_one_or_none()


@dataclass
class Saved:
    row: PlatformConfig
    before: dict[str, Any] | None  # the audit view before (None: created)
    changed: bool


async def save(
    session: AsyncSession,
    workspace_id: int,
    spec: HostSpec,
    body: Mapping[str, Any],
    box: SecretBox,
) -> Saved:
    """Check ``body`` (:class:`SettingsInvalid`, :class:`TokenRequired`: nothing changed) and
    store it; the caller audits and commits. A secret equal to the stored one is no change."""
    values = check(spec, body)
    row = await stored_row(session, workspace_id, spec.platform)
    moved = rebinding(spec, row, values)
    if moved:
        raise TokenRequired(spec, moved)
    previous = audit_view(spec, row) if row is not None else None
    if row is None:
        row = PlatformConfig(workspace_id=workspace_id, platform=spec.platform, settings={})
        session.add(row)
    for item in spec.secrets:  # the same secret again changes nothing
        given, held = values[item.name], getattr(row, item.column)
        if given and held and box.decrypt(held) == given:
            values[item.name] = None
    write(spec, row, values, box)
    changed = previous != audit_view(spec, row) or any(
        values[f.name] is not None for f in spec.secrets
    )
    if changed:
        row.updated_at = utcnow()
    await session.flush()
    return Saved(row, previous, changed)


# -- the adapter ----------------------------------------------------------------------------


@dataclass(frozen=True)
class AdapterConfig:
    """What a host's adapter is built from: ``build()`` makes it (``extra``: e.g. a transport
    or a client). ``repr`` shows no secret."""

    platform: str
    factory: str
    args: tuple[Any, ...] = field(repr=False)
    kwargs: Mapping[str, Any] = field(repr=False)
    webhook_secret: str = field(default="", repr=False)

    def build(self, **extra: Any) -> Any:
        module, _, name = self.factory.partition(":")
        cls: Callable[..., Any] = getattr(importlib.import_module(module), name)
        return cls(*self.args, **{**self.kwargs, **extra})


def _github(values: dict[str, str], secret: str) -> tuple[tuple[Any, ...], dict[str, Any]]:
    from jirahooks.platforms.github_client import GitHubAppCredentials

    creds = GitHubAppCredentials(values["app_id"], secret, values["installation_id"])
    return (values["owner"], creds), {
        "base_url": values["api_url"] or GITHUB_API_URL,
        "use_checks": values["use_checks"] != "false",
    }


def _gitlab(values: dict[str, str], secret: str) -> tuple[tuple[Any, ...], dict[str, Any]]:
    from jirahooks.platforms.gitlab_client import GitLabCredentials, TokenHeader

    creds = GitLabCredentials(secret, TokenHeader(values["token_header"] or "private_token"))
    return (creds,), {"base_url": values["api_url"] or GITLAB_URL, "namespace": values["namespace"]}


def _bitbucket_dc(values: dict[str, str], secret: str) -> tuple[tuple[Any, ...], dict[str, Any]]:
    from jirahooks.platforms.bitbucket_dc_client import DataCenterAuthKind, DataCenterCredentials

    creds = DataCenterCredentials(
        DataCenterAuthKind(values["auth_kind"] or "http_access_token"), secret
    )
    return (values["api_url"], values["project_key"], creds), {}


_ARGUMENTS = {
    github.PLATFORM: _github,
    gitlab_hooks.PLATFORM: _gitlab,
    bitbucket_dc.PLATFORM: _bitbucket_dc,
}


def adapter_config(platform: str, row: StoredConfig, box: SecretBox) -> AdapterConfig:
    """A stored row → the adapter's constructor arguments (secrets decrypted here, nowhere
    else). ``KeyError`` for a platform without a settings table."""
    spec = host(platform)
    values = stored(spec, row)
    secret = box.decrypt(row.token_encrypted) if row.token_encrypted else ""
    hook = box.decrypt(row.webhook_secret_encrypted) if row.webhook_secret_encrypted else ""
    args, kwargs = _ARGUMENTS[platform](values, secret)
    if platform == github.PLATFORM:
        kwargs["webhook_secret"] = hook
    return AdapterConfig(platform, spec.adapter, args, kwargs, hook)
