"""``jirahooks replay`` over a 10,000-commit history generated in a real git repository, per
commit, per first-parent push and per merged pull request: every verdict is the one the
generated history implies (computed from what the generator wrote, not from the replay)."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.replay.conftest import Replay, replay_json, write_rules
from tests.support.history import History, generate

COMMITS = 10_000


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, History, Path]:
    root = tmp_path_factory.mktemp("replay-big")
    history = generate(root / "repo", COMMITS, distinct_keys=5_000, seed=11)
    rules = write_rules(root / "rules.json", [{"template": "commit-key-required"}])
    return root / "repo", history, rules


def _blocked(data: dict[str, object]) -> set[str]:
    return {f["ref"] for f in data["failures"] if f["status"] == "BLOCK"}  # type: ignore[index, union-attr]


def test_every_commit(big: tuple[Path, History, Path], replay: Replay) -> None:
    repo, history, rules = big
    data = replay_json(replay, repo, "--config", str(rules), "--unit", "commit")
    assert history.commits == COMMITS
    assert data["totals"]["changes"] == COMMITS
    assert data["totals"]["commits"] == COMMITS
    # the rule skips merge commits; every commit without a key is blocked, and only those
    assert data["totals"]["SKIP"] == history.merges > 0
    assert _blocked(data) == history.hash_set(history.keyless) != set()
    assert data["totals"]["BLOCK"] == len(history.keyless)
    assert data["totals"]["PASS"] == COMMITS - history.merges - len(history.keyless)
    rule = data["rules"][0]
    assert (rule["id"], rule["BLOCK"]) == ("commit-key-required", len(history.keyless))
    # per author: 20 authors, counts adding up to the whole history
    assert len(data["authors"]) == 20
    assert sum(a["changes"] for a in data["authors"]) == COMMITS
    assert sum(a["BLOCK"] for a in data["authors"]) == len(history.keyless)
    assert data["jira"]["mode"] == "offline"


def test_per_first_parent_push(big: tuple[Path, History, Path], replay: Replay) -> None:
    repo, history, rules = big
    data = replay_json(replay, repo, "--config", str(rules), "--unit", "push")
    keyless = set(history.keyless)
    expected = history.hash_set([m for m in history.direct_marks if m in keyless]) | {
        history.hashes[history.pr_merge[n]]
        for n, marks in history.pr_commits.items()
        if keyless & set(marks)
    }
    assert data["totals"]["changes"] == history.direct + history.merges
    assert _blocked(data) == expected
    # a merged branch's keyless commit is named under its merge, with its own hash
    merge_failure = next(f for f in data["failures"] if f["title"].startswith(("Merged", "Merge")))
    reason_refs = {r["commit"] for rule in merge_failure["rules"] for r in rule["reasons"]}
    assert reason_refs and reason_refs <= history.hash_set(keyless)


def test_per_merged_pull_request(big: tuple[Path, History, Path], replay: Replay) -> None:
    repo, history, rules = big
    data = replay_json(replay, repo, "--config", str(rules), "--unit", "pr")
    keyless = set(history.keyless)
    assert data["totals"]["changes"] == history.merges == len(history.pull_requests)
    assert data["totals"]["notJudged"] == history.direct
    expected = {f"#{n}" for n, marks in history.pr_commits.items() if keyless & set(marks)}
    assert _blocked(data) == expected != set()
    # the source branch is read from both hosts' merge subjects (GitHub's loses its owner)
    branches = {b["name"] for b in data["branches"]}
    assert branches == {
        f"feature/{m.split('feature/', 1)[1].split()[0]}"
        for m in (history.messages[history.pr_merge[n]] for n in history.pull_requests)
    }
    assert all(b.startswith("feature/") and "acme" not in b for b in branches)
    # the PR's title is the merge message's first body line: the last commit's subject
    some = next(f for f in data["failures"] if f["status"] == "BLOCK")
    number = int(some["ref"][1:])
    last = history.pr_commits[number][-1]
    assert some["title"] == history.messages[last].split("\n", 1)[0]


def test_since_and_range_narrow_the_history(
    big: tuple[Path, History, Path], replay: Replay
) -> None:
    repo, history, rules = big
    first_direct = history.hashes[history.direct_marks[0]]
    tenth = history.hashes[history.direct_marks[10]]
    data = replay_json(replay, repo, "--config", str(rules), "--range", f"{first_direct}..{tenth}")
    # every commit reachable from the tenth direct commit but not the first: the direct ones
    # between them and the merged branches' commits in between
    assert 10 <= data["totals"]["changes"] < 60
    assert data["branch"] == "main"  # no branch in the range: the checked-out one
    late = replay_json(replay, repo, "--config", str(rules), "--since", "2099-01-01")
    assert late["totals"]["changes"] == 0
    assert "nothing to replay" in " ".join(late["notes"])
