"""The documentation never tells anyone to install jirahooks by its bare name.

jirahooks is on no package index: ``pip install jirahooks`` (or ``pipx``/``uv`` alike) would
install whatever someone registers under that name, in every CI job and on every laptop that
follows the docs. Every install the docs give names a path, a wheel file or a URL; pre-commit
recipes use ``repo: local`` (or a placeholder for one's own copy), never a host that cannot
work (``example.invalid``)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
INSTALLERS = re.compile(
    r"(?:\bpython3?\s+-m\s+pip|\bpip3?|\bpipx|\buv\s+pip|\buv\s+tool)\s+install\b(?P<rest>.*)"
)
RUNNERS = re.compile(r"(?:\buvx|\bpipx\s+run)\s+(?:--\S+\s+)*(?P<name>[\w.\[\]-]+)")
BARE = re.compile(r"^jirahooks(?:\[[^\]]*\])?(?:\s*[<>=!~]=?.*)?$", re.IGNORECASE)


def _files() -> list[Path]:
    found = [ROOT / "README.md", ROOT / "CONTRIBUTING.md", ROOT / "CHANGELOG.md"]
    found += sorted((ROOT / "docs").rglob("*.md"))
    found += [ROOT / ".pre-commit-hooks.yaml", ROOT / "Makefile"]
    found += sorted((ROOT / "scripts").glob("*"))
    found += sorted((ROOT / "src" / "jirahooks").rglob("*.py"))
    return [f for f in found if f.is_file()]


def bare_installs(text: str) -> list[str]:
    """Install commands in ``text`` that resolve the name ``jirahooks`` on an index."""
    problems = []
    for line in text.splitlines():
        for match in INSTALLERS.finditer(line):
            rest = re.split(r"`|\s\|\s|;|&&|\s#", match.group("rest"))[0]
            try:
                tokens = shlex.split(rest)
            except ValueError:
                tokens = rest.split()
            for i, token in enumerate(tokens):
                if token.startswith("-"):
                    continue
                following = tokens[i + 1] if i + 1 < len(tokens) else ""
                if BARE.match(token.strip()) and following != "@":
                    problems.append(line.strip())
        for match in RUNNERS.finditer(line):
            if BARE.match(match.group("name")):
                problems.append(line.strip())
    return problems


@pytest.mark.parametrize(
    ("text", "bad"),
    [
        ("      - run: pip install jirahooks", True),
        ("    - pip install -U 'jirahooks[server]'", True),
        ("pip install jirahooks==0.1.0", True),
        ("python -m pip install --quiet jirahooks", True),
        ("pipx install jirahooks", True),
        ("uv tool install jirahooks", True),
        ("uvx jirahooks check --range A..B", True),
        ("`pip install jirahooks` in CI", True),
        ("python -m pip install ./ci/jirahooks-0.1.0.dev0-py3-none-any.whl", False),
        ("pip install '.[server,postgres]'", False),
        ('pip install "jirahooks @ git+https://<host>/<owner>/jirahooks.git@<commit>"', False),
        ("pip install jirahooks @ git+https://h/o/jirahooks.git@0123", False),
        ("Do not `pip install` the bare name", False),
        ("pip install -e '.[dev]'", False),
    ],
)
def test_the_detector(text: str, bad: bool) -> None:
    assert bool(bare_installs(text)) is bad


def test_no_document_installs_jirahooks_by_its_bare_name() -> None:
    offenders = {
        str(path.relative_to(ROOT)): found
        for path in _files()
        if (found := bare_installs(path.read_text(encoding="utf-8", errors="replace")))
    }
    assert offenders == {}


def test_no_pre_commit_recipe_points_at_a_host_that_cannot_work() -> None:
    for path in _files():
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            if re.search(r"\brepo:\s*\S*example\.invalid", line):
                pytest.fail(f"{path.relative_to(ROOT)}: {line.strip()}")


def test_the_pre_commit_recipe_is_a_local_one() -> None:
    text = (ROOT / "docs" / "hooks.md").read_text(encoding="utf-8")
    section = text.split("### The pre-commit framework", 1)[1].split("\n## ", 1)[0]
    assert "- repo: local" in section
    assert "language: system" in section
