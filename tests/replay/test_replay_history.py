"""Reading a history as changes: the merge subjects each host writes, pushes that bring in a
branch, a range whose first merge's branch began before it, squash merges (no PR unit)."""

from __future__ import annotations

import pytest
from tests.conftest import GitRepo

from jirahooks.errors import UsageError
from jirahooks.event import Trigger
from jirahooks.replay.history import Unit, parse_since, read_history, revisions

MERGES = [
    # (subject, body, id, source branch)
    (
        "Merged in feature/ABC-1-a (pull request #11)",
        "ABC-1 Cloud title\n\nApproved-by: B",
        "11",
        "feature/ABC-1-a",
    ),
    (
        "Merge pull request #12 in PROJ/repo from feature/ABC-2-b to main",
        "* commit 'x':\n  ABC-2 DC title",
        "12",
        "feature/ABC-2-b",
    ),
    (
        "Merge pull request #13 from acme/feature/ABC-3-c",
        "ABC-3 GitHub title",
        "13",
        "feature/ABC-3-c",
    ),
    (
        "Merge branch 'feature/ABC-4-d' into 'main'",
        "ABC-4 GitLab title\n\nSee merge request grp/proj!14",
        "14",
        "feature/ABC-4-d",
    ),
]


def _merge_pr(repo: GitRepo, branch: str, subject: str, body: str, commits: int = 2) -> None:
    repo.checkout("-b", branch)
    for n in range(commits):
        repo.commit(f"{branch.split('/')[1][:5]} step {n}")
    repo.checkout("main")
    repo.git("merge", "--no-ff", "-q", branch, "-m", f"{subject}\n\n{body}")


@pytest.fixture
def hosts(git_repo: GitRepo) -> GitRepo:
    git_repo.commit("ABC-0 start")
    for subject, body, _, branch in MERGES:
        _merge_pr(git_repo, branch, subject, body)
        git_repo.commit("ABC-9 direct push")
    # a squash merge: one commit, no merge — a direct change for the replay
    git_repo.commit("ABC-5 squashed feature (#15)")
    return git_repo


def test_every_hosts_merge_subject_is_a_pull_request(hosts: GitRepo) -> None:
    history = read_history(
        Unit.PR, revisions(None, None, cwd=hosts.path), branch="main", cwd=hosts.path
    )
    got = [(c.event.pull_request.id, c.event.pull_request.source_branch) for c in history.changes]  # type: ignore[union-attr]
    assert got == [(m[2], m[3]) for m in MERGES]
    assert history.not_judged == 1 + len(MERGES) + 1  # start, the direct pushes, the squash
    for change in history.changes:
        assert change.event.trigger is Trigger.PULL_REQUEST
        assert change.event.destination_branch == "main"
        assert len(change.event.commits) == 2  # the PR's commits, not the merge
        assert all(not c.is_merge for c in change.event.commits)
    titles = [c.event.pull_request.title for c in history.changes]  # type: ignore[union-attr]
    assert titles[0] == "ABC-1 Cloud title" and titles[2] == "ABC-3 GitHub title"
    assert titles[3] == "ABC-4 GitLab title"
    assert "See merge request" not in history.changes[3].event.pull_request.description  # type: ignore[union-attr]


def test_a_push_brings_in_the_merged_branch(hosts: GitRepo) -> None:
    history = read_history(
        Unit.PUSH, revisions(None, None, cwd=hosts.path), branch="main", cwd=hosts.path
    )
    sizes = [len(c.event.commits) for c in history.changes]
    # start, then per host: the merge with its two commits, a direct push; then the squash
    assert sizes == [1, *([3, 1] * len(MERGES)), 1]
    assert sum(sizes) == history.commits == len(hosts.git("rev-list", "HEAD").split())
    merge = history.changes[1]
    assert merge.event.commits[-1].hash == merge.ref  # the merge last, its branch before it


def test_a_range_starting_inside_a_branch(hosts: GitRepo) -> None:
    # from the first PR's first commit: its merge only brings in the second commit
    start = hosts.git("log", "--format=%H", "--grep", "feature/ABC-1-a", "-1")
    second = hosts.git("rev-parse", f"{start}^2")
    first = hosts.git("rev-parse", f"{second}^")
    revs = revisions(f"{first}..HEAD", None, cwd=hosts.path)
    history = read_history(Unit.PUSH, revs, branch="main", cwd=hosts.path)
    merge = next(c for c in history.changes if c.ref == start)
    assert [c.hash for c in merge.event.commits] == [second, start]


@pytest.mark.parametrize(
    ("value", "expected"),
    [("2026-01-31", "2026-01-31"), ("2026-01-31T12:00:00Z", "2026-01-31T12:00:00+00:00")],
)
def test_since_takes_iso_dates(value: str, expected: str) -> None:
    assert parse_since(value) == expected


@pytest.mark.parametrize("value", ["yesterday", "31.01.2026", "2026-13-01", ""])
def test_since_refuses_anything_else(value: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_since(value)
    assert info.value.code == "BAD_DATE" and info.value.hint


def test_an_empty_repository_says_so(git_repo: GitRepo) -> None:
    with pytest.raises(UsageError) as info:
        revisions(None, None, cwd=git_repo.path)
    assert info.value.code == "BAD_RANGE" and "no commits yet" in info.value.message
