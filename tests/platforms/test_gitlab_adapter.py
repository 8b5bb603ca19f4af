"""The GitLab adapter against the fake GitLab on a real port: fetching, publishing, the veto,
and the failures (rate limit, outage, refused token)."""

from __future__ import annotations

import re
import socket

import pytest
from tests.fakes.fake_gitlab import READ_ONLY_TOKEN, FakeGitLab, FakeProject
from tests.platforms.gitlab_support import (  # noqa: F401
    gitlab_fixture,
    make_adapter,
    project_fixture,
    run,
)

from jirahooks.platforms.base import (
    Annotation,
    BuildState,
    BuildStatus,
    PlatformAuthError,
    PlatformRequestError,
    PlatformUnavailable,
    Report,
    ReviewVerdict,
)
from jirahooks.platforms.gitlab import NOTE_MARKER, GitLab, parse_delivery
from jirahooks.platforms.gitlab_client import GitLabCredentials, TokenHeader, api_root
from jirahooks.retry import RetryPolicy

REPO = "platform/api-service"  # relative to the adapter's namespace "acme"
KEY = "jirahooks-process-guardian"


def status(state: BuildState, description: str = "Checked", url: str = "") -> BuildStatus:
    return BuildStatus(KEY, state, "Process Guardian (jirahooks)", description, url, "feature/x")


def failed_report(*summaries: str) -> Report:
    return Report(
        KEY,
        "Process Guardian",
        f"{len(summaries)} rule(s) blocked this change",
        "FAILED",
        link="https://jirahooks.example.com/evaluations/7",
        annotations=tuple(
            Annotation(f"a{i}", s, "Fix: name the issue") for i, s in enumerate(summaries)
        ),
    )


PASSED = Report(KEY, "Process Guardian", "Every issue key and rule check passed.", "PASSED")


# -- fetching ---------------------------------------------------------------------------------


def test_a_merge_request_is_fetched_with_its_commits_oldest_first(
    gitlab: FakeGitLab, project: FakeProject
) -> None:
    mr = gitlab.add_mr(
        project,
        "ABC-1 Login",
        source="feature/ABC-1",
        description="Closes ABC-1",
        commits=["ABC-1 first", "ABC-1 second\n\nbody"],
    )
    details = run(gitlab, lambda gl: gl.fetch_pull_request(REPO, str(mr.iid)))
    assert details.id == str(mr.iid)
    assert (details.title, details.description) == ("ABC-1 Login", "Closes ABC-1")
    assert (details.source_branch, details.destination_branch) == ("feature/ABC-1", "main")
    assert details.head == mr.sha and details.state == "OPEN"
    assert [c.hash for c in details.commits] == mr.commits
    assert details.commits[1].message == "ABC-1 second\n\nbody"
    assert details.commits[1].parents == (mr.commits[0],)
    assert details.author == "Ada Tester" and details.author_id == "17"
    assert details.url and details.url.endswith(f"/-/merge_requests/{mr.iid}")
    event = details.event(REPO)
    assert event.pull_request is not None and event.branch == "feature/ABC-1"
    # the project path travels URL-encoded, as GitLab wants it
    assert (
        gitlab.count("/projects/acme%2Fplatform%2Fapi-service/merge_requests/1", method="GET") == 2
    )


def test_a_500_commit_merge_request_is_read_through_every_page(
    gitlab: FakeGitLab, project: FakeProject
) -> None:
    mr = gitlab.add_mr(project, "ABC-1 big", commits=[f"ABC-1 commit {i}" for i in range(500)])
    details = run(gitlab, lambda gl: gl.fetch_pull_request(REPO, str(mr.iid)))
    assert len(details.commits) == 500
    assert [c.hash for c in details.commits] == mr.commits
    pages = gitlab.requests_to("/merge_requests/1/commits")
    assert len(pages) == 5  # 100 per page, the maximum
    assert all(r.status == 200 for r in pages)


def test_pagination_follows_x_next_page_when_there_is_no_link(
    gitlab: FakeGitLab, project: FakeProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    mr = gitlab.add_mr(project, "ABC-1 big", commits=[f"ABC-1 c{i}" for i in range(250)])
    original = gitlab.page

    def without_link(items, r):  # type: ignore[no-untyped-def]
        chunk, headers = original(items, r)
        headers.pop("Link")
        return chunk, headers

    monkeypatch.setattr(gitlab, "page", without_link)
    details = run(gitlab, lambda gl: gl.fetch_pull_request(REPO, str(mr.iid)))
    assert [c.hash for c in details.commits] == mr.commits
    assert len(gitlab.requests_to("/merge_requests/1/commits")) == 3


def test_the_webhook_payload_stands_in_for_the_merge_request(
    gitlab: FakeGitLab, project: FakeProject
) -> None:
    mr = gitlab.add_mr(project, "ABC-1 Login", commits=["ABC-1 a", "ABC-1 b"])
    known = parse_delivery(*gitlab.merge_request_hook(project, mr), namespace="acme")
    details = run(gitlab, lambda gl: gl.fetch_pull_request(REPO, str(mr.iid), known=known))
    assert details.head == mr.sha and len(details.commits) == 2
    assert details.title == "ABC-1 Login"
    assert gitlab.count("/merge_requests/1", method="GET") == 1  # the commit list only


def test_a_moved_head_fetches_the_merge_request_again(
    gitlab: FakeGitLab, project: FakeProject
) -> None:
    mr = gitlab.add_mr(project, "ABC-1 Login")
    known = parse_delivery(*gitlab.merge_request_hook(project, mr), namespace="acme")
    newer = gitlab.push(project, mr, "ABC-1 newer")
    details = run(gitlab, lambda gl: gl.fetch_pull_request(REPO, str(mr.iid), known=known))
    assert details.head == newer and details.commits[-1].hash == newer
    assert gitlab.count("/merge_requests/1", method="GET") == 2


def test_open_merge_requests_are_listed_by_source_branch(
    gitlab: FakeGitLab, project: FakeProject
) -> None:
    a = gitlab.add_mr(project, "ABC-1 a", source="feature/ABC-1")
    gitlab.add_mr(project, "ABC-2 b", source="feature/ABC-2")
    merged = gitlab.add_mr(project, "ABC-1 old", source="feature/ABC-1")
    merged.state = "merged"
    found = run(gitlab, lambda gl: gl.list_open_pull_requests(REPO, source_branch="feature/ABC-1"))
    assert [(p.id, p.head, p.source_branch) for p in found] == [
        (str(a.iid), a.sha, "feature/ABC-1")
    ]
    request = gitlab.requests_to("/merge_requests", method="GET")[-1]
    assert request.query["state"] == ["opened"]
    assert request.query["source_branch"] == ["feature/ABC-1"]
    every = run(gitlab, lambda gl: gl.list_open_pull_requests(REPO))
    assert sorted(p.source_branch for p in every) == ["feature/ABC-1", "feature/ABC-2"]


def test_a_short_hash_is_resolved(gitlab: FakeGitLab, project: FakeProject) -> None:
    mr = gitlab.add_mr(project, "ABC-1")
    assert run(gitlab, lambda gl: gl.resolve_commit(REPO, mr.sha[:8])) == mr.sha
    assert run(gitlab, lambda gl: gl.resolve_commit(REPO, mr.sha)) == mr.sha
    with pytest.raises(PlatformRequestError) as caught:
        run(gitlab, lambda gl: gl.resolve_commit(REPO, "deadbeef"))
    assert caught.value.status == 404 and "Commit Not Found" in caught.value.message


def test_a_project_id_and_a_full_path_work_too(gitlab: FakeGitLab, project: FakeProject) -> None:
    mr = gitlab.add_mr(project, "ABC-1")
    by_id = run(gitlab, lambda gl: gl.fetch_pull_request(str(project.id), "1"))
    plain = run(
        gitlab,
        lambda gl: GitLab(GitLabCredentials("x"), client=gl.client).fetch_pull_request(
            "acme/platform/api-service", "1"
        ),
    )
    assert by_id.head == plain.head == mr.sha


# -- commit status ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "wire"),
    [
        (BuildState.INPROGRESS, "running"),
        (BuildState.SUCCESSFUL, "success"),
        (BuildState.FAILED, "failed"),
        (BuildState.STOPPED, "canceled"),
    ],
)
def test_each_state_is_published_as_a_commit_status(
    gitlab: FakeGitLab, project: FakeProject, state: BuildState, wire: str
) -> None:
    mr = gitlab.add_mr(project, "ABC-1")
    link = "https://jirahooks.example.com/evaluations/1"
    run(gitlab, lambda gl: gl.publish_status(REPO, mr.sha, status(state, "Blocked by: x", link)))
    (shown,) = gitlab.statuses(project, mr.sha, KEY)
    assert shown["status"] == wire
    assert (shown["target_url"], shown["description"], shown["ref"]) == (
        link,
        "Blocked by: x",
        "feature/x",
    )


def test_running_twice_is_not_an_error_and_the_result_follows(
    gitlab: FakeGitLab, project: FakeProject
) -> None:
    mr = gitlab.add_mr(project, "ABC-1")

    async def flow(gl: GitLab) -> None:
        await gl.publish_status(REPO, mr.sha, status(BuildState.INPROGRESS))
        await gl.publish_status(REPO, mr.sha, status(BuildState.INPROGRESS))
        await gl.publish_status(REPO, mr.sha, status(BuildState.FAILED))
        await gl.publish_status(REPO, mr.sha, status(BuildState.INPROGRESS))  # re-evaluation
        await gl.publish_status(REPO, mr.sha, status(BuildState.SUCCESSFUL))

    run(gitlab, flow)
    refused = [r for r in gitlab.requests_to("/statuses/") if r.status == 400]
    assert len(refused) == 1  # GitLab said "Cannot transition status via :run from :running"
    assert "Cannot transition status via :run from :running" in refused[0].response["message"]
    shown = gitlab.statuses(project, mr.sha, KEY)
    assert [s["status"] for s in shown] == ["failed", "success"]  # a finished one stays


def test_a_refused_transition_to_another_state_is_an_error(
    gitlab: FakeGitLab, project: FakeProject
) -> None:
    mr = gitlab.add_mr(project, "ABC-1")
    project.statuses.append(
        {"sha": mr.sha, "name": KEY, "ref": "feature/x", "status": "running", "id": 1}
    )
    gitlab.fail(
        400,
        path="/statuses/",
        body={"message": "Cannot transition status via :run from :pending"},
    )
    with pytest.raises(PlatformRequestError) as caught:
        run(gitlab, lambda gl: gl.publish_status(REPO, mr.sha, status(BuildState.INPROGRESS)))
    assert caught.value.status == 400


def test_a_long_description_is_cut_and_a_bad_link_dropped(
    gitlab: FakeGitLab, project: FakeProject
) -> None:
    mr = gitlab.add_mr(project, "ABC-1")
    long = "Blocked by: " + ", ".join(f"rule {i}" for i in range(100))
    run(
        gitlab,
        lambda gl: gl.publish_status(REPO, mr.sha, status(BuildState.FAILED, long, "ftp://x")),
    )
    (shown,) = gitlab.statuses(project, mr.sha, KEY)
    assert len(shown["description"]) == 255 and shown["description"].endswith("…")
    assert shown["target_url"] is None
    sent = gitlab.requests_to("/statuses/", method="POST")[-1].body
    assert "target_url" not in sent


def test_the_external_status_check_is_answered_where_configured(
    gitlab: FakeGitLab, project: FakeProject
) -> None:
    mr = gitlab.add_mr(project, "ABC-1")
    project.status_checks[31] = "jirahooks"

    async def flow(gl: GitLab) -> None:
        await gl.publish_status(REPO, mr.sha, status(BuildState.INPROGRESS))
        await gl.publish_status(REPO, mr.sha, status(BuildState.FAILED))

    run(gitlab, flow, status_check_id=31)
    assert [(r["status"], r["sha"], r["check"]) for r in mr.check_responses] == [
        ("pending", mr.sha, 31),
        ("failed", mr.sha, 31),
    ]
    # the commit's MRs were looked up once and remembered
    assert gitlab.count("/merge_requests", method="GET") == 1
    # without a configured check nothing is sent there
    run(gitlab, lambda gl: gl.publish_status(REPO, mr.sha, status(BuildState.SUCCESSFUL)))
    assert len(mr.check_responses) == 2


def test_an_unknown_status_check_is_a_request_error(
    gitlab: FakeGitLab, project: FakeProject
) -> None:
    mr = gitlab.add_mr(project, "ABC-1")
    with pytest.raises(PlatformRequestError) as caught:
        run(
            gitlab,
            lambda gl: gl.publish_status(REPO, mr.sha, status(BuildState.FAILED)),
            status_check_id=99,
        )
    assert caught.value.status == 404


# -- the MR note ------------------------------------------------------------------------------


def our_notes(mr: object) -> list[dict[str, object]]:
    return [n for n in mr.notes if NOTE_MARKER in str(n["body"])]  # type: ignore[attr-defined]


def test_the_note_is_updated_not_duplicated(gitlab: FakeGitLab, project: FakeProject) -> None:
    mr = gitlab.add_mr(project, "ABC-1")

    async def flow(gl: GitLab) -> None:
        await gl.publish_report(REPO, mr.sha, failed_report("ABC-1 does not exist"))
        await gl.publish_report(REPO, mr.sha, failed_report("ABC-1 is closed", "ABC-2 missing"))

    run(gitlab, flow)
    # a fresh adapter (a restart) finds the note again
    run(gitlab, lambda gl: gl.publish_report(REPO, mr.sha, failed_report("ABC-3 missing")))
    assert len(mr.notes) == 1
    body = str(mr.notes[0]["body"])
    assert body.startswith(NOTE_MARKER)
    assert "ABC-3 missing" in body and "ABC-1 is closed" not in body
    assert "[Details](https://jirahooks.example.com/evaluations/7)" in body
    assert gitlab.count("/notes", method="POST") == 1
    assert gitlab.count("/notes/", method="PUT") == 2


def test_a_pass_creates_no_note_but_clears_an_earlier_failure(
    gitlab: FakeGitLab, project: FakeProject
) -> None:
    mr = gitlab.add_mr(project, "ABC-1")
    run(gitlab, lambda gl: gl.publish_report(REPO, mr.sha, PASSED))
    assert mr.notes == []
    run(gitlab, lambda gl: gl.publish_report(REPO, mr.sha, failed_report("ABC-1 missing")))
    run(gitlab, lambda gl: gl.publish_report(REPO, mr.sha, PASSED))
    (note,) = our_notes(mr)
    assert "passed" in str(note["body"]) and "ABC-1 missing" not in str(note["body"])


def test_a_pasted_marker_in_someone_elses_note_is_left_alone(
    gitlab: FakeGitLab, project: FakeProject
) -> None:
    mr = gitlab.add_mr(project, "ABC-1")
    mr.notes.append(
        {
            "id": 900,
            "body": f"{NOTE_MARKER} copied",
            "author": {"id": 17, "username": "ada", "name": "Ada Tester"},
            "created_at": "x",
            "updated_at": "x",
        }
    )
    run(gitlab, lambda gl: gl.publish_report(REPO, mr.sha, failed_report("ABC-1 missing")))
    assert len(mr.notes) == 2 and mr.notes[0]["body"] == f"{NOTE_MARKER} copied"
    assert gitlab.count("/notes/", method="PUT") == 0


def test_many_failures_are_listed_up_to_a_limit(gitlab: FakeGitLab, project: FakeProject) -> None:
    mr = gitlab.add_mr(project, "ABC-1")
    report = failed_report(*[f"ABC-{i} missing" for i in range(80)])
    run(gitlab, lambda gl: gl.publish_report(REPO, mr.sha, report))
    body = str(our_notes(mr)[0]["body"])
    assert "ABC-49 missing" in body and "ABC-50 missing" not in body
    assert "… and 30 more" in body


def test_a_commit_on_no_open_merge_request_gets_no_note(
    gitlab: FakeGitLab, project: FakeProject
) -> None:
    mr = gitlab.add_mr(project, "ABC-1")
    old = mr.sha
    gitlab.push(project, mr, "ABC-1 newer")  # old is no longer the head
    run(gitlab, lambda gl: gl.publish_report(REPO, old, failed_report("ABC-1 missing")))
    assert mr.notes == []


# -- approvals --------------------------------------------------------------------------------


def test_approve_then_withdraw(gitlab: FakeGitLab, project: FakeProject) -> None:
    mr = gitlab.add_mr(project, "ABC-1")
    run(gitlab, lambda gl: gl.review(REPO, "1", ReviewVerdict.APPROVE))
    assert mr.approved_by == [4242]
    run(gitlab, lambda gl: gl.review(REPO, "1", ReviewVerdict.APPROVE))  # again: no error
    assert mr.approved_by == [4242]
    assert gitlab.count("/approve", method="POST") == 1
    run(gitlab, lambda gl: gl.review(REPO, "1", ReviewVerdict.REQUEST_CHANGES))
    assert mr.approved_by == []
    run(gitlab, lambda gl: gl.review(REPO, "1", ReviewVerdict.WITHDRAW))  # nothing to withdraw
    assert gitlab.count("/unapprove", method="POST") == 1


def test_a_race_with_gitlabs_401_on_a_second_approval_is_not_an_auth_error(
    gitlab: FakeGitLab, project: FakeProject
) -> None:
    mr = gitlab.add_mr(project, "ABC-1")
    # our approval lands between the adapter's read and its POST (another worker, a retry)
    gitlab.fail(
        200,
        path="/approvals",
        times=1,
        body={
            "id": mr.id,
            "iid": 1,
            "project_id": project.id,
            "approved_by": [],
            "user_has_approved": False,
            "user_can_approve": True,
        },
    )
    mr.approved_by.append(4242)
    run(gitlab, lambda gl: gl.review(REPO, "1", ReviewVerdict.APPROVE))
    assert [r.status for r in gitlab.requests_to("/approve", method="POST")] == [401]
    assert mr.approved_by == [4242]


# -- failures ---------------------------------------------------------------------------------


def test_a_long_retry_after_goes_back_to_the_queue(
    gitlab: FakeGitLab, project: FakeProject
) -> None:
    gitlab.add_mr(project, "ABC-1")
    gitlab.fail(429, retry_after="120", times=10)
    with pytest.raises(PlatformUnavailable) as caught:
        run(gitlab, lambda gl: gl.fetch_pull_request(REPO, "1"))
    assert caught.value.retry_after == 120
    assert caught.value.status == 429
    assert gitlab.count() == 1  # not retried in place: the queue reschedules at that time


def test_a_short_retry_after_is_waited_out(gitlab: FakeGitLab, project: FakeProject) -> None:
    mr = gitlab.add_mr(project, "ABC-1")
    gitlab.fail(429, retry_after="0", times=2)
    details = run(gitlab, lambda gl: gl.fetch_pull_request(REPO, "1"))
    assert details.head == mr.sha
    assert [r.status for r in gitlab.requests][:3] == [429, 429, 200]


def test_ratelimit_reset_is_a_unix_time(gitlab: FakeGitLab, project: FakeProject) -> None:
    gitlab.add_mr(project, "ABC-1")
    gitlab.fail(429, times=10)  # no Retry-After: RateLimit-Reset (an epoch) says when
    fake_reset = gitlab.faults[0].headers["RateLimit-Reset"]
    gitlab.faults[0].headers.pop("Retry-After", None)
    with pytest.raises(PlatformUnavailable) as caught:
        run(gitlab, lambda gl: gl.fetch_pull_request(REPO, "1"))
    assert caught.value.retry_after is not None and 0 < caught.value.retry_after <= 61
    assert int(fake_reset) > 1_000_000_000


def test_an_outage_is_unavailable_after_the_retries(
    gitlab: FakeGitLab, project: FakeProject
) -> None:
    gitlab.add_mr(project, "ABC-1")
    gitlab.fail(503, times=10, body={"message": "503 Service Unavailable"})
    with pytest.raises(PlatformUnavailable) as caught:
        run(gitlab, lambda gl: gl.fetch_pull_request(REPO, "1"))
    assert caught.value.status == 503 and caught.value.retry_after is None
    assert gitlab.count() == 4  # the policy's attempts
    assert caught.value.code == "PLATFORM_UNAVAILABLE"


def test_an_unreachable_gitlab_is_unavailable() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    adapter_kwargs = {
        "base_url": f"http://127.0.0.1:{port}",
        "retry": RetryPolicy(2, 0.01, 0.02, 1),
    }
    with FakeGitLab() as fake, pytest.raises(PlatformUnavailable) as caught:
        run(fake, lambda gl: gl.fetch_pull_request(REPO, "1"), **adapter_kwargs)
    assert "cannot reach GitLab" in caught.value.message


def test_a_refused_token_is_an_auth_error_naming_the_scope(
    gitlab: FakeGitLab, project: FakeProject
) -> None:
    gitlab.add_mr(project, "ABC-1")
    with pytest.raises(PlatformAuthError) as caught:
        run(gitlab, lambda gl: gl.fetch_pull_request(REPO, "1"), token="glpat-revoked")
    assert caught.value.status == 401
    assert "'api' scope" in caught.value.hint and "Developer" in caught.value.hint
    assert "glpat-revoked" not in caught.value.message + caught.value.hint


def test_a_read_api_token_writing_is_told_which_scope_is_missing(
    gitlab: FakeGitLab, project: FakeProject
) -> None:
    mr = gitlab.add_mr(project, "ABC-1")
    # reading works with read_api …
    assert (
        run(gitlab, lambda gl: gl.fetch_pull_request(REPO, "1"), token=READ_ONLY_TOKEN).head
        == mr.sha
    )
    # … writing a status does not
    with pytest.raises(PlatformAuthError) as caught:
        run(
            gitlab,
            lambda gl: gl.publish_status(REPO, mr.sha, status(BuildState.FAILED)),
            token=READ_ONLY_TOKEN,
        )
    assert caught.value.status == 403
    assert "insufficient_scope" in caught.value.message
    assert "lacks the 'api' scope" in caught.value.hint


def test_a_bearer_token_works_and_the_secret_stays_out_of_repr(
    gitlab: FakeGitLab, project: FakeProject
) -> None:
    mr = gitlab.add_mr(project, "ABC-1")
    details = run(gitlab, lambda gl: gl.fetch_pull_request(REPO, "1"), header=TokenHeader.BEARER)
    assert details.head == mr.sha
    sent = gitlab.requests[-1].headers
    assert sent["authorization"].startswith("Bearer ") and "private-token" not in sent
    credentials = GitLabCredentials("glpat-secret-value")
    assert "glpat-secret-value" not in repr(credentials)
    assert "glpat-secret-value" not in repr(make_adapter(gitlab, token="glpat-secret-value"))


def test_a_pagination_link_off_the_origin_is_not_followed(
    gitlab: FakeGitLab, project: FakeProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    gitlab.add_mr(project, "ABC-1", commits=[f"ABC-1 c{i}" for i in range(150)])
    original = gitlab.page

    def elsewhere(items, r):  # type: ignore[no-untyped-def]
        chunk, headers = original(items, r)
        headers["Link"] = '<http://attacker.example/api/v4/x?page=2>; rel="next"'
        return chunk, headers

    monkeypatch.setattr(gitlab, "page", elsewhere)
    with pytest.raises(PlatformRequestError, match="refusing to send credentials"):
        run(gitlab, lambda gl: gl.fetch_pull_request(REPO, "1"))


@pytest.mark.parametrize(
    ("given", "root"),
    [
        ("https://gitlab.com", "https://gitlab.com/api/v4"),
        ("https://gitlab.example.com/", "https://gitlab.example.com/api/v4"),
        ("https://example.com/gitlab/api/v4", "https://example.com/gitlab/api/v4"),
    ],
)
def test_the_base_url_may_be_the_instance_or_its_api_root(given: str, root: str) -> None:
    assert api_root(given) == root


def test_a_recheck_note_does_not_stand_in_for_the_merge_request(
    gitlab: FakeGitLab, project: FakeProject
) -> None:
    mr = gitlab.add_mr(project, "ABC-1 Login", description="Closes ABC-1")
    known = parse_delivery(*gitlab.note_hook(project, mr, "/jirahooks recheck"), namespace="acme")
    details = run(gitlab, lambda gl: gl.fetch_pull_request(REPO, str(mr.iid), known=known))
    assert (details.title, details.description) == ("ABC-1 Login", "Closes ABC-1")
    assert gitlab.count("/merge_requests/1", method="GET") == 2  # the MR was fetched


def test_a_hook_by_someone_else_does_not_lose_the_author(
    gitlab: FakeGitLab, project: FakeProject
) -> None:
    mr = gitlab.add_mr(project, "ABC-1 Login")
    bob = {"id": 99, "username": "bob", "name": "Bob"}
    known = parse_delivery(*gitlab.merge_request_hook(project, mr, actor=bob), namespace="acme")
    details = run(gitlab, lambda gl: gl.fetch_pull_request(REPO, str(mr.iid), known=known))
    assert details.author == "Ada Tester"


def test_a_status_check_answer_for_a_moved_head_is_dropped(
    gitlab: FakeGitLab, project: FakeProject
) -> None:
    mr = gitlab.add_mr(project, "ABC-1")
    project.status_checks[31] = "jirahooks"
    old = mr.sha

    async def flow(gl: GitLab) -> None:
        await gl.fetch_pull_request(REPO, str(mr.iid))  # remembers old → MR 1
        gitlab.push(project, mr, "ABC-1 newer")
        await gl.publish_status(REPO, old, status(BuildState.FAILED))

    run(gitlab, flow, status_check_id=31)
    assert mr.check_responses == []
    assert [r.status for r in gitlab.requests_to("/status_check_responses")] == [409]
    assert gitlab.statuses(project, old, KEY)[0]["status"] == "failed"


def test_a_locked_commit_status_is_retried(gitlab: FakeGitLab, project: FakeProject) -> None:
    mr = gitlab.add_mr(project, "ABC-1")
    gitlab.fail(409, path="/statuses/", times=2, body={"message": "409 Conflict"})
    run(gitlab, lambda gl: gl.publish_status(REPO, mr.sha, status(BuildState.FAILED)))
    assert [r.status for r in gitlab.requests_to("/statuses/")] == [409, 409, 201]
    assert gitlab.statuses(project, mr.sha, KEY)[0]["status"] == "failed"


def test_a_commit_status_locked_for_long_goes_back_to_the_queue(
    gitlab: FakeGitLab, project: FakeProject
) -> None:
    mr = gitlab.add_mr(project, "ABC-1")
    gitlab.fail(409, path="/statuses/", times=10, body={"message": "409 Conflict"})
    with pytest.raises(PlatformUnavailable) as caught:
        run(gitlab, lambda gl: gl.publish_status(REPO, mr.sha, status(BuildState.FAILED)))
    assert caught.value.status == 409 and "locked" in caught.value.message
    assert gitlab.count("/statuses/") == 4
    assert gitlab.statuses(project, mr.sha) == []


def test_words_from_commits_cannot_mention_format_or_run_quick_actions(
    gitlab: FakeGitLab, project: FakeProject
) -> None:
    from jirahooks.platforms.gitlab import plain

    mr = gitlab.add_mr(project, "ABC-1")
    hostile = Report(
        KEY,
        "Process Guardian",
        "/merge\n@all see [here](https://evil.example)",
        "FAILED",
        annotations=(
            Annotation("a", "XYZ-1 [abc]: @all <img src=x> **bold**", "/approve\n  /close"),
        ),
    )
    run(gitlab, lambda gl: gl.publish_report(REPO, mr.sha, hostile))
    body = str(our_notes(mr)[0]["body"])
    lines = body.splitlines()
    assert not [line for line in lines if line.lstrip().startswith("/")]
    assert "@all" not in body and "@\u200ball" in body
    # every Markdown / HTML character arrives backslash-escaped, so nothing renders
    assert not re.search(r"(?<!\\)[<\[\]*]", body.split("\n", 1)[1].replace("[Details]", ""))
    assert "\\<img src=x\\>" in body and "\\*\\*bold\\*\\*" in body
    assert plain("a_b") == "a\\_b" and plain("x") == "x"


def test_the_note_is_remembered_and_recreated_when_someone_deletes_it(
    gitlab: FakeGitLab, project: FakeProject
) -> None:
    mr = gitlab.add_mr(project, "ABC-1")

    async def flow(gl: GitLab) -> None:
        await gl.publish_report(REPO, mr.sha, failed_report("ABC-1 missing"))
        listed = gitlab.count("/notes", method="GET")
        await gl.publish_report(REPO, mr.sha, failed_report("ABC-2 missing"))
        assert gitlab.count("/notes", method="GET") == listed  # one PUT, no search
        mr.notes.clear()  # a maintainer deleted it
        await gl.publish_report(REPO, mr.sha, failed_report("ABC-3 missing"))

    run(gitlab, flow)
    (note,) = mr.notes
    assert "ABC-3 missing" in str(note["body"])
    assert [r.status for r in gitlab.requests_to("/notes/", method="PUT")] == [200, 404]


def test_a_head_pushed_after_the_evaluation_is_not_approved(
    gitlab: FakeGitLab, project: FakeProject
) -> None:
    mr = gitlab.add_mr(project, "ABC-1")

    async def flow(gl: GitLab) -> None:
        evaluated = await gl.fetch_pull_request(REPO, str(mr.iid))
        gitlab.push(project, mr, "no key here")  # pushed while jirahooks was evaluating
        await gl.review(REPO, str(mr.iid), ReviewVerdict.APPROVE)
        assert evaluated.head != mr.sha

    run(gitlab, flow)
    assert mr.approved_by == []
    (sent,) = gitlab.requests_to("/approve", method="POST")
    assert sent.status == 409 and sent.body["sha"] != mr.sha
