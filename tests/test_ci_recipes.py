"""The CI recipes of docs/ci.md, run as the platforms would run them.

The YAML blocks are read from docs/ci.md (so the page and this test cannot drift), validated
against the platforms' schemas (vendored by check-jsonschema: GitHub workflows, GitLab CI,
Bitbucket Pipelines; offline), and their shell steps run with bash on small real repositories:
a new repository, a new branch, a pull request from a fork without secrets, a blocked change.

What stands in for the platform: a bare ``origin`` and a full clone of it checked out at the
commit under test (``fetch-depth: 0`` / ``depth: full`` / ``GIT_DEPTH: 0``), the platform's
variables, and for the CI image's Python a virtual environment into which the recipe's own
install line installs the wheel that ``make dist`` builds (as the recipes expect it, committed
under ``ci/``). The Bitbucket REST call is answered by a ``curl`` stand-in that prints a pull
request as Bitbucket's API document describes it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import venv
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.conftest import IDENTITY, GitRepo

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "ci.md"
ZERO = "0" * 40
SCHEMAS = {
    "github": "vendor.github-workflows",
    "bitbucket": "vendor.bitbucket-pipelines",
    "gitlab": "vendor.gitlab-ci",
}
FIRST_LINES = {
    "github": "# .github/workflows/jirahooks.yml",
    "bitbucket": "# bitbucket-pipelines.yml",
    "gitlab": "# .gitlab-ci.yml",
}
# format checks, and a Jira rule that needs the connection (whose token is a CI secret)
RULES = """\
rules:
  - template: commit-key-required
  - template: all-keys-valid
    targets: [COMMIT]
  - template: pr-title-convention
"""
CONNECTION = """\
connections:
  - name: acme
    url: http://127.0.0.1:9/
    deployment: cloud
    email: ci@example.com
    token: ${JIRA_TOKEN}
"""

pytestmark = pytest.mark.slow


def _recipes() -> dict[str, str]:
    text = DOC.read_text(encoding="utf-8")
    found: dict[str, str] = {}
    for block in re.findall(r"```yaml\n(.*?)```", text, re.S):
        for platform, first in FIRST_LINES.items():
            if block.startswith(first):
                found[platform] = block
    assert set(found) == set(FIRST_LINES), "docs/ci.md lost a recipe"
    return found


def _recipe(platform: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(_recipes()[platform])
    return data


# --- the schemas ----------------------------------------------------------------------------


def _validate(platform: str, text: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    path = tmp_path / f"{platform}.yml"
    path.write_text(text, encoding="utf-8")
    tool = Path(sys.executable).with_name("check-jsonschema")
    assert tool.exists(), "check-jsonschema (the dev extra) is not installed"
    return subprocess.run(
        [str(tool), "--builtin-schema", SCHEMAS[platform], str(path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


@pytest.mark.parametrize("platform", sorted(SCHEMAS))
def test_recipe_is_valid_for_its_platform(platform: str, tmp_path: Path) -> None:
    result = _validate(platform, _recipes()[platform], tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("platform", "broken"),
    [
        ("github", "name: x\non: push\njobs:\n  a:\n    steps: [{run: x}]\n"),  # no runs-on
        ("gitlab", "job:\n  script:\n    - echo a: b\n"),  # a mapping where a command goes
        (
            "bitbucket",
            "pipelines:\n  default:\n    - step:\n        script:\n          - echo a: b\n",
        ),
    ],
    ids=["github", "gitlab", "bitbucket"],
)
def test_the_schema_check_rejects_a_broken_recipe(
    platform: str, broken: str, tmp_path: Path
) -> None:
    assert _validate(platform, broken, tmp_path).returncode != 0


def test_no_github_expression_inside_a_script() -> None:
    """``${{ … }}`` in ``run:`` is pasted into the script before it runs (script injection
    with a PR title); the recipes pass data through ``env:``."""
    for step in _recipe("github")["jobs"]["jira"]["steps"]:
        assert "${{" not in step.get("run", ""), step


# --- running the recipes ---------------------------------------------------------------------


@pytest.fixture(scope="session")
def ci_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The CI image's Python, with jirahooks installed by the recipe's own install line from
    the wheel ``make dist`` builds."""
    base = tmp_path_factory.mktemp("ci-image")
    dist = base / "dist"
    built = subprocess.run(
        ["make", "-s", "-C", str(ROOT), "dist", f"DIST={dist}", f"PYTHON={sys.executable}"],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    (wheel,) = dist.glob("*.whl")
    assert f"{wheel.name}  sha256=" in built.stdout
    environment = base / "venv"
    venv.create(environment, with_pip=True)
    installs = {line for line in _install_lines()}
    assert len(installs) == 1, installs
    (install,) = installs
    assert install.endswith(f"./ci/{wheel.name}"), (install, wheel.name)
    workdir = base / "checkout"
    (workdir / "ci").mkdir(parents=True)
    shutil.copy(wheel, workdir / "ci" / wheel.name)
    env = {**os.environ, "PATH": f"{environment / 'bin'}{os.pathsep}{os.environ['PATH']}"}
    env.pop("PYTHONPATH", None)
    done = subprocess.run(
        ["bash", "-eo", "pipefail", "-c", install],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return environment / "bin"


def _install_lines() -> list[str]:
    lines = []
    for text in _recipes().values():
        lines += [m.group(1).strip() for m in re.finditer(r"(?:- |run: )(.*pip install.*)", text)]
    return lines


@dataclass
class Project:
    """A hosted repository (``origin``), a developer's clone that pushes to it, and what CI
    checks out."""

    origin: GitRepo
    dev: GitRepo
    tmp: Path
    ci_bin: Path
    curl_answers: dict[str, Any] = field(default_factory=dict)

    def push(self, *refs: str) -> None:
        self.dev.git("push", "-q", "--no-verify", "origin", *refs)

    def checkout(self, sha: str) -> Path:
        """A full clone of origin at ``sha`` (detached, as CI checks out)."""
        path = self.tmp / f"ci-{sha[:8]}-{len(list(self.tmp.glob('ci-*')))}"
        subprocess.run(
            ["git", "clone", "-q", "--no-checkout", str(self.origin.path), str(path)],
            check=True,
            capture_output=True,
            env={**os.environ, **IDENTITY},
        )
        subprocess.run(
            ["git", "checkout", "-q", "--detach", sha], cwd=path, check=True, capture_output=True
        )
        return path

    def run(self, script: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
        """``script`` with bash, as the runners do (``-e``, ``pipefail``), the install line
        dropped (``ci_python`` ran it once)."""
        kept = [line for line in script.splitlines() if "pip install" not in line]
        fake = self.tmp / "fake-bin"
        fake.mkdir(exist_ok=True)
        curl = fake / "curl"
        curl.write_text(
            "#!/bin/sh\n# Bitbucket's GET /2.0/repositories/{workspace}/{repo}/pullrequests/{id}\n"
            f"cat {self.tmp / 'pullrequest.json'}\n",
            encoding="utf-8",
        )
        curl.chmod(0o755)
        (self.tmp / "pullrequest.json").write_text(json.dumps(self.curl_answers), "utf-8")
        base = {k: v for k, v in os.environ.items() if not k.startswith(("JIRAHOOKS_", "GIT_"))}
        base.pop("PYTHONPATH", None)
        base["PATH"] = os.pathsep.join([str(self.ci_bin), str(fake), os.environ["PATH"]])
        return subprocess.run(
            ["bash", "-eo", "pipefail", "-c", "\n".join(kept)],
            cwd=cwd,
            env={**base, **env},
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )


@pytest.fixture
def project(
    make_repo: Callable[..., GitRepo], tmp_path: Path, ci_python: Path
) -> Iterator[Project]:
    origin = make_repo("origin.git", bare=True)
    dev = make_repo("dev")
    dev.git("remote", "add", "origin", str(origin.path))
    yield Project(origin, dev, tmp_path, ci_python)


def _configure(project: Project, *, connection: bool) -> None:
    (project.dev.path / ".jirahooks.yml").write_text(
        (CONNECTION if connection else "") + RULES, encoding="utf-8"
    )
    project.dev.git("add", ".jirahooks.yml")


def _junit(path: Path) -> ET.Element:
    return ET.fromstring(path.read_text(encoding="utf-8"))


def _failures(report: ET.Element) -> str:
    return "\n".join(f.text or "" for f in report.iter("failure"))


def _skips(report: ET.Element) -> list[str]:
    return [s.get("message", "") for s in report.iter("skipped")]


# --- GitHub Actions ---------------------------------------------------------------------------

_GITHUB_IFS = {
    "github.event_name == 'pull_request'": lambda event: event == "pull_request",
    "github.event_name == 'push'": lambda event: event == "push",
    "always()": lambda event: True,
}


def _github(
    project: Project, event: str, context: dict[str, str], runner: dict[str, str], cwd: Path
) -> list[subprocess.CompletedProcess[str]]:
    """Run the workflow's ``run:`` steps that apply to ``event``; ``${{ x }}`` in ``env:`` comes
    from ``context`` (an expression the test does not know fails it)."""
    results = []
    for step in _recipe("github")["jobs"]["jira"]["steps"]:
        condition = step.get("if")
        if condition is not None and not _GITHUB_IFS[condition](event):
            continue
        if "run" not in step:
            continue  # actions/checkout, setup-python, upload-artifact: the harness's part
        env = {}
        for name, value in (step.get("env") or {}).items():
            match = re.fullmatch(r"\$\{\{\s*(.+?)\s*\}\}", str(value))
            env[name] = context[match.group(1)] if match else str(value)
        result = project.run(step["run"], cwd, {**runner, **env})
        results.append(result)
        if result.returncode != 0:
            break
    return results


def _push_context(before: str, default: str = "main", token: str = "") -> dict[str, str]:
    return {
        "github.event.before": before,
        "github.event.repository.default_branch": default,
        "secrets.JIRA_TOKEN": token,
    }


def test_github_push_to_a_new_repository_checks_every_commit(project: Project) -> None:
    _configure(project, connection=False)
    project.dev.commit("ABC-1 first commit")
    bad = project.dev.commit("second commit without a key")
    project.push("main")
    cwd = project.checkout(bad)
    runner = {"GITHUB_SHA": bad, "GITHUB_REF_NAME": "main"}
    *_, last = _github(project, "push", _push_context(ZERO), runner, cwd)
    assert last.returncode == 1, last.stdout + last.stderr  # blocked, not "nothing to check"
    assert bad[:12] in _failures(_junit(cwd / "reports" / "jirahooks.xml"))


def test_github_push_of_a_new_branch_checks_what_main_lacks(project: Project) -> None:
    _configure(project, connection=False)
    old_bad = project.dev.commit("an old commit without a key, already on main")
    project.dev.commit("ABC-1 main moves on")
    project.push("main")
    project.dev.checkout("-b", "feature/ABC-2-login")
    new_bad = project.dev.commit("the new branch's commit without a key")
    project.push("feature/ABC-2-login")
    cwd = project.checkout(new_bad)
    runner = {"GITHUB_SHA": new_bad, "GITHUB_REF_NAME": "feature/ABC-2-login"}
    *_, last = _github(project, "push", _push_context(ZERO), runner, cwd)
    assert last.returncode == 1, last.stdout + last.stderr
    failures = _failures(_junit(cwd / "reports" / "jirahooks.xml"))
    assert new_bad[:12] in failures
    assert old_bad[:12] not in failures


def test_github_push_after_a_force_push_does_not_fail_on_the_lost_before(
    project: Project,
) -> None:
    _configure(project, connection=False)
    project.dev.commit("ABC-1 first")
    head = project.dev.commit("ABC-2 second")
    project.push("main")
    cwd = project.checkout(head)
    gone = "1234567890abcdef1234567890abcdef12345678"  # rewritten away, not in the clone
    runner = {"GITHUB_SHA": head, "GITHUB_REF_NAME": "main"}
    *_, last = _github(project, "push", _push_context(gone), runner, cwd)
    assert last.returncode == 0, last.stdout + last.stderr


def test_github_push_checks_the_pushed_range(project: Project) -> None:
    _configure(project, connection=False)
    project.dev.commit("old commit without a key")
    before = project.dev.commit("ABC-1 fine")
    project.push("main")
    head = project.dev.commit("ABC-2 also fine")
    project.push("main")
    cwd = project.checkout(head)
    runner = {"GITHUB_SHA": head, "GITHUB_REF_NAME": "main"}
    *_, last = _github(project, "push", _push_context(before), runner, cwd)
    assert last.returncode == 0, last.stdout + last.stderr


def _pull_request(project: Project, *, title: str, subject: str) -> tuple[str, str, Path]:
    _configure(project, connection=True)
    base = project.dev.commit("ABC-1 initial")
    project.push("main")
    project.dev.checkout("-b", "feature/ABC-2-login")
    head = project.dev.commit(subject)
    project.push("feature/ABC-2-login")
    return base, head, project.checkout(head)


def _pr_context(base: str, head: str, title: str, token: str) -> dict[str, str]:
    return {
        "github.event.pull_request.title": title,
        "github.event.pull_request.body": "",
        "github.event.pull_request.base.sha": base,
        "github.event.pull_request.head.sha": head,
        "github.head_ref": "feature/ABC-2-login",
        "github.base_ref": "main",
        "secrets.JIRA_TOKEN": token,
    }


def test_github_pull_request_from_a_fork_degrades_to_format_checks(project: Project) -> None:
    base, head, cwd = _pull_request(project, title="ABC-2 Login", subject="ABC-2 login form")
    runner = {"GITHUB_SHA": head, "GITHUB_REF_NAME": "1/merge"}
    context = _pr_context(base, head, "ABC-2: Login form", token="")  # forks get no secrets
    *_, last = _github(project, "pull_request", context, runner, cwd)
    assert last.returncode == 0, last.stdout + last.stderr  # not 3 (missing secret)
    assert "::warning" in last.stdout
    assert "format checks only" in last.stdout
    report = _junit(cwd / "reports" / "jirahooks.xml")
    assert any("offline by request" in reason for reason in _skips(report))


def test_github_pull_request_still_blocks_a_bad_commit_offline(project: Project) -> None:
    base, head, cwd = _pull_request(project, title="x", subject="login form without a key")
    runner = {"GITHUB_SHA": head, "GITHUB_REF_NAME": "1/merge"}
    context = _pr_context(base, head, "ABC-2: Login form", token="")
    *_, last = _github(project, "pull_request", context, runner, cwd)
    assert last.returncode == 1, last.stdout + last.stderr
    assert head[:12] in _failures(_junit(cwd / "reports" / "jirahooks.xml"))


# --- Bitbucket Pipelines ----------------------------------------------------------------------


def _bitbucket_script(which: str) -> str:
    data = _recipe("bitbucket")
    if which == "pr":
        step = data["definitions"]["steps"][0]["step"]
    else:
        step = data["pipelines"]["branches"]["main"][0]["step"]
    assert step["clone"]["depth"] == "full"
    return "\n".join(step["script"])


def test_bitbucket_branch_pipeline_on_a_young_repository(project: Project) -> None:
    _configure(project, connection=False)
    project.dev.commit("ABC-1 first")
    bad = project.dev.commit("no key")
    project.dev.commit("ABC-2 third")
    project.push("main")
    head = project.dev.head()
    cwd = project.checkout(head)
    env = {"BITBUCKET_COMMIT": head, "BITBUCKET_BRANCH": "main"}
    result = project.run(_bitbucket_script("branch"), cwd, env)
    assert result.returncode == 1, result.stdout + result.stderr  # checked, not exit 4
    assert bad[:12] in _failures(_junit(cwd / "test-results" / "jirahooks.xml"))
    assert "format checks only" in result.stdout  # no JIRA_TOKEN variable


def test_bitbucket_branch_pipeline_checks_the_last_twenty(project: Project) -> None:
    _configure(project, connection=False)
    old_bad = project.dev.commit("an old commit without a key")
    for n in range(21):
        project.dev.commit(f"ABC-{n + 1} change {n}")
    project.push("main")
    head = project.dev.head()
    cwd = project.checkout(head)
    env = {"BITBUCKET_COMMIT": head, "BITBUCKET_BRANCH": "main", "JIRA_TOKEN": "t"}
    result = project.run(_bitbucket_script("branch"), cwd, env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert old_bad[:12] not in (cwd / "test-results" / "jirahooks.xml").read_text("utf-8")


def _bitbucket_pr_env(head: str, **extra: str) -> dict[str, str]:
    return {
        "BITBUCKET_COMMIT": head,
        "BITBUCKET_BRANCH": "feature/ABC-2-login",
        "BITBUCKET_PR_DESTINATION_BRANCH": "main",
        "BITBUCKET_PR_ID": "7",
        "BITBUCKET_REPO_FULL_NAME": "acme/api",
        **extra,
    }


def test_bitbucket_pull_request_from_a_fork(project: Project) -> None:
    _, head, cwd = _pull_request(project, title="", subject="ABC-2 login form")
    result = project.run(_bitbucket_script("pr"), cwd, _bitbucket_pr_env(head))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "format checks only" in result.stdout
    assert "the PR title and description are not checked" in result.stdout
    report = _junit(cwd / "test-results" / "jirahooks.xml")
    assert any("offline by request" in reason for reason in _skips(report))


def test_bitbucket_pull_request_reads_the_title_from_the_api(project: Project) -> None:
    _, head, cwd = _pull_request(project, title="", subject="ABC-2 login form")
    project.curl_answers = {"id": 7, "title": "a title without a key", "description": ""}
    env = _bitbucket_pr_env(head, BB_TOKEN="bb-token")
    result = project.run(_bitbucket_script("pr"), cwd, env)
    assert result.returncode == 1, result.stdout + result.stderr  # the title rule blocks
    report = _junit(cwd / "test-results" / "jirahooks.xml")
    failed = [c.get("classname") for c in report.iter("testcase") if c.find("failure") is not None]
    assert failed == ["jirahooks.pr-title-convention"]


# --- GitLab CI --------------------------------------------------------------------------------


def _gitlab(job: str, variables: dict[str, str]) -> str | None:
    """The job's script when its ``rules:`` let it run for ``variables``, else None."""
    spec = _recipe("gitlab")[job]
    assert spec["variables"]["GIT_DEPTH"] == 0
    known = {
        '$CI_PIPELINE_SOURCE == "merge_request_event"': lambda v: (
            v.get("CI_PIPELINE_SOURCE") == "merge_request_event"
        ),
        '$CI_PIPELINE_SOURCE == "push" && $CI_COMMIT_BRANCH': lambda v: (
            v.get("CI_PIPELINE_SOURCE") == "push" and bool(v.get("CI_COMMIT_BRANCH"))
        ),
    }
    if not any(known[rule["if"]](variables) for rule in spec["rules"]):
        return None
    return "\n".join(spec["script"])


def test_gitlab_push_to_a_new_repository_is_checked(project: Project) -> None:
    _configure(project, connection=False)
    bad = project.dev.commit("first commit without a key")
    project.dev.commit("ABC-1 second")
    project.push("main")
    head = project.dev.head()
    cwd = project.checkout(head)
    variables = {
        "CI_PIPELINE_SOURCE": "push",
        "CI_COMMIT_BRANCH": "main",
        "CI_DEFAULT_BRANCH": "main",
        "CI_COMMIT_BEFORE_SHA": ZERO,
        "CI_COMMIT_SHA": head,
    }
    script = _gitlab("jirahooks-push", variables)
    assert script is not None, "the push job does not run on a new repository's first push"
    result = project.run(script, cwd, variables)
    assert result.returncode == 1, result.stdout + result.stderr
    assert bad[:12] in result.stdout


def test_gitlab_push_of_a_new_branch(project: Project) -> None:
    _configure(project, connection=False)
    old_bad = project.dev.commit("old commit without a key")
    project.push("main")
    project.dev.checkout("-b", "feature/ABC-1-x")
    head = project.dev.commit("ABC-1 fine")
    project.push("feature/ABC-1-x")
    cwd = project.checkout(head)
    variables = {
        "CI_PIPELINE_SOURCE": "push",
        "CI_COMMIT_BRANCH": "feature/ABC-1-x",
        "CI_DEFAULT_BRANCH": "main",
        "CI_COMMIT_BEFORE_SHA": ZERO,
        "CI_COMMIT_SHA": head,
    }
    script = _gitlab("jirahooks-push", variables)
    assert script is not None
    result = project.run(script, cwd, variables)
    assert result.returncode == 0, result.stdout + result.stderr
    assert old_bad[:12] not in result.stdout


def test_gitlab_merge_request_from_a_fork(project: Project) -> None:
    base, head, cwd = _pull_request(project, title="", subject="ABC-2 login form")
    variables = {
        "CI_PIPELINE_SOURCE": "merge_request_event",
        "CI_MERGE_REQUEST_DIFF_BASE_SHA": base,
        "CI_COMMIT_SHA": head,
        "CI_MERGE_REQUEST_SOURCE_BRANCH_NAME": "feature/ABC-2-login",
        "CI_MERGE_REQUEST_TARGET_BRANCH_NAME": "main",
        "CI_MERGE_REQUEST_TITLE": "ABC-2: Login form",
        "CI_MERGE_REQUEST_DESCRIPTION": "",
    }  # no JIRA_TOKEN: a fork's pipeline has none of the project's variables
    script = _gitlab("jirahooks", variables)
    assert script is not None
    result = project.run(script, cwd, variables)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "format checks only" in result.stdout
    report = _junit(cwd / "reports" / "jirahooks.xml")
    assert any("offline by request" in reason for reason in _skips(report))
