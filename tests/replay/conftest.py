"""Fixtures of the replay tests: running ``jirahooks replay`` in a repository, rules files."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from jirahooks.cli import main


def write_rules(path: Path, rules: list[Any], **extra: Any) -> Path:
    path.write_text(json.dumps({"rules": rules, **extra}), encoding="utf-8")
    return path


Replay = Callable[..., tuple[int, str, str]]


@pytest.fixture
def replay(capsys: pytest.CaptureFixture[str]) -> Replay:
    """``replay(repo_path, *args)`` → (exit code, stdout, stderr) of ``jirahooks replay``."""

    def run(cwd: Path, *args: str) -> tuple[int, str, str]:
        before = os.getcwd()
        os.chdir(cwd)
        try:
            code = main(["replay", *args])
        finally:
            os.chdir(before)
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


def replay_json(replay: Replay, cwd: Path, *args: str) -> dict[str, Any]:
    code, out, err = replay(cwd, *args, "--format", "json")
    assert code == 0, err
    data: dict[str, Any] = json.loads(out)
    return data
