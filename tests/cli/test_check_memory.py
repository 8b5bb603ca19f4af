"""``jirahooks check --format json`` over 14,000 real-length commits stays under 150 MB RSS
(issue 11, section 3).

On b9f4856 the same run peaked at ~460 MB and printed ~40 MB of JSON: every rule's
``commitsUnderReview`` repeated every full message and every commit's facts were listed. The
document is now bounded (engine/listing.py). The peak is the child's own ``ru_maxrss``
(``os.wait4`` on its pid: git's processes and other tests' children do not count). A memory
bound is a fact of the run, not a timing; the bound leaves headroom over what it takes now.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from tests.support.pushes import message

from jirahooks.errors import EXIT_BLOCKED

TESTS = Path(__file__).resolve().parents[1]
# runs the command, then prints "<exit code> <its peak RSS in KB>" as its last stderr line
_MEASURE = """
import os, subprocess, sys
child = subprocess.Popen(sys.argv[1:])
_, status, usage = os.wait4(child.pid, 0)
child.returncode = os.waitstatus_to_exitcode(status)
print(child.returncode, usage.ru_maxrss, file=sys.stderr)
"""
COMMITS = 14_000
MAX_RSS_MB = 150


def _root_conftest() -> Any:
    # Loaded by path: several test directories have a module called "conftest".
    spec = importlib.util.spec_from_file_location("_jirahooks_root_conftest", TESTS / "conftest.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


synthetic_history: Callable[..., str] = _root_conftest().synthetic_history


@pytest.mark.slow
def test_check_json_over_14_000_commits_stays_small(git_repo: Any) -> None:
    git_repo.fast_import(synthetic_history(COMMITS, lambda i: message(i, key=i % 700 != 0)))
    assert git_repo.git("rev-list", "--count", "main") == str(COMMITS)
    (git_repo.path / "rules.yml").write_text(
        "- template: commit-key-required\n"
        "- template: no-merge-commits\n"
        "- id: subject\n  title: Subject style\n  checks: {naming: '^\\S.{0,71}(\\n|$)'}\n",
        encoding="utf-8",
    )
    command = [sys.executable, "-m", "jirahooks", "check", "--config", "rules.yml"]
    command += ["--range", "main", "--format", "json"]
    out_path = git_repo.path.parent / "check.json"
    err_path = git_repo.path.parent / "check.err"
    # Measured from a small parent: a child forked from this (large) pytest process inherits its
    # high-water mark through exec, so ``ru_maxrss`` read here directly would be pytest's.
    with out_path.open("wb") as out, err_path.open("wb") as err:
        measured = subprocess.run(
            [sys.executable, "-c", _MEASURE, *command],
            cwd=git_repo.path,
            stdout=out,
            stderr=err,
            check=False,
        )
    error = err_path.read_text(encoding="utf-8", errors="replace")
    code_line, _, rss_line = error.strip().rpartition("\n")[2].partition(" ")
    assert measured.returncode == 0, error
    assert int(code_line) == EXIT_BLOCKED, error
    peak_mb = int(rss_line) / 1024  # kilobytes on Linux
    print(f"check --format json over {COMMITS} commits: {peak_mb:.0f} MB peak RSS")
    assert peak_mb < MAX_RSS_MB, f"check --format json peaked at {peak_mb:.0f} MB RSS"
    document = json.loads(out_path.read_text(encoding="utf-8"))
    keys = document["ruleValidations"][0]
    assert keys["ruleStatus"] == "BLOCK"
    assert len(keys["failingCommits"]) == COMMITS // 700  # every failing commit is named
    assert out_path.stat().st_size < 1024 * 1024
