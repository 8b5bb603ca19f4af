"""The small pieces of the metrics: bounded labels, endpoint kinds, the writer hook point,
request ids."""

from __future__ import annotations

from types import SimpleNamespace

from jirahooks import tracing
from jirahooks.server.metrics import Bounded, bitbucket_operation, jira_endpoint, writer_backlog
from jirahooks.server.metrics_http import api_of


def test_bounded_labels_fold_the_rest_into_other() -> None:
    label = Bounded(limit=2)
    assert [label("a"), label("b"), label("c"), label("a")] == ["a", "b", "_other", "a"]
    assert label("x" * 500) == "_other"
    assert len(Bounded()("y" * 500)) == 100


def test_jira_paths_become_kinds_without_keys() -> None:
    assert jira_endpoint("/rest/api/3/search/jql") == "search"
    assert jira_endpoint("/rest/api/2/search") == "search"
    assert jira_endpoint("/rest/api/2/issue/ABC-123") == "issue"
    assert jira_endpoint("/rest/api/3/project/search") == "project"
    assert jira_endpoint("/rest/api/2/serverInfo") == "serverInfo"
    assert jira_endpoint("/rest/api/3/myself") == "myself"
    assert jira_endpoint("/rest/agile/1.0/board/7") == "other"


def test_bitbucket_paths_become_operations() -> None:
    base = "/2.0/repositories/acme/api"
    assert bitbucket_operation("POST", base + "/commit/abc/statuses/build") == "status"
    assert bitbucket_operation("PUT", base + "/commit/abc/reports/jirahooks") == "report"
    assert bitbucket_operation("POST", base + "/pullrequests/7/approve") == "review"
    assert bitbucket_operation("GET", base + "/pullrequests/7") == "pull_request"


def test_api_of_paths() -> None:
    assert api_of("/api/validate/default") == "validation"
    assert api_of("/webhooks/bitbucket/default") == "webhooks"
    assert api_of("/api/v1/workspaces") == "admin"
    assert api_of("/ui/w/default") == "ui"
    assert api_of("/readyz") == "ops"
    assert api_of("/nothing") == "other"


def test_writer_backlog_hook_point() -> None:
    assert writer_backlog(SimpleNamespace()) is None  # type: ignore[arg-type]
    state = SimpleNamespace(writer=SimpleNamespace(backlog=lambda: 7))
    assert writer_backlog(state) == 7.0  # type: ignore[arg-type]


def test_request_ids() -> None:
    assert tracing.sane("abc-123_X.y:z") == "abc-123_X.y:z"
    for bad in ("", "a b", "x\r\nSet-Cookie: y", "<script>", "-leading", "z" * 101):
        assert tracing.sane(bad) is None, bad
    token = tracing.begin("req-1", workspace="ws")
    try:
        tracing.note(repository="api")
        assert tracing.current() is not None
        assert tracing.current().fields() == {  # type: ignore[union-attr]
            "request_id": "req-1",
            "workspace": "ws",
            "repository": "api",
        }
    finally:
        tracing.end(token)
    assert tracing.request_id() == ""
