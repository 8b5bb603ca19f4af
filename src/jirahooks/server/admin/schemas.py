"""Request and response bodies of the admin API (pydantic, for validation and OpenAPI).

Secrets are write-only: request bodies accept ``token``; no response model has a field that
could carry one (``token_set`` says whether one is stored). The only exceptions are the
"shown once" answers when a validation token or an API token is created or rotated.

Every request model checks its text (``PlainText``): single-line fields hold no control
character, mappings (rule overrides) no NUL, lone surrogate or control character other than tab
and line breaks — so a web form and a JSON request get the same 422, and nothing that cannot be
stored or rendered reaches the database.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from jirahooks.textcheck import Kind, TextError, check_tree, text_problem

Deployment = Literal["cloud", "datacenter", "auto"]
RoleName = Literal["ADMIN", "MEMBER", "AUDITOR"]
AuthKind = Literal[
    "auto", "api_token", "scoped_api_token", "oauth_client_credentials", "pat", "basic"
]
AUTH_DOC = (
    "how the connection authenticates: api_token (Cloud, e-mail + API token), scoped_api_token "
    "(Cloud, e-mail + scoped token via api.atlassian.com), oauth_client_credentials (service "
    "account: client_id + client_secret; Cloud or Data Center), pat (Data Center personal access "
    "token), basic (Data Center user + password, deprecated); auto: api_token with an e-mail, "
    "else pat"
)
CLIENT_SECRET_DOC = "OAuth 2.0 client secret of the service account; write-only, never returned"
SCOPES_DOC = "OAuth scopes, space-separated (default: read:jira-work read:jira-user; DC: READ)"
TOKEN_URL_DOC = (
    "OAuth token endpoint (default: https://auth.atlassian.com/oauth/token; Data Center: "
    "<url>/rest/oauth2/latest/token)"
)
GATEWAY_DOC = (
    "Atlassian API gateway for scoped tokens and OAuth (default: https://api.atlassian.com)"
)
CLOUD_ID_DOC = "the Cloud site's cloudId (default: read from <url>/_edge/tenant_info on test)"


class PlainText(BaseModel):
    """A request body whose text is checked at the boundary (``jirahooks.textcheck``)."""

    @field_validator("*", mode="after")
    @classmethod
    def _plain_text(cls, value: Any) -> Any:
        items = value if isinstance(value, list) else [value]
        for item in items:
            if isinstance(item, str):
                problem = text_problem(item, Kind.LINE)
                if problem is not None:
                    raise ValueError(problem)
            elif isinstance(item, dict):
                try:
                    check_tree(item)
                except TextError as exc:
                    raise ValueError(str(exc)) from exc
        return value


class _In(PlainText):
    model_config = ConfigDict(extra="forbid")


BUDGET_DOC = "Jira requests per minute for this technical user, then jira_unreachable (0: none)"
EXISTENCE_DOC = "how long a found issue is trusted to exist, seconds (0: 6 h)"
NEGATIVE_DOC = "how long 'not found' is trusted, seconds, at most 300 (0: 30 s)"
FIELDS_DOC = "longest a JQL verdict is kept, seconds (0: 300 s)"
INDEX_DOC = "projects of up to this many issues get an existence index (0: none)"


class ConnectionIn(_In):
    name: str = Field(min_length=1, max_length=200)
    url: str = Field(min_length=1, max_length=500, examples=["https://acme.atlassian.net"])
    deployment: Deployment = "auto"
    email: str = Field("", max_length=320, description="technical user's e-mail (Cloud)")
    account_id: str = Field("", max_length=200, description="Atlassian account ID")
    token: str = Field(
        "", max_length=10_000, description="API token / PAT; write-only, never returned"
    )
    auth: AuthKind = Field("auto", description=AUTH_DOC)
    client_id: str = Field("", max_length=300, description="OAuth 2.0 client ID")
    client_secret: str = Field("", max_length=10_000, description=CLIENT_SECRET_DOC)
    scopes: str = Field("", max_length=1000, description=SCOPES_DOC)
    token_url: str = Field("", max_length=500, description=TOKEN_URL_DOC)
    gateway_url: str = Field("", max_length=500, description=GATEWAY_DOC)
    cloud_id: str = Field("", max_length=100, description=CLOUD_ID_DOC)
    timeout_seconds: float = Field(10.0, gt=0, le=120)
    max_concurrency: int = Field(4, ge=1, le=64)
    # the Jira budget (docs/jira.md): 0 = no ceiling / the cache's default
    budget_per_minute: int = Field(0, ge=0, le=100_000, description=BUDGET_DOC)
    cache_existence_seconds: float = Field(0.0, ge=0, le=7 * 86400, description=EXISTENCE_DOC)
    cache_negative_seconds: float = Field(0.0, ge=0, le=300, description=NEGATIVE_DOC)
    cache_fields_seconds: float = Field(0.0, ge=0, le=86400, description=FIELDS_DOC)
    index_max_issues: int = Field(20_000, ge=0, le=200_000, description=INDEX_DOC)
    token_expires_on: date | None = Field(
        None,
        description="the day the API token expires (Atlassian API tokens expire within a year):"
        " shown as 'expires in N days' / 'expired', and a rejected token past it is reported as"
        " TOKEN_EXPIRED",
    )
    save_anyway: bool = Field(
        False,
        description="the credentials are tested against Jira before saving and a failing "
        "connection is refused (422 CONNECTION_TEST_FAILED); true saves it anyway, with the "
        "failed test kept as its last test",
    )


class ConnectionPatch(_In):
    name: str | None = Field(None, min_length=1, max_length=200)
    url: str | None = Field(None, min_length=1, max_length=500)
    deployment: Deployment | None = None
    email: str | None = Field(None, max_length=320)
    account_id: str | None = Field(None, max_length=200)
    token: str | None = Field(
        None, max_length=10_000, description="a new token; omit to keep the stored one"
    )
    auth: AuthKind | None = Field(None, description=AUTH_DOC)
    client_id: str | None = Field(None, max_length=300)
    client_secret: str | None = Field(
        None, max_length=10_000, description="a new client secret; omit to keep the stored one"
    )
    scopes: str | None = Field(None, max_length=1000, description=SCOPES_DOC)
    token_url: str | None = Field(None, max_length=500, description=TOKEN_URL_DOC)
    gateway_url: str | None = Field(None, max_length=500, description=GATEWAY_DOC)
    cloud_id: str | None = Field(None, max_length=100, description=CLOUD_ID_DOC)
    timeout_seconds: float | None = Field(None, gt=0, le=120)
    max_concurrency: int | None = Field(None, ge=1, le=64)
    budget_per_minute: int | None = Field(None, ge=0, le=100_000, description=BUDGET_DOC)
    cache_existence_seconds: float | None = Field(
        None, ge=0, le=7 * 86400, description=EXISTENCE_DOC
    )
    cache_negative_seconds: float | None = Field(None, ge=0, le=300, description=NEGATIVE_DOC)
    cache_fields_seconds: float | None = Field(None, ge=0, le=86400, description=FIELDS_DOC)
    index_max_issues: int | None = Field(None, ge=0, le=200_000, description=INDEX_DOC)
    token_expires_on: date | None = Field(
        None, description="the day the API token expires; null clears it"
    )
    save_anyway: bool = Field(
        False,
        description="a change of URL, deployment, e-mail, account ID or token is tested against "
        "Jira first and refused when the test fails (422 CONNECTION_TEST_FAILED); true saves it "
        "anyway",
    )


TokenState = Literal["unknown", "valid", "expiring", "expired"]


class LastTest(BaseModel):
    """A connection's last test: when, the result and its reason (never the token)."""

    tested_at: datetime
    ok: bool
    code: str = Field(description="CONNECTED, ACCOUNT_MISMATCH, or the first problem's code")
    message: str
    hint: str = ""
    source: Literal["test", "runtime"] = Field(
        "test",
        description="test: a connection test; runtime: evaluations found the credentials "
        "rejected (or accepted again)",
    )
    last_success_at: datetime | None = Field(
        None, description="the last time Jira accepted the credentials (test or evaluation)"
    )


class ConnectionOut(BaseModel):
    """A connection as workspace administrators see it (the token never)."""

    id: int
    name: str
    url: str
    deployment: str
    email: str
    account_id: str
    token_set: bool
    auth: str = "auto"
    auth_effective: str = Field(
        "api_token", description="the kind used (auto resolved: api_token with an e-mail, else pat)"
    )
    client_id: str = ""
    client_secret_set: bool = False
    scopes: str = ""
    token_url: str = ""
    gateway_url: str = ""
    cloud_id: str = ""
    auth_warning: str = Field("", description="basic auth: why it should be replaced")
    position: int
    timeout_seconds: float
    max_concurrency: int
    budget_per_minute: int = 0
    cache_existence_seconds: float = 0.0
    cache_negative_seconds: float = 0.0
    cache_fields_seconds: float = 0.0
    index_max_issues: int = 20_000
    token_expires_on: date | None
    token_expires_in_days: int | None = Field(
        description="days until the token expires (negative: expired that many days ago)"
    )
    token_state: TokenState = Field(
        description="unknown (no expiry date), valid, expiring (within 14 days) or expired"
    )
    last_test: LastTest | None = Field(description="the last test; null when never tested")
    created_at: datetime
    updated_at: datetime


class ConnectionSummary(BaseModel):
    """A connection as everyone else sees it: no credentials."""

    id: int
    name: str
    url: str
    deployment: str
    position: int
    last_test_ok: bool | None = Field(description="the last test's result; null: never tested")
    token_state: TokenState


class ConnectionOrder(_In):
    ids: list[int] = Field(description="every connection id of the workspace, in the new order")


class ConnectionTestOut(BaseModel):
    ok: bool
    code: str  # the first problem's code ("CONNECTED" / "ACCOUNT_MISMATCH" when ok)
    message: str
    hint: str = ""
    deployment: str | None = None  # configured, else what serverInfo says
    account: dict[str, str] | None = None
    problems: list[dict[str, str]] = []  # every problem found: code, message, hint
    warnings: list[str] = []  # e.g. basic auth is deprecated (the test still passes)
    cloud_id: str = ""  # the gateway's cloudId (scoped tokens, Cloud OAuth): stored
    tested_at: datetime | None = None


class RepositoryConnectionOut(BaseModel):
    connection: ConnectionSummary
    enabled: bool


class ConnectionSwitch(_In):
    enabled: bool


class RepositoryIn(_In):
    slug: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
    uuid: str | None = Field(None, max_length=100)


class RepositoryPatch(_In):
    slug: str | None = Field(
        None,
        min_length=1,
        max_length=200,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$",
        description="a new slug: renames the repository (workspace admins)",
    )
    uuid: str | None = Field(None, max_length=100)
    disabled_rules: list[str] | None = Field(
        None, description="workspace rule ids switched off here"
    )


class RepositoryOut(BaseModel):
    id: int
    slug: str
    uuid: str | None
    disabled_rules: list[str]
    created_at: datetime


class WorkspaceOut(BaseModel):
    id: int
    slug: str
    name: str
    role: str = Field(description="your role: ADMIN, MEMBER, AUDITOR, or REPOSITORY_ADMIN")


class SettingsOut(BaseModel):
    settings: dict[str, Any] = Field(description="the values set at this scope")
    effective: dict[str, Any] = Field(description="what applies (defaults and overrides merged)")


class RuleOut(BaseModel):
    id: str
    scope: str
    position: int
    definition: dict[str, Any]
    rule: dict[str, Any] = Field(description="the rule as the Validation API shows it")
    warnings: list[str] = []
    error: str | None = Field(
        None,
        description="set when the stored definition no longer reads (stored by an older version):"
        " the rule then blocks (or warns, if its severity is WARNING) until it is fixed or deleted",
    )
    updated_at: datetime


class FromTemplate(_In):
    template: str = Field(max_length=200)
    overrides: dict[str, Any] = {}


class ValidationTokenIn(_In):
    name: str = Field(min_length=1, max_length=200)
    repository: str | None = Field(None, description="repository slug; omit for the workspace")


class ValidationTokenOut(BaseModel):
    id: int
    name: str
    repository: str | None
    created_by: str
    created_at: datetime
    rotated_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


class RepositoryEndpoint(BaseModel):
    repository: str
    endpoint: str = Field(description="the URL to paste into JHFB_ENDPOINT for this repository")


class ValidationTokenSecret(ValidationTokenOut):
    secret: str = Field(description="the HMAC secret (JHFB_SECRET); shown only in this answer")
    endpoint: str = Field(
        description="a repository token: the URL to paste into JHFB_ENDPOINT; a workspace "
        "token: the URL with a '<repository-slug>' placeholder — paste one of 'endpoints'"
    )
    endpoints: list[RepositoryEndpoint] = Field(
        description="the URL to paste into JHFB_ENDPOINT, per repository the token can sign for"
    )


class UserIn(_In):
    name: str = Field(min_length=1, max_length=200)
    email: str = Field("", max_length=320)
    role: RoleName | None = Field("MEMBER", description="workspace role; null for none")
    repository_admin: list[str] = Field([], description="slugs of repositories they administer")


class UserPatch(_In):
    role: RoleName | None = None
    repository_admin: list[str] | None = None


class UserOut(BaseModel):
    id: int
    name: str
    email: str
    role: str | None
    repository_admin: list[str]


class ApiTokenIn(_In):
    name: str = Field(min_length=1, max_length=200)


class ApiTokenOut(BaseModel):
    id: int
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiTokenSecret(ApiTokenOut):
    token: str = Field(description="the API token; shown only in this answer")


class MeOut(BaseModel):
    id: int
    name: str
    email: str
    workspaces: list[WorkspaceOut]


class EvaluationOut(BaseModel):
    id: int
    repository: str | None
    created_at: datetime
    source: str
    trigger: str
    branch: str
    result: str
    duration_ms: float
    token: str | None
    user: str | None
    rules: list[dict[str, Any]]
    # the X-Request-Id of the request that made it (also on its log lines); "" before 0008
    request_id: str = ""
    # its link in the workspace's hash chain (docs/audit.md, migration 0012) and the
    # workspace's configuration version its rules were read at (None: not recorded)
    chain_seq: int | None = None
    chain_hash: str | None = None
    config_version: int | None = None


class EvaluationDetail(EvaluationOut):
    event: dict[str, Any]
    document: dict[str, Any]
    issues: dict[str, Any]


class AuditOut(BaseModel):
    id: int
    at: datetime
    actor: str
    action: str
    target: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None


class Page(BaseModel):
    """A page of results; pass ``next_before`` as ``before`` for the next page."""

    next_before: int | None = None


class EvaluationPage(Page):
    items: list[EvaluationOut]


class AuditPage(Page):
    items: list[AuditOut]
