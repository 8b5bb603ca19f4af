"""A real-like git history generated with ``git fast-import`` (10,000 commits in about a second).

Shape, seeded: a ``main`` branch with direct commits and merged feature branches (``--no-ff``
merges whose subject is Bitbucket Cloud's ``Merged in BRANCH (pull request #N)`` or GitHub's
``Merge pull request #N from OWNER/BRANCH``); 20 authors; one commit every ~10 minutes; messages
shaped like real ones ("ABC-12: fix login timeout", "[ABC-12] …", "refs ABC-12", long bodies);
a share without any key and a share naming a key Jira does not know (``typo_keys``). Keys
come from projects ``projects``, numbered so that about ``distinct_keys`` different keys occur.

``History`` says what was generated (commit count, keys used, which keys are typos, which
commits have no key, merges and PR numbers), so a test can compute what a replay must report
without trusting the replay.
"""

from __future__ import annotations

import random
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

WORDS = [
    "fix",
    "add",
    "remove",
    "refactor",
    "login",
    "payment",
    "cache",
    "retry",
    "timeout",
    "docs",
]
AUTHORS = [f"Dev {chr(65 + i)}" for i in range(20)]
BASE_TIME = 1_767_225_600  # 2026-01-01T00:00:00Z


@dataclass
class History:
    commits: int = 0
    keys: set[str] = field(default_factory=set)  # keys that exist in Jira (named at least once)
    typo_keys: set[str] = field(default_factory=set)  # keys no Jira knows
    keyless: list[int] = field(default_factory=list)  # marks of commits without a key
    typo_commits: list[int] = field(default_factory=list)  # marks of commits naming a typo key
    merges: int = 0
    pull_requests: list[int] = field(default_factory=list)
    direct: int = 0  # first-parent commits that are no merge
    messages: dict[int, str] = field(default_factory=dict)  # mark -> message
    hashes: dict[int, str] = field(default_factory=dict)  # mark -> commit hash
    pr_commits: dict[int, list[int]] = field(default_factory=dict)  # PR number -> its marks
    pr_merge: dict[int, int] = field(default_factory=dict)  # PR number -> the merge's mark
    direct_marks: list[int] = field(default_factory=list)  # first-parent non-merge commits

    def hash_set(self, marks: list[int] | set[int]) -> set[str]:
        return {self.hashes[m] for m in marks}


def _message(rng: random.Random, key: str | None) -> str:
    words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 5)))
    if key is None:
        return f"{words.capitalize()}"
    shape = rng.random()
    if shape < 0.5:
        subject = f"{key}: {words}"
    elif shape < 0.75:
        subject = f"[{key}] {words}"
    else:
        subject = f"{words.capitalize()} (refs {key})"
    if rng.random() < 0.3:
        body = "\n".join(" ".join(rng.choice(WORDS) for _ in range(10)) for _ in range(3))
        return f"{subject}\n\n{body}"
    return subject


def generate(
    path: Path,
    commits: int,
    *,
    distinct_keys: int,
    projects: tuple[str, ...] = ("ABC", "PAY"),
    keyless_share: float = 0.03,
    typo_share: float = 0.02,
    pr_every: int = 6,
    seed: int = 7,
) -> History:
    """Create a repository at ``path`` with about ``commits`` commits on ``main``."""
    rng = random.Random(seed)
    path.mkdir(parents=True, exist_ok=True)
    env = {
        "GIT_CONFIG_NOSYSTEM": "1",
        "HOME": str(path),
        "PATH": "/usr/bin:/bin:/usr/local/bin",
    }
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True, env=env)
    per_project = max(distinct_keys // len(projects), 1)
    out: list[str] = []
    history = History()
    mark = 0
    main_tip = 0
    clock = BASE_TIME
    pr_number = 0
    # key numbers advance so that the history names about ``distinct_keys`` keys: each commit
    # takes a new key with the probability that spreads them over the commits
    keyed = commits * (1 - 1 / (pr_every * 0.9 + 1)) * (1 - keyless_share - typo_share)
    new_key_share = min(distinct_keys / max(keyed, 1), 1.0)
    counters = dict.fromkeys(projects, 0)

    def pick_key() -> tuple[str | None, bool]:
        draw = rng.random()
        if draw < keyless_share:
            return None, False
        if draw < keyless_share + typo_share:
            return f"{rng.choice(projects)}-{per_project * 10 + rng.randint(1, 10_000)}", True
        project = rng.choice(projects)
        if counters[project] == 0 or (
            rng.random() < new_key_share and counters[project] < per_project
        ):
            counters[project] += 1
            number = counters[project]
        else:
            number = rng.randint(1, counters[project])
        return f"{project}-{number}", False

    def commit(ref: str, parents: list[int], message: str | None = None) -> int:
        nonlocal mark, clock
        mark += 1
        clock += rng.randint(300, 900)
        author = rng.choice(AUTHORS)
        email = author.lower().replace(" ", ".") + "@example.com"
        if message is None:
            key, typo = pick_key()
            message = _message(rng, key)
            if key is None:
                history.keyless.append(mark)
            elif typo:
                history.typo_keys.add(key)
                history.typo_commits.append(mark)
            else:
                history.keys.add(key)
        history.messages[mark] = message
        data = message.encode("utf-8")
        out.append(f"commit {ref}\nmark :{mark}\n")
        out.append(f"author {author} <{email}> {clock} +0000\n")
        out.append(f"committer {author} <{email}> {clock} +0000\n")
        out.append(f"data {len(data)}\n{message}\n")
        if parents:
            out.append(f"from :{parents[0]}\n")
            for other in parents[1:]:
                out.append(f"merge :{other}\n")
        if mark == 1:  # one file; later commits keep the tree (fast-import allows that)
            out.append("M 644 inline README\ndata 7\nhistory\n")
        out.append("\n")
        history.commits += 1
        return mark

    while history.commits < commits:
        if main_tip and pr_number * pr_every < history.commits and history.commits + 4 < commits:
            pr_number += 1
            branch = f"feature/{rng.choice(projects)}-{pr_number}-work"
            tip = main_tip
            marks: list[int] = []
            for n in range(rng.randint(1, 3)):
                tip = commit(f"refs/heads/{branch}", [tip] if n == 0 else [])
                marks.append(tip)
            history.pr_commits[pr_number] = marks
            if rng.random() < 0.5:
                subject = f"Merged in {branch} (pull request #{pr_number})"
            else:
                subject = f"Merge pull request #{pr_number} from acme/{branch}"
            title = history.messages[tip].split("\n", 1)[0]
            main_tip = commit("refs/heads/main", [main_tip, tip], f"{subject}\n\n{title}\n")
            history.pr_merge[pr_number] = main_tip
            history.merges += 1
            history.pull_requests.append(pr_number)
        else:
            main_tip = commit("refs/heads/main", [main_tip] if main_tip else [])
            history.direct += 1
            history.direct_marks.append(main_tip)
    out.append("done\n")
    marks_file = path / ".git" / "replay-marks"
    subprocess.run(
        [
            "git",
            "-C",
            str(path),
            "fast-import",
            "--quiet",
            "--done",
            f"--export-marks={marks_file}",
        ],
        input="".join(out).encode("utf-8"),
        check=True,
        env=env,
    )
    subprocess.run(["git", "-C", str(path), "checkout", "-q", "main"], check=True, env=env)
    for line in marks_file.read_text().splitlines():
        mark_text, sha = line.split()
        history.hashes[int(mark_text[1:])] = sha
    marks_file.unlink()
    return history
