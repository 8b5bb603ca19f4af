"""One batched Jira pass for a whole history: the fake Jira (Cloud and Data Center, on a real
HTTP server) counts the requests; verdicts follow what Jira holds; a Jira that fails is the
settings' policy's to decide, visibly."""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from tests.fakes.fake_jira import FakeJira
from tests.replay.conftest import Replay, replay_json
from tests.support.history import History, generate

KEY = re.compile(r"\b([A-Z]+-\d+)\b")


@pytest.fixture
def jira_factory() -> Any:
    started: list[FakeJira] = []

    def make(deployment: str = "cloud", **options: Any) -> FakeJira:
        fake = FakeJira(deployment, **options).start()
        started.append(fake)
        return fake

    yield make
    for fake in started:
        fake.stop()


def _config(path: Path, fake: FakeJira, monkeypatch: pytest.MonkeyPatch, **settings: Any) -> Path:
    monkeypatch.setenv("JH_REPLAY_TOKEN", fake.token)
    document = {
        "settings": settings,
        "connections": [
            {
                "name": "jira",
                "url": fake.url,
                "deployment": fake.deployment,
                "email": fake.user.email if fake.deployment == "cloud" else "",
                "token": "${JH_REPLAY_TOKEN}",
            }
        ],
        "rules": [
            {"template": "all-keys-valid", "targets": ["COMMIT"]},
            {"template": "issue-in-progress", "targets": ["COMMIT"]},
        ],
    }
    config = path / "rules.json"
    config.write_text(json.dumps(document), encoding="utf-8")
    return config


def _setup(
    tmp_path: Path, fake: FakeJira, commits: int, keys: int
) -> tuple[Path, History, dict[str, str]]:
    history = generate(tmp_path / "repo", commits, distinct_keys=keys, seed=5)
    status = {}
    for n, key in enumerate(sorted(history.keys)):
        status[key] = "In Progress" if n % 3 == 0 else "Done"
        fake.add_issue(key, status=status[key])
    return tmp_path / "repo", history, status


def _blocked_refs(data: dict[str, Any]) -> set[str]:
    return {f["ref"] for f in data["failures"] if f["status"] == "BLOCK"}


def _by_rule(data: dict[str, Any], rule: str) -> set[str]:
    return {
        f["ref"]
        for f in data["failures"]
        for r in f["rules"]
        if r["id"] == rule and r["status"] == "BLOCK"
    }


@pytest.mark.parametrize("deployment", ["cloud", "datacenter"])
def test_one_batched_pass_whatever_the_number_of_changes(
    deployment: str,
    jira_factory: Callable[..., FakeJira],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    replay: Replay,
) -> None:
    fake = jira_factory(deployment, **({"context_path": "/jira"} if deployment != "cloud" else {}))
    repo, history, status = _setup(tmp_path, fake, 3_000, 1_500)
    config = _config(tmp_path, fake, monkeypatch)

    requests: dict[str, int] = {}
    for unit in ("commit", "push", "pr"):
        fake.reset_log()
        data = replay_json(replay, repo, "--config", str(config), "--unit", unit)
        requests[unit] = len(fake.requests)
        keys = data["jira"]["distinctKeys"]
        assert data["jira"]["mode"] == "asked"
        assert keys >= (len(history.keys) if unit == "commit" else 100), (unit, len(history.keys))
        # ⌈keys/100⌉ + a few (the project list, the JQL's batches) per connection: the bound
        # of issue 16, for 3,000 changes as for one
        assert requests[unit] <= math.ceil(keys / 100) + 4, Counter(r.path for r in fake.requests)
        assert data["jira"]["resolverCalls"] <= 3  # projects, resolve, one JQL

    data = replay_json(replay, repo, "--config", str(config), "--unit", "commit")
    # every commit naming a key Jira does not know is blocked by all-keys-valid — only those
    # (merge commits too: the template does not skip them, and their titles name keys)
    unknown = {m for m, msg in history.messages.items() if set(KEY.findall(msg)) - set(status)}
    assert set(history.typo_commits) <= unknown
    assert _by_rule(data, "all-keys-valid") == history.hash_set(unknown) != set()
    # issue-in-progress blocks the commits whose (known) key is Done, passes the In Progress ones
    blocked = _by_rule(data, "issue-in-progress")
    for mark in history.direct_marks[:400]:
        found = KEY.findall(history.messages[mark])
        if not found or found[0] not in status:
            continue
        assert (history.hashes[mark] in blocked) == (status[found[0]] == "Done"), mark


def test_jira_down_is_the_policys_to_decide(
    jira_factory: Callable[..., FakeJira],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    replay: Replay,
) -> None:
    fake = jira_factory("cloud")
    repo, history, _ = _setup(tmp_path, fake, 200, 100)
    config = _config(tmp_path, fake, monkeypatch, jira_unreachable="WARN")
    fake.fail(401, times=-1)  # the token rejected: no retry, every key undetermined
    data = replay_json(replay, repo, "--config", str(config), "--unit", "commit")
    assert data["jira"]["problems"], data["jira"]
    # WARN: nothing is blocked for want of an answer — only the commits without any key (which
    # need no Jira to judge); the changes with keys are warnings
    assert data["totals"]["BLOCK"] == len(history.keyless) > 0
    assert _blocked_refs(data) == history.hash_set(history.keyless)
    assert data["totals"]["WARNING"] >= history.direct - len(history.keyless)
    code, out, _ = replay(repo, "--config", str(config))
    assert code == 0
    assert "! " in out and "Jira" in out
    assert fake.token not in out
