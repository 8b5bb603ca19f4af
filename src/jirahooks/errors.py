"""One exception tree for jirahooks. Every problem carries a code, a message and a hint.

::

    JirahooksError                 code, message, hint; exit_code for the CLI
    ├── UsageError                 bad command-line use                      (exit 2)
    ├── ConfigError                invalid configuration / rules document   (exit 3)
    │                              .problems: list[ConfigProblem] with exact paths
    ├── EnvironmentProblem         git missing, file unreadable, …           (exit 4)
    │   └── GitError               a git command failed
    ├── JiraError                  talking to Jira failed                    (exit 4)
    │   ├── JiraAuthError          401/403/X-Seraph-LoginReason: rotate the token
    │   ├── JiraUnavailable        timeouts, 5xx, 429 past the deadline, HTML answers
    │   └── JiraRequestError       Jira rejected our request (4xx with errorMessages)
    ├── PlatformError              a code host's API (jirahooks.platforms.base)
    │   ├── PlatformAuthError      credentials rejected
    │   ├── PlatformUnavailable    transient: retried later, nothing is lost
    │   ├── PlatformRequestError   the host rejected our request
    │   └── WebhookError           a delivery that cannot be processed
    └── ServerRejected             the Validation API refused a hook's request
                                   (jirahooks.hooks.remote)

HTTP handlers translate these (and their own internal signals, such as the Validation API's
``Rejection``) into ``{"error", "errorCode"}`` or ``{"code", "message", "hint"}`` bodies.

Third-party exceptions are translated at the boundary with ``raise … from exc``.

This module sits on the hook path (``jirahooks.hooks.entry``): it imports nothing, not even
``dataclasses`` (whose import alone costs more than a bare interpreter start).
"""

from __future__ import annotations

# Fixed, documented exit codes (docs/cli.md).
EXIT_OK = 0
EXIT_BLOCKED = 1
EXIT_USAGE = 2
EXIT_CONFIG = 3
EXIT_ENVIRONMENT = 4
EXIT_INTERNAL = 70


class JirahooksError(Exception):
    """Base of every error jirahooks raises on purpose."""

    code = "ERROR"
    exit_code = EXIT_INTERNAL

    def __init__(self, message: str, *, hint: str = "", code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        if code is not None:
            self.code = code

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message, "hint": self.hint}


class UsageError(JirahooksError):
    code = "USAGE"
    exit_code = EXIT_USAGE


class ConfigProblem:
    """One problem in a configuration document, at an exact path like ``rules[2].checks.naming``.

    An immutable value (equal by its fields, hashable), written out instead of a frozen
    dataclass to keep this module import-free."""

    __slots__ = ("hint", "message", "path")
    path: str
    message: str
    hint: str

    def __init__(self, path: str, message: str, hint: str = "") -> None:
        object.__setattr__(self, "path", path)
        object.__setattr__(self, "message", message)
        object.__setattr__(self, "hint", hint)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"ConfigProblem is immutable: cannot set {name}")

    def _fields(self) -> tuple[str, str, str]:
        return (self.path, self.message, self.hint)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ConfigProblem):
            return NotImplemented
        return self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash(self._fields())

    def __repr__(self) -> str:
        return f"ConfigProblem(path={self.path!r}, message={self.message!r}, hint={self.hint!r})"

    def __str__(self) -> str:
        text = f"{self.path}: {self.message}" if self.path else self.message
        return f"{text} (hint: {self.hint})" if self.hint else text


class ConfigError(JirahooksError):
    code = "CONFIG_INVALID"
    exit_code = EXIT_CONFIG

    def __init__(self, problems: list[ConfigProblem], *, source: str = "") -> None:
        self.problems = problems
        self.source = source
        where = f"{source}: " if source else ""
        count = len(problems)
        summary = f"{where}{count} problem{'s' if count != 1 else ''} in the configuration"
        first_hint = next((p.hint for p in problems if p.hint), "")
        super().__init__(summary, hint=first_hint or "fix the values at the paths shown")

    def __str__(self) -> str:
        return "\n".join([self.message, *(f"  - {p}" for p in self.problems)])


class EnvironmentProblem(JirahooksError):
    code = "ENVIRONMENT"
    exit_code = EXIT_ENVIRONMENT


class GitError(EnvironmentProblem):
    code = "GIT_FAILED"


class JiraError(JirahooksError):
    code = "JIRA_ERROR"
    exit_code = EXIT_ENVIRONMENT

    def __init__(
        self, message: str, *, hint: str = "", code: str | None = None, connection: str = ""
    ) -> None:
        super().__init__(message, hint=hint, code=code)
        self.connection = connection


class JiraAuthError(JiraError):
    code = "JIRA_AUTH_REJECTED"


class JiraUnavailable(JiraError):
    code = "JIRA_UNAVAILABLE"


class JiraRequestError(JiraError):
    code = "JIRA_REQUEST_REJECTED"
