"""The configuration document: one YAML or TOML file (or dict) describing a workspace.

::

    workspace: acme
    admins: [alice@example.com]  # workspace administrators (server only: jirahooks apply)
    settings: {...}              # Process Guardian settings (workspace defaults)
    connections: [...]           # ordered Jira connections; tokens as ${ENV_VAR}
    rules: [...]                 # workspace rules, in full or as {template: name, ...overrides}
    repositories:
      - slug: api
        settings: {...}          # overrides of the workspace settings
        connections: [jira-a]    # which workspace connections this repository enables
        disable_rules: [id, ...] # workspace rules switched off here
        rules: [...]             # repository rules (override workspace rules with the same id)
    validation_tokens: [...]     # {name, secret: ${ENV}, repository?}
    bitbucket: {...}             # Bitbucket Cloud credentials and webhook (server only)
    platforms: {github: {...}, gitlab: {...}, bitbucket-dc: {...}}  # other hosts (server only)

Rules combine as a union: workspace rules (minus ``disable_rules``), then repository rules; a
repository rule with the same id replaces the workspace rule. The same document drives local
checks, server-side hooks and the server (``jirahooks apply``).
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from jirahooks.errors import ConfigError, ConfigProblem
from jirahooks.rules import templates
from jirahooks.rules.model import Rule, Scope, Settings
from jirahooks.rules.schema import Reader, did_you_mean, field

_ENV_REF = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")
_SLUG = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


class Deployment(StrEnum):
    CLOUD = "cloud"
    DATACENTER = "datacenter"
    AUTO = "auto"  # detected once from /serverInfo


class AuthKind(StrEnum):
    """How a connection authenticates (``jirahooks.jira.auth`` says what each sends)."""

    AUTO = "auto"  # api_token with an e-mail, else pat (the reference's four fields)
    API_TOKEN = "api_token"  # Cloud: Basic e-mail:API token to the site URL
    SCOPED_API_TOKEN = "scoped_api_token"  # Cloud: Basic e-mail:scoped token via the gateway
    OAUTH_CLIENT_CREDENTIALS = "oauth_client_credentials"  # service account (Cloud or DC)
    PAT = "pat"  # Data Center: Bearer personal access token
    BASIC = "basic"  # Data Center: user name + password (deprecated, warned about)


def _secret_ref_error(value: str) -> str | None:
    if value and not _ENV_REF.match(value):
        return "secrets are never written literally in a configuration document"
    return None


_SECRET_HINT = "write a reference to an environment variable, e.g. token: ${JIRA_TOKEN}"


def _url_error(value: str) -> str | None:
    if not re.match(r"^https?://[^/\s]+", value):
        return "expected an http(s) URL such as https://acme.atlassian.net"
    return None


def _name_error(value: str) -> str | None:
    return None if value.strip() else "must not be empty"


def resolve_secret(reference: str, path: str) -> str:
    """``${VAR}`` → the variable's value; raises ConfigError when it is unset or empty."""
    match = _ENV_REF.match(reference)
    if not match:
        raise ConfigError([ConfigProblem(path, "not a ${ENV_VAR} reference", _SECRET_HINT)])
    value = os.environ.get(match.group(1), "")
    if not value:
        raise ConfigError(
            [
                ConfigProblem(
                    path,
                    f"environment variable {match.group(1)} is not set",
                    f"export {match.group(1)}=… before running jirahooks",
                )
            ]
        )
    return value


@dataclass(frozen=True)
class ConnectionConfig:
    """One Jira connection (Jira Cloud: e-mail + API token; Data Center: personal access token)."""

    name: str = field(doc="unique name, shown in results", check=_name_error)
    url: str = field(doc="Jira base URL, with the context path for Data Center", check=_url_error)
    deployment: Deployment = field(Deployment.AUTO, doc="cloud, datacenter or auto")
    email: str = field("", doc="technical user's e-mail (Cloud Basic auth)")
    account_id: str = field("", doc="Atlassian account ID of the technical user")
    token: str = field(
        "", doc="API token / PAT as ${ENV_VAR}", check=_secret_ref_error, hint=_SECRET_HINT
    )
    auth: AuthKind = field(
        AuthKind.AUTO,
        doc="api_token, scoped_api_token, oauth_client_credentials, pat, basic or auto "
        "(api_token with an e-mail, else pat)",
    )
    client_id: str = field("", doc="OAuth 2.0 client ID of the service account")
    client_secret: str = field(
        "", doc="OAuth 2.0 client secret as ${ENV_VAR}", check=_secret_ref_error, hint=_SECRET_HINT
    )
    scopes: str = field(
        "", doc="OAuth scopes, space-separated (default: read:jira-work read:jira-user; DC: READ)"
    )
    token_url: str = field(
        "",
        doc="OAuth token endpoint (default: https://auth.atlassian.com/oauth/token; Data "
        "Center: <url>/rest/oauth2/latest/token)",
    )
    cloud_id: str = field(
        "", doc="Jira Cloud site's cloudId (gateway kinds; default: read from /_edge/tenant_info)"
    )
    gateway_url: str = field("", doc="Atlassian API gateway (default: https://api.atlassian.com)")
    ca_bundle: str = field("", doc="path to a CA bundle for self-signed certificates")
    timeout_seconds: float = field(10.0, doc="per-request timeout")
    max_concurrency: int = field(4, doc="concurrent requests to this Jira")
    budget_per_minute: int = field(
        0,
        doc="at most this many requests per minute for this technical user, then the "
        "jira_unreachable policy (0: no ceiling)",
    )
    cache_existence_seconds: float = field(
        0.0, doc="how long a found issue is trusted to exist (0: the cache's default, 6 h)"
    )
    cache_negative_seconds: float = field(
        0.0, doc="how long 'not found' is trusted (0: the cache's default, 30 s)"
    )
    index_max_issues: int = field(
        20_000,
        doc="keep an existence index of projects up to this many issues, so unknown keys "
        "are answered without asking Jira (0: no index)",
    )
    cache_fields_seconds: float = field(
        0.0, doc="longest a JQL verdict is kept (0: the cache's default, 300 s)"
    )

    @property
    def token_label(self) -> str:
        """Where the token is set, as hints name it (the ``${VAR}`` reference here)."""
        return self.token or "the connection's token"

    def secret(self, path: str = "") -> str:
        return (
            resolve_secret(self.token, path or f"connections[{self.name}].token")
            if self.token
            else ""
        )

    def client_secret_value(self, path: str = "") -> str:
        """The OAuth client secret (``${VAR}`` resolved), "" when none is configured."""
        return (
            resolve_secret(self.client_secret, path or f"connections[{self.name}].client_secret")
            if self.client_secret
            else ""
        )


@dataclass(frozen=True)
class ValidationTokenConfig:
    """A Validation API token (HMAC secret) for a repository or the whole workspace."""

    name: str = field(doc="unique name", check=_name_error)
    secret: str = field(
        doc="the HMAC secret as ${ENV_VAR}", check=_secret_ref_error, hint=_SECRET_HINT
    )
    repository: str = field("", doc="repository slug; empty for the whole workspace")


class BitbucketAuth(StrEnum):
    ACCESS_TOKEN = "access_token"  # repository / project / workspace access token (Bearer)
    API_TOKEN = "api_token"  # Atlassian API token, Basic with the account e-mail
    APP_PASSWORD = "app_password"  # deprecated alias: stored as api_token, with a warning


@dataclass(frozen=True)
class BitbucketConfig:
    """Bitbucket Cloud for the workspace's pull requests (``jirahooks apply``; the same fields
    as ``PUT /api/v1/workspaces/{workspace}/bitbucket``, docs/bitbucket-cloud.md)."""

    auth_kind: BitbucketAuth = field(
        BitbucketAuth.ACCESS_TOKEN, doc="access_token, api_token (app_password: an alias)"
    )
    username: str = field("", doc="api_token: the Atlassian account e-mail")
    token: str = field(
        "", doc="access token / API token as ${ENV_VAR}", check=_secret_ref_error, hint=_SECRET_HINT
    )
    webhook_secret: str = field(
        "", doc="the webhook secret as ${ENV_VAR}", check=_secret_ref_error, hint=_SECRET_HINT
    )
    bitbucket_workspace: str = field("", doc="the Bitbucket workspace ID (empty: the slug)")
    api_url: str = field("", doc="REST API base URL (empty: https://api.bitbucket.org/2.0)")
    public_url: str = field("", doc="jirahooks' public base URL for status links")
    require_signature: bool = field(True, doc="refuse unsigned deliveries")
    register_unknown_repositories: bool = field(
        True, doc="a delivery for an unknown repository registers it"
    )


@dataclass(frozen=True)
class RepositoryConfig:
    slug: str
    settings: Settings
    settings_overrides: Mapping[str, Any]
    connections: tuple[str, ...] | None
    disable_rules: tuple[str, ...]
    rules: tuple[Rule, ...]


@dataclass(frozen=True)
class ConfigDocument:
    """A validated configuration document."""

    workspace: str
    settings: Settings
    settings_raw: Mapping[str, Any]
    connections: tuple[ConnectionConfig, ...]
    rules: tuple[Rule, ...]
    repositories: tuple[RepositoryConfig, ...]
    validation_tokens: tuple[ValidationTokenConfig, ...]
    # Workspace administrators (user names or e-mail addresses), made ADMIN by `jirahooks apply`.
    admins: tuple[str, ...] = ()
    bitbucket: BitbucketConfig | None = None
    # GitHub, GitLab, Bitbucket Data Center settings by platform id (jirahooks.server.
    # host_settings; the fields of PUT /api/v1/workspaces/{workspace}/platforms/{platform})
    platforms: Mapping[str, Mapping[str, str]] | None = None

    def repository(self, slug: str) -> RepositoryConfig | None:
        return next((r for r in self.repositories if r.slug == slug), None)

    def settings_for(self, slug: str | None) -> Settings:
        repo = self.repository(slug) if slug else None
        return repo.settings if repo else self.settings

    def rules_for(self, slug: str | None) -> list[Rule]:
        """Workspace rules combined with the repository's (see module docstring)."""
        repo = self.repository(slug) if slug else None
        return combine_rules(
            self.rules, repo.rules if repo else (), repo.disable_rules if repo else ()
        )

    def connections_for(self, slug: str | None) -> list[ConnectionConfig]:
        """Enabled connections in the admin's order."""
        repo = self.repository(slug) if slug else None
        if repo is None or repo.connections is None:
            return list(self.connections)
        return [c for c in self.connections if c.name in repo.connections]


def combine_rules(
    workspace: Sequence[Rule], repository: Sequence[Rule], disabled: Sequence[str] = ()
) -> list[Rule]:
    """Union of workspace and repository rules; repository rules replace same-id workspace ones."""
    overridden = {r.id for r in repository} | set(disabled)
    return [r for r in workspace if r.id not in overridden] + list(repository)


_TOP_LEVEL = (
    "workspace",
    "admins",
    "settings",
    "connections",
    "rules",
    "repositories",
    "validation_tokens",
    "bitbucket",
    "platforms",
)
_REPO_KEYS = ("slug", "settings", "connections", "disable_rules", "rules")


def parse_rule(data: Any, *, scope: Scope = Scope.WORKSPACE, path: str = "rule") -> Rule:
    """One rule from a dict (the server stores rules as JSON); raises ConfigError."""
    reader = Reader()
    rule = _read_rule(reader, data, path, scope)
    if reader.problems or rule is None:
        raise ConfigError(reader.problems)
    return rule


def parse_stored_rule(data: Any, *, scope: Scope = Scope.WORKSPACE, path: str = "rule") -> Rule:
    """A rule as stored before the JQL structural check existed: a rule whose only problem is
    an unsafe ``checks.jql`` still loads (nothing stored is lost, the admin can fix it), with
    that JQL as written — the engine refuses to send it and the rule fails closed."""
    try:
        return parse_rule(data, scope=scope, path=path)
    except ConfigError as exc:
        checks = data.get("checks") if isinstance(data, Mapping) else None
        jql = checks.get("jql") if isinstance(checks, Mapping) else None
        if not isinstance(jql, str) or not all(
            p.path == f"{path}.checks.jql" for p in exc.problems
        ):
            raise
        assert isinstance(data, Mapping) and isinstance(checks, Mapping)
        safe = {**data, "checks": {k: v for k, v in checks.items() if k != "jql"}}
        rule = parse_rule(safe, scope=scope, path=path)
        return dataclasses.replace(rule, checks=dataclasses.replace(rule.checks, jql=jql))


def parse_settings(
    data: Any, *, base: Mapping[str, Any] | None = None, path: str = "settings"
) -> Settings:
    reader = Reader()
    if base is not None and isinstance(data, Mapping) and "share_issue_details" in data:
        reader.problem(
            f"{path}.share_issue_details",
            "share_issue_details is a workspace setting; a repository cannot override it",
            "set it in the workspace's settings",
        )
    merged = {**(base or {}), **(data or {})} if isinstance(data, Mapping | type(None)) else data
    settings = reader.read(Settings, merged, path)
    if reader.problems or settings is None:
        raise ConfigError(reader.problems)
    return settings


def _read_rule(reader: Reader, data: Any, path: str, scope: Scope) -> Rule | None:
    if not isinstance(data, Mapping):
        reader.problem(path, "expected a mapping (a rule)", "see `jirahooks templates list`")
        return None
    data = dict(data)
    name = data.pop("template", None)
    if name is not None:
        template = templates.get(str(name))
        if template is None:
            reader.problem(
                f"{path}.template",
                f"unknown template '{name}'",
                did_you_mean(str(name), templates.BY_NAME, "see `jirahooks templates list`"),
            )
            return None
        data = template.expand(data)
    if "id" not in data and isinstance(data.get("title"), str):
        data["id"] = re.sub(r"[^a-z0-9]+", "-", data["title"].lower()).strip("-")[:100] or "rule"
    if "scope" in data:
        reader.problem(f"{path}.scope", "scope is set by where the rule is declared", "remove it")
        return None
    data["scope"] = scope.value
    return reader.read(Rule, data, path)


def _read_rules(reader: Reader, data: Any, path: str, scope: Scope) -> tuple[Rule, ...]:
    if data is None:
        return ()
    if not isinstance(data, list):
        reader.problem(path, "expected a list of rules")
        return ()
    rules = [_read_rule(reader, item, f"{path}[{i}]", scope) for i, item in enumerate(data)]
    seen: dict[str, int] = {}
    for i, rule in enumerate(rules):
        if rule is None:
            continue
        if rule.id in seen:
            reader.problem(
                f"{path}[{i}].id",
                f"duplicate rule id '{rule.id}' (also {path}[{seen[rule.id]}])",
                "give each rule its own id",
            )
        seen.setdefault(rule.id, i)
    return tuple(r for r in rules if r is not None)


def _read_list(reader: Reader, cls: type[Any], data: Any, path: str) -> tuple[Any, ...]:
    if data is None:
        return ()
    if not isinstance(data, list):
        reader.problem(path, "expected a list")
        return ()
    items = [reader.read(cls, item, f"{path}[{i}]") for i, item in enumerate(data)]
    names: set[str] = set()
    for i, item in enumerate(items):
        if item is not None and item.name in names:
            reader.problem(f"{path}[{i}].name", f"duplicate name '{item.name}'")
        if item is not None:
            names.add(item.name)
    return tuple(i for i in items if i is not None)


AUTH_KIND_HINT = (
    "Cloud: api_token, scoped_api_token or oauth_client_credentials; Data Center: pat, "
    "oauth_client_credentials or basic"
)


def auth_problems(
    auth: str, deployment: str, *, email: str, client_id: str, client_secret: bool
) -> list[tuple[str, str]]:
    """(field, message) for what an auth kind lacks or where it does not fit the deployment —
    the one list of these rules (the document, the admin API and the web form ask it)."""
    kind = AuthKind(auth or AuthKind.AUTO)
    problems: list[tuple[str, str]] = []
    if kind in (AuthKind.API_TOKEN, AuthKind.SCOPED_API_TOKEN, AuthKind.BASIC) and not email:
        what = "the Data Center user name" if kind is AuthKind.BASIC else "the account's e-mail"
        problems.append(("email", f"auth {kind.value} needs {what}"))
    if kind is AuthKind.OAUTH_CLIENT_CREDENTIALS:
        if not client_id:
            problems.append(("client_id", "auth oauth_client_credentials needs client_id"))
        if not client_secret:
            problems.append(("client_secret", "auth oauth_client_credentials needs client_secret"))
    cloud_only = kind is AuthKind.SCOPED_API_TOKEN and deployment == Deployment.DATACENTER
    dc_only = kind in (AuthKind.PAT, AuthKind.BASIC) and deployment == Deployment.CLOUD
    if cloud_only or dc_only:
        problems.append(("auth", f"auth {kind.value} does not fit deployment {deployment}"))
    return problems


def _check_connection_auth(reader: Reader, connections: Sequence[ConnectionConfig]) -> None:
    """Each connection has the fields its auth kind needs, and a kind that fits its
    deployment (docs/jira.md, "Credentials")."""
    for i, c in enumerate(connections):
        found = auth_problems(
            c.auth,
            c.deployment.value,
            email=c.email,
            client_id=c.client_id,
            client_secret=bool(c.client_secret),
        )
        for name, message in found:
            hint = AUTH_KIND_HINT if name == "auth" else "docs/jira.md, Credentials"
            reader.problem(f"connections[{i}].{name}", message, hint)


def load_document(data: Any, *, source: str = "") -> ConfigDocument:
    """Validate a whole configuration document; raises ConfigError listing every problem."""
    reader = Reader()
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError([ConfigProblem("(top level)", "expected a mapping")], source=source)
    for key in data:
        if key not in _TOP_LEVEL:
            reader.problem(
                str(key),
                "unknown top-level field",
                did_you_mean(str(key), _TOP_LEVEL, f"known fields: {', '.join(_TOP_LEVEL)}"),
            )
    workspace = data.get("workspace", "default")
    if not isinstance(workspace, str) or not _SLUG.fullmatch(workspace):
        reader.problem("workspace", "expected a slug (letters, digits, '.', '_', '-')")
        workspace = "default"
    admins = tuple(reader.convert(tuple[str, ...], data.get("admins") or [], "admins") or ())
    for i, admin in enumerate(admins):
        if not admin.strip() or len(admin) > 320:
            reader.problem(
                f"admins[{i}]",
                "expected a user name or e-mail address (1-320 characters)",
                "e.g. admins: [alice@example.com]",
            )
    settings_raw = data.get("settings") or {}
    if not isinstance(settings_raw, Mapping):
        reader.problem("settings", "expected a mapping")
        settings_raw = {}
    before = len(reader.problems)
    settings = reader.read(Settings, settings_raw, "settings") or Settings()
    settings_ok = len(reader.problems) == before
    connections = _read_list(reader, ConnectionConfig, data.get("connections"), "connections")
    _check_connection_auth(reader, connections)
    rules = _read_rules(reader, data.get("rules"), "rules", Scope.WORKSPACE)
    tokens = _read_list(
        reader, ValidationTokenConfig, data.get("validation_tokens"), "validation_tokens"
    )
    bitbucket = None
    if data.get("bitbucket") is not None:
        bitbucket = reader.read(BitbucketConfig, data.get("bitbucket"), "bitbucket")
        if bitbucket is not None and bitbucket.auth_kind is not BitbucketAuth.ACCESS_TOKEN:
            from jirahooks.platforms.bitbucket_auth import EMAIL_HINT, email_problem

            problem = email_problem(bitbucket.username)
            if problem:
                reader.problem("bitbucket.username", problem, EMAIL_HINT)
    platforms = _read_platforms(reader, data.get("platforms"))
    repositories: list[RepositoryConfig] = []
    raw_repos = data.get("repositories") or []
    if not isinstance(raw_repos, list):
        reader.problem("repositories", "expected a list")
        raw_repos = []
    connection_names = {c.name for c in connections}
    slugs: set[str] = set()
    for i, raw in enumerate(raw_repos):
        path = f"repositories[{i}]"
        if not isinstance(raw, Mapping):
            reader.problem(path, "expected a mapping with at least 'slug'")
            continue
        for key in raw:
            if key not in _REPO_KEYS:
                reader.problem(
                    f"{path}.{key}", "unknown field", f"known fields: {', '.join(_REPO_KEYS)}"
                )
        slug = raw.get("slug")
        if not isinstance(slug, str) or not slug:
            reader.problem(
                f"{path}.slug", "required field is missing", "the repository's slug, e.g. api"
            )
            continue
        if not _SLUG.fullmatch(slug) or len(slug) > 200:
            reader.problem(
                f"{path}.slug",
                "expected a slug (letters, digits, '.', '_', '-'; at most 200 characters)",
                "the repository's slug as the code host names it, e.g. api",
            )
            continue
        if slug in slugs:
            reader.problem(f"{path}.slug", f"duplicate repository '{slug}'")
        slugs.add(slug)
        overrides = raw.get("settings") or {}
        if not isinstance(overrides, Mapping):
            reader.problem(f"{path}.settings", "expected a mapping")
            overrides = {}
        # Invalid workspace settings are reported once, at settings.*; a repository then has
        # only its own overrides checked, so every path points at the value to fix.
        base = settings_raw if settings_ok else {}
        repo_settings = reader.read(Settings, {**base, **overrides}, f"{path}.settings")
        enabled = raw.get("connections")
        enabled_names: tuple[str, ...] | None = None
        if enabled is not None:
            enabled_names = tuple(
                reader.convert(tuple[str, ...], enabled, f"{path}.connections") or ()
            )
            for j, name in enumerate(enabled_names):
                if name not in connection_names:
                    reader.problem(
                        f"{path}.connections[{j}]",
                        f"no workspace connection named '{name}'",
                        f"known: {', '.join(sorted(connection_names)) or '(none)'}",
                    )
        disabled = tuple(
            reader.convert(tuple[str, ...], raw.get("disable_rules") or [], f"{path}.disable_rules")
            or ()
        )
        repo_rules = _read_rules(reader, raw.get("rules"), f"{path}.rules", Scope.REPOSITORY)
        repositories.append(
            RepositoryConfig(
                slug,
                repo_settings or settings,
                dict(overrides),
                enabled_names,
                disabled,
                repo_rules,
            )
        )
    for i, token in enumerate(tokens):
        if token.repository and token.repository not in slugs:
            reader.problem(
                f"validation_tokens[{i}].repository",
                f"no repository '{token.repository}' in this document",
                "add it under repositories, or leave repository empty for the whole workspace",
            )
    if reader.problems:
        raise ConfigError(reader.problems, source=source)
    return ConfigDocument(
        workspace,
        settings,
        dict(settings_raw),
        connections,
        rules,
        tuple(repositories),
        tokens,
        tuple(a.strip() for a in admins),
        bitbucket,
        platforms,
    )


def _read_platforms(reader: Reader, raw: Any) -> dict[str, dict[str, str]] | None:
    """``platforms:`` — each host's settings, checked as its ``PUT`` checks them; secrets only
    as ``${ENV}`` references (the server module is imported only when the section is there)."""
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        reader.problem("platforms", "expected a mapping of platform id to settings")
        return None
    from jirahooks.server import host_settings as hs

    out: dict[str, dict[str, str]] = {}
    for platform, section in raw.items():
        path = f"platforms.{platform}"
        try:
            spec = hs.host(str(platform))
        except KeyError:
            known = ", ".join(s.platform for s in hs.HOSTS)
            reader.problem(path, "not a platform with settings here", f"one of: {known}")
            continue
        if not isinstance(section, Mapping):
            reader.problem(path, "expected a mapping of settings")
            continue
        public: dict[str, Any] = {}
        for name, value in section.items():
            item = next((f for f in spec.fields if f.name == name), None)
            if item is not None and item.secret:
                problem = _secret_ref_error(value) if isinstance(value, str) else "expected text"
                if problem:
                    reader.problem(f"{path}.{name}", problem, _SECRET_HINT)
            else:
                public[str(name)] = "" if value is None else str(value)
        try:
            hs.check(spec, public)
        except hs.SettingsInvalid as exc:
            for p in exc.problems:
                reader.problem(f"{path}.{p.path}", p.message, p.hint)
        out[spec.platform] = {str(k): "" if v is None else str(v) for k, v in section.items()}
    return out


def read_file(path: str | Path) -> Any:
    """Plain data from a YAML (.yml/.yaml) or TOML (.toml) file, or JSON (.json)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")  # editors on Windows write a BOM
    except FileNotFoundError as exc:
        raise ConfigError([ConfigProblem(str(p), "file not found", "check the path")]) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([ConfigProblem(str(p), f"cannot read the file: {exc}")]) from exc
    suffix = p.suffix.lower()
    try:
        if suffix == ".toml":
            import tomllib

            return tomllib.loads(text)
        if suffix == ".json":
            from jirahooks.textcheck import load_json

            return load_json(text)  # nesting measured first: no deep recursion
        import yaml

        return yaml.safe_load(text)
    except Exception as exc:  # parser errors of three libraries, all reported the same way
        where = getattr(exc, "problem_mark", None)
        line = f" (line {where.line + 1}, column {where.column + 1})" if where is not None else ""
        raise ConfigError(
            [
                ConfigProblem(
                    str(p),
                    f"not valid {suffix.lstrip('.') or 'YAML'}{line}: {_first_line(exc)}",
                    "fix the syntax; `jirahooks rules validate FILE` checks a file",
                )
            ]
        ) from exc


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def load_file(path: str | Path) -> ConfigDocument:
    """Read and validate a configuration document (YAML, TOML or JSON).

    A file holding only a list of rules, or ``{rules: [...]}``, is a document too.
    """
    data = read_file(path)
    if isinstance(data, list):
        data = {"rules": data}
    return load_document(data, source=str(path))
