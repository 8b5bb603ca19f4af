"""A stateful fake Jira (Cloud or Data Center) on a real HTTP server, for tests and benchmarks.

It answers the way the official OpenAPI documents and docs/external-apis.md say (a conformance
test checks it against ../shared/specs/)::

    with FakeJira("cloud") as jira:             # or FakeJira("datacenter", context_path="/jira")
        jira.add_issue("ABC-1", status="In Progress", fix_versions=["1.0"])
        jira.move_issue("ABC-1", "XYZ-7")           # ABC-1 now answers as XYZ-7
        jira.fail(429, retry_after="2", times=1)    # fault injection
        ...                                         # point a client at jira.url with jira.token
        assert jira.count("/rest/api/3/issue/bulkfetch") == 1

Options: ``context_path``, ``max_results_cap`` (Data Center search), ``latency`` (seconds added
to every answer), ``anonymous_access`` (bad credentials get 200 + ``X-Seraph-LoginReason:
AUTHENTICATED_FAILED`` and see nothing), ``tls=(certfile, keyfile)`` (https). Data: ``add_issue``,
``add_issues``, ``add_project``, ``move_issue``, ``add_user``/``revoke_token``/
``expire_token`` (401 like a wrong token), ``hidden=True`` issues (exist, not visible), ``set_deployment()``. Faults: ``fail(status, retry_after=,
times=, path=)``, ``serve_html()``, ``hang(seconds)``, ``seraph_reason``. Log: ``requests``,
``count(path)``, ``requests_to(path)``, ``reset_log()``. tests/jira/conftest.py has the
``jira_factory``, ``cloud_jira``, ``dc_jira``, ``jira`` (both deployments) and ``connect``
fixtures.

Cloud: ``POST /rest/api/3/issue/bulkfetch``, ``GET|POST /rest/api/3/search/jql``,
``POST /rest/api/3/jql/match``, ``POST /rest/api/3/jql/parse``, ``GET /rest/api/3/issue/{key}``,
``GET /rest/api/3/myself``, ``GET /rest/api/{2,3}/serverInfo``, ``GET /rest/api/3/project/search``;
``/rest/api/{2,3}/search`` answer 410; every Cloud path also under the gateway prefix
``/ex/jira/{cloudId}`` (``gateway_url`` is ``origin``), ``GET /_edge/tenant_info`` and the
OAuth token endpoint ``POST /oauth/token`` (``token_url``). Credentials beyond user tokens
(fake_jira_auth.py): ``add_scoped_token``, ``add_oauth_client``, ``expire_access_tokens``,
``block_token``, ``creds.basic_auth = False`` (Data Center PAT only). Data Center: ``GET|POST /rest/api/2/search``
(``validateQuery``, ``startAt`` paging, a ``max_results_cap``), ``/rest/api/2/myself``,
``/rest/api/2/serverInfo``, ``/rest/api/2/project``, ``/rest/api/2/issue/{key}``; Bearer PATs.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from . import fake_jira_auth as fauth
from . import fake_jira_jql as jql
from .fake_jira_routes import ALL_FIELDS, Router
from .loopback import LoopbackServer

LOGIN_PAGE = (
    "<!DOCTYPE html><html><head><title>Log in - Jira</title></head>"
    "<body><form id='login-form'>Username <input name='os_username'></form></body></html>"
)


@dataclass
class FakeIssue:
    key: str
    id: str
    summary: str = ""
    status: str = "To Do"
    status_category: str = "new"
    issue_type: str = "Task"
    assignee: str | None = None
    fix_versions: list[str] = field(default_factory=list)
    hidden: bool = False
    old_keys: list[str] = field(default_factory=list)
    updated: float = field(default_factory=time.time)  # epoch seconds (JQL ``updated``)

    @property
    def project(self) -> str:
        return self.key.rsplit("-", 1)[0]


@dataclass
class FakeUser:
    name: str
    email: str
    token: str
    account_id: str
    display_name: str = ""
    scoped: bool = False  # a scoped API token: only through the gateway, only its scopes
    scopes: frozenset[str] = frozenset()


@dataclass
class Fault:
    """An injected misbehaviour for requests whose path contains ``path`` (all when empty)."""

    status: int | None = None
    times: int = 1  # -1: forever
    path: str = ""
    method: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    body: str | None = None
    content_type: str = "application/json;charset=UTF-8"
    hang: float = 0.0

    def applies(self, method: str, path: str) -> bool:
        return self.times != 0 and self.path in path and (not self.method or self.method == method)


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    headers: dict[str, str]
    status: int = 0
    response: Any = None
    response_type: str = ""
    gateway: str = ""  # the cloudId when the request came through /ex/jira/{cloudId}


class FakeJira:
    """See the module docstring. Thread-safe; every request is recorded in ``requests``."""

    def __init__(
        self,
        deployment: str = "cloud",
        *,
        context_path: str = "",
        max_results_cap: int = 1000,
        latency: float = 0.0,
        anonymous_access: bool = False,
        tls: tuple[str, str] | None = None,
    ) -> None:
        if deployment not in ("cloud", "datacenter"):
            raise ValueError("deployment is 'cloud' or 'datacenter'")
        self.deployment = deployment
        self.context_path = "/" + context_path.strip("/") if context_path.strip("/") else ""
        self.max_results_cap = max_results_cap
        self.latency = latency
        self.anonymous_access = anonymous_access
        self.tls = tls  # (certificate file, key file): serve https
        self.seraph_reason: str | None = None  # forced on every response when set
        self.issues: dict[str, FakeIssue] = {}  # by id
        self.projects: dict[str, str] = {}  # key -> name
        self.users: list[FakeUser] = []
        self.faults: list[Fault] = []
        self.requests: list[RecordedRequest] = []
        self.lock = threading.RLock()
        self._next_id = 10000
        self._keys: dict[str, str] = {}  # current and old keys (upper) -> issue id
        self._stopping = threading.Event()
        self.creds = fauth.Credentials()
        self.in_flight = 0
        self.peak_in_flight = 0  # most requests being answered at once
        self._server: LoopbackServer | None = None
        self._port = 0
        self.user = self.add_user(
            "jirahooks-bot", "bot@example.com", "fake-api-token-1", "5b10ac8d82e05b22cc7d4ef5"
        )

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> FakeJira:
        router = Router(self)

        class Handler(_Handler):
            pass

        Handler.router = router
        self.router = router
        self._handler: type[_Handler] = Handler
        self._server = LoopbackServer(Handler, tls=self.tls).start()
        self._port = self._server.port
        return self

    def set_deployment(self, deployment: str) -> None:
        """Switch between ``cloud`` and ``datacenter`` (also while running): the endpoints,
        auth scheme and serverInfo change; the data stays."""
        if deployment not in ("cloud", "datacenter"):
            raise ValueError("deployment is 'cloud' or 'datacenter'")
        with self.lock:
            self.deployment = deployment
            if self._server is not None:
                self._handler.router = Router(self)

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.stop()
            self._server = None

    def __enter__(self) -> FakeJira:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._port, "start the fake first"
        return self._port

    @property
    def origin(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """The base URL a connection is configured with (context path included)."""
        return self.origin + self.context_path

    @property
    def token(self) -> str:
        return self.user.token

    @property
    def cloud_id(self) -> str:
        return self.creds.cloud_id

    @property
    def gateway_url(self) -> str:
        """What a connection's ``gateway_url`` is set to (the fake is its own gateway)."""
        return self.origin

    @property
    def token_url(self) -> str:
        """The OAuth token endpoint: Cloud's auth.atlassian.com shape, or Data Center's."""
        if self.deployment == "cloud":
            return self.origin + fauth.CLOUD_TOKEN_PATH
        return self.url + fauth.DC_TOKEN_PATH

    # -- credentials ------------------------------------------------------------------------

    def add_scoped_token(
        self, email: str, token: str, scopes: tuple[str, ...] = ("read:jira-work", "read:jira-user")
    ) -> FakeUser:
        """A service account holding a scoped API token (works only via the gateway)."""
        user = self.add_user(email.split("@")[0], email, token, f"712020:{len(self.users):08d}")
        user.scoped, user.scopes = True, frozenset(scopes)
        return user

    def add_oauth_client(
        self,
        client_id: str = "fake-client-id",
        secret: str = "fake-client-secret",
        *,
        scopes: tuple[str, ...] = ("read:jira-work", "read:jira-user", "READ"),
        lifetime: int = 3600,
    ) -> fauth.FakeOAuthClient:
        """A service account with OAuth 2.0 client credentials."""
        user = self.add_user(
            f"svc-{client_id}", f"{client_id}@serviceaccount.atlassian.com", "", client_id
        )
        client = fauth.FakeOAuthClient(client_id, secret, user, frozenset(scopes), lifetime)
        with self.lock:
            self.creds.clients[client_id] = client
        return client

    def expire_access_tokens(self) -> None:
        """Every access token issued so far is past its expiry (401 from now on)."""
        with self.lock:
            for token in self.creds.tokens.values():
                token.expires_at = 0.0

    def revoke_oauth_client(self, client_id: str) -> None:
        """The credential is deleted: no new tokens (``invalid_client``), old ones stop."""
        with self.lock:
            self.creds.clients.pop(client_id, None)
            for value in [
                v for v, t in self.creds.tokens.items() if t.client.client_id == client_id
            ]:
                del self.creds.tokens[value]

    def block_token(self, token: str) -> None:
        """The organisation's policy blocks this API token (401 saying so)."""
        with self.lock:
            self.creds.blocked.add(token)

    # -- data -------------------------------------------------------------------------------

    def add_user(
        self, name: str, email: str, token: str, account_id: str, display_name: str = ""
    ) -> FakeUser:
        user = FakeUser(name, email, token, account_id, display_name or name.title())
        with self.lock:
            self.users.append(user)
        return user

    def revoke_token(self, token: str) -> None:
        """The token stops working (expired or revoked) — 401 from now on."""
        with self.lock:
            for user in self.users:
                if user.token == token:
                    user.token = ""

    def expire_token(self, token: str) -> None:
        """The token reaches its expiry date. Jira answers an expired API token (or PAT) exactly
        like a wrong one — 401 on ``/myself``, ``X-Seraph-LoginReason: AUTHENTICATED_FAILED``,
        nothing in the body that says "expired" (both specs document only "credentials
        incorrect or missing"; external-apis.md) — so this is ``revoke_token`` by its reason."""
        self.revoke_token(token)

    def add_project(self, key: str, name: str = "") -> None:
        with self.lock:
            self.projects.setdefault(key.upper(), name or f"Project {key.upper()}")

    def add_issue(
        self,
        key: str,
        *,
        summary: str = "",
        status: str = "To Do",
        status_category: str = "",
        issue_type: str = "Task",
        assignee: str | None = None,
        fix_versions: list[str] | tuple[str, ...] = (),
        hidden: bool = False,
    ) -> FakeIssue:
        """Add an issue (and its project). ``assignee`` is an account id (Cloud) or a user
        name (Data Center); ``hidden`` issues exist but the connection's user may not see them."""
        categories = {"to do": "new", "in progress": "indeterminate", "done": "done"}
        with self.lock:
            upper = key.upper()
            if upper in self._keys:
                raise ValueError(f"{upper} exists")
            self._next_id += 1
            issue = FakeIssue(
                key=upper,
                id=str(self._next_id),
                summary=summary or f"Summary of {upper}",
                status=status,
                status_category=status_category or categories.get(status.lower(), "indeterminate"),
                issue_type=issue_type,
                assignee=assignee,
                fix_versions=list(fix_versions),
                hidden=hidden,
            )
            self.issues[issue.id] = issue
            self._keys[upper] = issue.id
            self.add_project(issue.project)
            return issue

    def add_issues(self, project: str, count: int, *, start: int = 1, **kwargs: Any) -> list[str]:
        """``count`` issues PROJECT-start … ; returns their keys."""
        return [self.add_issue(f"{project}-{n}", **kwargs).key for n in range(start, start + count)]

    def move_issue(self, old_key: str, new_key: str) -> FakeIssue:
        """Move or rename: the issue answers under ``new_key``; ``old_key`` still finds it."""
        with self.lock:
            issue = self.issues[self._keys[old_key.upper()]]
            issue.old_keys.append(issue.key)
            issue.key = new_key.upper()
            self._keys[issue.key] = issue.id
            self.add_project(issue.project)
            return issue

    def set_status(self, key: str, status: str, *, status_category: str = "") -> FakeIssue:
        """Transition an issue (as a user in Jira would); no webhook is sent by itself."""
        categories = {"to do": "new", "in progress": "indeterminate", "done": "done"}
        with self.lock:
            issue = self.issues[self._keys[key.upper()]]
            issue.status = status
            issue.updated = time.time()
            issue.status_category = status_category or categories.get(
                status.lower(), "indeterminate"
            )
            return issue

    def delete_issue(self, key: str) -> FakeIssue:
        with self.lock:
            issue = self.issues.pop(self._keys[key.upper()])
            for k in [k for k, v in self._keys.items() if v == issue.id]:
                del self._keys[k]
            return issue

    # -- webhooks (Jira → us) ---------------------------------------------------------------

    def webhook_payload(
        self, event: str, key: str, *, changelog: list[dict[str, Any]] | None = None
    ) -> dict[str, Any]:
        """A Jira webhook body: ``webhookEvent``, ``timestamp`` (ms), ``user``, ``issue`` (the
        issue bean with all navigable fields) and, for updates, ``changelog.items``. For
        ``jira:issue_deleted`` pass the issue before deleting it (or its key after: the bean
        then carries only the key)."""
        issue = self.find(key)
        bean: dict[str, Any]
        if issue is not None:
            bean = self.router.bean(issue, set(ALL_FIELDS))
        else:
            bean = {"key": key.upper()}
        payload: dict[str, Any] = {
            "timestamp": int(time.time() * 1000),
            "webhookEvent": event,
            "user": {"accountId": self.user.account_id, "displayName": self.user.name},
            "issue": bean,
        }
        if event == "jira:issue_updated":
            payload["issue_event_type_name"] = "issue_generic"
            payload["changelog"] = {"id": "10400", "items": changelog or []}
        return payload

    def send_webhook(
        self, url: str, payload: dict[str, Any], *, secret: str | None, signature: str = ""
    ) -> tuple[int, Any]:
        """POST a webhook the way Jira does: JSON body, ``X-Hub-Signature: sha256=<HMAC>`` when
        the webhook has a secret (``signature`` overrides it, to test forgeries). Returns the
        status and the decoded answer."""
        import hashlib
        import hmac
        import urllib.error
        import urllib.request

        body = json.dumps(payload).encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "Atlassian Webhook HTTP Client",
        }
        if secret is not None:
            digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
            headers["X-Hub-Signature"] = signature or f"sha256={digest}"
        elif signature:
            headers["X-Hub-Signature"] = signature
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null")

    def find(self, key_or_id: str) -> FakeIssue | None:
        """The issue for a key (current or old, any case) or an id; hidden ones included."""
        with self.lock:
            text = key_or_id.strip()
            issue_id = text if text.isdigit() else self._keys.get(text.upper())
            return self.issues.get(issue_id) if issue_id else None

    def key_exists(self, key: str) -> bool:
        issue = self.find(key)
        return issue is not None and not issue.hidden

    # -- faults -----------------------------------------------------------------------------

    def fail(
        self,
        status: int,
        *,
        times: int = 1,
        path: str = "",
        method: str = "",
        retry_after: str | None = None,
        headers: dict[str, str] | None = None,
        body: str | None = None,
        content_type: str = "application/json;charset=UTF-8",
    ) -> Fault:
        """Answer ``status`` to the next ``times`` matching requests (-1: until cleared)."""
        all_headers = dict(headers or {})
        if retry_after is not None:
            all_headers["Retry-After"] = retry_after
        if body is None and "json" in content_type:
            body = json.dumps({"errorMessages": [f"Injected HTTP {status}"], "errors": {}})
        fault = Fault(status, times, path, method, all_headers, body, content_type)
        with self.lock:
            self.faults.append(fault)
        return fault

    def serve_html(self, *, times: int = 1, path: str = "", status: int = 200) -> Fault:
        """Answer a login page (text/html) instead of JSON, as an SSO proxy would."""
        return self.fail(status, times=times, path=path, body=LOGIN_PAGE, content_type="text/html")

    def hang(self, seconds: float, *, times: int = 1, path: str = "") -> Fault:
        """Wait ``seconds`` before answering (normally) the next matching requests."""
        fault = Fault(None, times, path, hang=seconds)
        with self.lock:
            self.faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        with self.lock:
            self.faults.clear()

    def take_fault(self, method: str, path: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.applies(method, path):
                    if fault.times > 0:
                        fault.times -= 1
                    return fault
        return None

    def wait(self, seconds: float) -> None:
        """Sleep, but wake up when the server stops (so a hung request never blocks exit)."""
        if seconds > 0:
            self._stopping.wait(seconds)

    # -- request log ------------------------------------------------------------------------

    def count(self, path: str | None = None, *, method: str | None = None) -> int:
        """Requests received (to exactly ``path``, without the context path, when given)."""
        with self.lock:
            return sum(
                1
                for r in self.requests
                if (path is None or r.path == path) and (method is None or r.method == method)
            )

    def requests_to(self, path: str) -> list[RecordedRequest]:
        with self.lock:
            return [r for r in self.requests if r.path == path]

    def reset_log(self) -> None:
        with self.lock:
            self.requests.clear()

    def paths(self) -> Iterator[str]:
        with self.lock:
            return iter([r.path for r in self.requests])

    # -- auth -------------------------------------------------------------------------------

    def authenticate(self, header: str) -> tuple[FakeUser | None, bool]:
        """(user, credentials_failed) for an Authorization header (at the site URL)."""
        request = RecordedRequest("GET", "/rest/api/2/myself", {}, None, {"authorization": header})
        user, failed, _ = fauth.authenticate(self, request)
        return user, failed

    def parse_jql(self, text: str) -> jql.Query:
        return jql.parse(text)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 30
    disable_nagle_algorithm = True  # headers and body leave at once: no 40 ms delayed-ACK stalls
    router: Router

    def log_message(self, format: str, *args: Any) -> None:
        return None

    def _handle(self) -> None:
        fake = self.router.fake
        split = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        path = split.path
        inside = (
            not fake.context_path
            or path == fake.context_path
            or path.startswith(fake.context_path + "/")
        )
        path = path[len(fake.context_path) :] if inside else path
        gateway = ""
        if inside and path.startswith("/ex/jira/"):
            gateway, _, rest = path[len("/ex/jira/") :].partition("/")
            path = "/" + rest
        record = RecordedRequest(
            self.command,
            path,
            parse_qs(split.query, keep_blank_values=True),
            body,
            {k.lower(): v for k, v in self.headers.items()},
            gateway=gateway,
        )
        with fake.lock:
            fake.requests.append(record)
            fake.in_flight += 1
            fake.peak_in_flight = max(fake.peak_in_flight, fake.in_flight)
        try:
            fake.wait(fake.latency)
            status, headers, payload, content_type = self.router.dispatch(record, inside)
        finally:
            with fake.lock:
                fake.in_flight -= 1
        record.status = status
        record.response = payload
        record.response_type = content_type
        data = (
            json.dumps(payload).encode()
            if "json" in content_type and not isinstance(payload, str)
            else str(payload or "").encode()
        )
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except OSError:  # the client gave up (timeout) and closed the connection
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_DELETE = _handle


def wait_until(predicate: Any, timeout: float = 5.0) -> bool:
    """Poll ``predicate`` (for tests that need a background effect)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.01)
    return False
