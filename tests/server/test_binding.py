"""``jirahooks.server.binding``: which edits move a stored credential to another destination."""

from __future__ import annotations

import pytest

from jirahooks.server.binding import bitbucket_binding, changed, jira_binding, normalised_url


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("https://acme.atlassian.net", "https://ACME.atlassian.net/"),
        ("https://acme.atlassian.net", "HTTPS://acme.atlassian.net:443"),
        ("http://jira.local/jira", "http://jira.local:80/jira/"),
        ("https://jira.local/jira", " https://jira.local/jira "),
    ],
)
def test_the_same_destination(a: str, b: str) -> None:
    assert normalised_url(a) == normalised_url(b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("https://acme.atlassian.net", "http://acme.atlassian.net"),
        ("https://acme.atlassian.net", "https://acme.atlassian.net:8443"),
        ("https://acme.atlassian.net", "https://acme.atlassian.net.evil.example"),
        ("https://jira.local/jira", "https://jira.local/Jira"),
        ("https://jira.local/jira", "https://jira.local"),
        ("https://jira.local", "https://bot@jira.local"),
        ("https://jira.local", "https://jira.local:99999"),  # does not parse: compared as typed
    ],
)
def test_another_destination(a: str, b: str) -> None:
    assert normalised_url(a) != normalised_url(b)


def test_changed_names_the_fields_in_order() -> None:
    before = jira_binding("https://a.example", "cloud", "bot@example.com", "acct")
    after = jira_binding("https://b.example", "cloud", "bot@example.com", "acct-2")
    assert changed(before, after) == ["url", "account_id"]
    assert changed(before, {"url": "https://A.example/"}) == []
    old = bitbucket_binding("https://api.bitbucket.org/2.0", "access_token", "", "acme")
    new = bitbucket_binding("https://api.bitbucket.org/2.0/", "access_token", "", "other")
    assert changed(old, new) == ["bitbucket_workspace"]
