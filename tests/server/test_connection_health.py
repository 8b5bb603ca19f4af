"""A connection is tested when it is saved, keeps its last test, and knows when its token
expires (issue 14, "a connection is saved with a wrong token without a word").

On b9f4856 a wrong token was saved with 201, ``POST …/test`` results were not kept, and there was
no expiry date. Now: create/update test the credentials against Jira (the fake answers as the
specs say: 401 on ``/myself`` for a wrong *and* for an expired token), refuse a failing
connection with 422 ``CONNECTION_TEST_FAILED`` unless ``save_anyway``, and every connection
carries its last test (when, result, reason — never the token) and its token's expiry state.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from tests.fakes.fake_jira import FakeJira
from tests.server.conftest import Server

WS = "default"
C = f"/workspaces/{WS}/connections"


@pytest.fixture
def jira() -> Iterator[FakeJira]:
    with FakeJira("cloud") as fake:
        fake.add_issue("ABC-1")
        yield fake


def _body(jira: FakeJira, **extra: Any) -> dict[str, Any]:
    return {
        "name": "jira",
        "url": jira.url,
        "deployment": "cloud",
        "email": jira.user.email,
        "token": jira.token,
        **extra,
    }


def test_a_wrong_token_is_refused_and_nothing_is_saved(server: Server, jira: FakeJira) -> None:
    response = server.call("POST", C, json=_body(jira, token="wrong-token-1"))
    assert response.status_code == 422, response.text
    answer = response.json()
    assert answer["code"] == "CONNECTION_TEST_FAILED"
    assert answer["test"]["ok"] is False and answer["test"]["code"] == "JIRA_AUTH_REJECTED"
    assert "save_anyway" in answer["hint"]
    assert "wrong-token-1" not in response.text
    assert jira.count("/rest/api/3/myself") == 1  # the credentials were really tried
    assert server.ok("GET", C) == []
    assert (
        server.ok("GET", f"/workspaces/{WS}/audit", params={"action": "connection.create"})["items"]
        == []
    )


def test_save_anyway_keeps_the_failed_test_for_the_list(server: Server, jira: FakeJira) -> None:
    created = server.ok("POST", C, json=_body(jira, token="wrong-token-1", save_anyway=True))
    last = created["last_test"]
    assert last["ok"] is False and last["code"] == "JIRA_AUTH_REJECTED" and last["message"]
    assert datetime.fromisoformat(last["tested_at"])
    # after a "reload" the list still says which connection is broken, and why
    [listed] = server.ok("GET", C)
    assert listed["last_test"] == last
    audit = server.ok("GET", f"/workspaces/{WS}/audit", params={"action": "connection.create"})
    assert audit["items"][0]["after"]["saved_anyway"] is True
    assert "wrong-token-1" not in str(server.ok("GET", C)) + str(audit)
    # fixing the token is tested too, and the last test follows
    fixed = server.ok("PATCH", f"{C}/{created['id']}", json={"token": jira.token})
    assert fixed["last_test"]["ok"] is True and fixed["last_test"]["code"] == "CONNECTED"


def test_a_good_connection_is_saved_with_a_passing_test(server: Server, jira: FakeJira) -> None:
    created = server.ok("POST", C, json=_body(jira))
    assert created["last_test"]["ok"] is True and created["last_test"]["code"] == "CONNECTED"
    assert created["token_state"] == "unknown" and created["token_expires_in_days"] is None


def test_an_update_with_a_wrong_token_changes_nothing(server: Server, jira: FakeJira) -> None:
    created = server.ok("POST", C, json=_body(jira))
    path = f"{C}/{created['id']}"
    response = server.call("PATCH", path, json={"token": "wrong-token-2"})
    assert response.status_code == 422 and response.json()["code"] == "CONNECTION_TEST_FAILED"
    assert server.ok("GET", path) == created  # the good token is still the stored one
    assert server.ok("POST", f"{path}/test")["ok"] is True
    # a rename does not need Jira at all
    jira.reset_log()
    assert server.ok("PATCH", path, json={"name": "renamed"})["name"] == "renamed"
    assert jira.count() == 0


def test_the_test_button_result_is_kept(server: Server, jira: FakeJira) -> None:
    created = server.ok("POST", C, json=_body(jira))
    jira.revoke_token(jira.token)
    result = server.ok("POST", f"{C}/{created['id']}/test")
    assert result["ok"] is False and result["tested_at"]
    [listed] = server.ok("GET", C)
    assert listed["last_test"]["ok"] is False
    assert listed["last_test"]["code"] == result["code"] == "JIRA_AUTH_REJECTED"
    assert listed["last_test"]["tested_at"] == result["tested_at"]


def test_token_expiry_shows_as_such(server: Server, jira: FakeJira) -> None:
    soon = date.today() + timedelta(days=10)
    created = server.ok("POST", C, json=_body(jira, token_expires_on=soon.isoformat()))
    assert created["token_expires_on"] == soon.isoformat()
    assert (created["token_state"], created["token_expires_in_days"]) == ("expiring", 10)
    path = f"{C}/{created['id']}"
    later = date.today() + timedelta(days=200)
    moved = server.ok("PATCH", path, json={"token_expires_on": later.isoformat()})
    assert (moved["token_state"], moved["token_expires_in_days"]) == ("valid", 200)
    # the day comes: Jira answers 401 as for any wrong token; the date tells the reason
    jira.expire_token(jira.token)
    past = date.today() - timedelta(days=3)
    expired = server.ok("PATCH", path, json={"token_expires_on": past.isoformat()})
    assert (expired["token_state"], expired["token_expires_in_days"]) == ("expired", -3)
    result = server.ok("POST", f"{path}/test")
    assert result["ok"] is False and result["code"] == "TOKEN_EXPIRED"
    assert past.isoformat() in result["message"] and "new API token" in result["hint"]
    assert server.ok("GET", path)["last_test"]["code"] == "TOKEN_EXPIRED"
    # without a date the same 401 cannot be told apart: the hint names expiry as a cause
    cleared = server.ok("PATCH", path, json={"token_expires_on": None})
    assert cleared["token_state"] == "unknown"
    result = server.ok("POST", f"{path}/test")
    assert result["code"] == "JIRA_AUTH_REJECTED" and "expire" in result["hint"]


def test_the_expiry_date_is_validated(server: Server, jira: FakeJira) -> None:
    response = server.call("POST", C, json=_body(jira, token_expires_on="next year"))
    assert response.status_code == 422 and response.json()["code"] == "REQUEST_INVALID"
