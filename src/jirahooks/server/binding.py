"""Stored credentials are bound to the destination and identity they were entered for.

A Jira token was typed in for one Jira (scheme, host, port and path of the base URL), one
technical user (e-mail, account ID) and one way of authenticating (the deployment type decides
Basic or Bearer); a Bitbucket token or app password for one API URL, auth kind, username and
Bitbucket workspace. An update that changes any of those and does not supply the secret again
is refused, whoever makes it (admin API, web UI, ``jirahooks apply``): otherwise "Test
connection", a JQL check or the next evaluation would hand the stored secret to a host it was
never meant for.

Comparison is on normalised values, so ``https://Acme.atlassian.net/`` and
``https://acme.atlassian.net:443`` are the same destination and re-saving a form unchanged is
never refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

_DEFAULT_PORTS = {"http": 80, "https": 443}

# Field names of the binding, as the admin API and the configuration document name them.
URL_FIELDS = frozenset({"url", "api_url"})


def normalised_url(url: str) -> str:
    """``scheme://userinfo@host:port/path?query`` with case, default port and trailing slashes
    normalised; a URL that does not parse is compared as typed."""
    text = url.strip()
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        return text
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    userinfo = parts.netloc.rpartition("@")[0] if "@" in parts.netloc else ""
    port = port if port is not None else _DEFAULT_PORTS.get(scheme, 0)
    path = parts.path.rstrip("/")
    query = f"?{parts.query}" if parts.query else ""
    return f"{scheme}://{userinfo}@{host}:{port}{path}{query}"


def _normalised(name: str, value: str) -> str:
    return normalised_url(value) if name in URL_FIELDS else value.strip()


def changed(before: Mapping[str, str], after: Mapping[str, str]) -> list[str]:
    """The binding fields whose value differs (normalised), in ``before``'s order."""
    return [
        name
        for name, old in before.items()
        if _normalised(name, old) != _normalised(name, after.get(name, old))
    ]


def jira_binding(url: str, deployment: str, email: str, account_id: str) -> dict[str, str]:
    """What a Jira connection's token is bound to."""
    return {"url": url, "deployment": deployment, "email": email, "account_id": account_id}


def bitbucket_binding(
    api_url: str, auth_kind: str, username: str, bitbucket_workspace: str
) -> dict[str, str]:
    """What the Bitbucket token or app password is bound to (effective values: an empty API URL
    is Bitbucket Cloud's, an empty Bitbucket workspace the jirahooks workspace's slug)."""
    return {
        "api_url": api_url,
        "auth_kind": auth_kind,
        "username": username,
        "bitbucket_workspace": bitbucket_workspace,
    }


def token_required_message(fields: list[str], secret: str = "token") -> str:
    """``token: …`` (the web forms show a message naming a field next to that field)."""
    names = ", ".join(fields)
    return (
        f"{secret}: changing {names} requires the {secret.replace('_', ' ')} again; "
        f"the stored one is only ever sent to the destination and user it was entered for"
    )
