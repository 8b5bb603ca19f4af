"""GitHub webhook deliveries as GitHub sends them, built from the fake's state.

Each payload is completed with the required fields of its schema in ../shared/specs/github-webhooks.json
(tests/fakes/github_schema.py) and carries real values where jirahooks reads them;
test_github_webhooks.py validates every one against that schema.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from tests.fakes.fake_github import APP_ID, INSTALLATION_ID, FakeGitHub, FakePullRequest, FakeRepo
from tests.fakes.github_schema import webhook_conform

from jirahooks.platforms.github import signature_of

SECRET = "github-webhook-secret"


def _user(login: str) -> dict[str, Any]:
    return {"login": login, "id": abs(hash(login)) % 10_000_000, "type": "User"}


def _repository(repo: FakeRepo) -> dict[str, Any]:
    return {
        "id": repo.id,
        "name": repo.name,
        "full_name": repo.full_name,
        "owner": _user(repo.owner),
        "default_branch": "main",
    }


def _common(repo: FakeRepo | None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "sender": _user("ada"),
        "installation": {"id": int(INSTALLATION_ID), "node_id": "MDIzOkludGVncmF0aW9u"},
    }
    if repo is not None:
        out["repository"] = _repository(repo)
    return out


def pull_request(
    fake: FakeGitHub, repo: FakeRepo, pr: FakePullRequest, action: str = "opened"
) -> dict[str, Any]:
    def end(branch: str, sha: str) -> dict[str, Any]:
        return {
            "ref": branch,
            "sha": sha,
            "label": f"{repo.owner}:{branch}",
            "repo": _repository(repo),
        }

    body = {
        **_common(repo),
        "action": action,
        "number": pr.number,
        "pull_request": {
            "number": pr.number,
            "id": 90000 + pr.number,
            "title": pr.title,
            "body": pr.body or None,
            "state": pr.state,
            "merged": pr.merged,
            "user": _user(pr.author),
            "html_url": f"https://github.example/{repo.full_name}/pull/{pr.number}",
            "head": end(pr.source, pr.head),
            "base": end(pr.destination, pr.base_sha),
            "commits": len(pr.commits),
        },
    }
    if action == "closed":
        body["pull_request"]["merged_at"] = "2026-01-01T00:00:00Z" if pr.merged else None
    return webhook_conform(f"webhook-pull-request-{action.replace('_', '-')}", body)


def push(fake: FakeGitHub, repo: FakeRepo, branch: str, shas: list[str]) -> dict[str, Any]:
    commits = [
        {
            "id": sha,
            "tree_id": sha,
            "distinct": True,
            "message": repo.commits[sha].message,
            "timestamp": "2026-01-01T00:00:00Z",
            "url": f"https://github.example/{repo.full_name}/commit/{sha}",
            "author": {"name": repo.commits[sha].author, "email": repo.commits[sha].email},
            "committer": {"name": repo.commits[sha].author, "email": repo.commits[sha].email},
            "added": [],
            "removed": [],
            "modified": [],
        }
        for sha in shas
    ]
    before = (
        repo.commits[shas[0]].parents[0] if shas and repo.commits[shas[0]].parents else "0" * 40
    )
    return webhook_conform(
        ("webhook-push"),
        {
            **_common(repo),
            "ref": f"refs/heads/{branch}",
            "before": before,
            "after": shas[-1] if shas else "0" * 40,
            "created": False,
            "deleted": False,
            "forced": False,
            "commits": commits,
            "head_commit": commits[-1] if commits else None,
            "pusher": {"name": "ada", "email": "ada@example.com"},
            "compare": f"https://github.example/{repo.full_name}/compare",
        },
    )


def merge_group(fake: FakeGitHub, repo: FakeRepo, pr: FakePullRequest) -> dict[str, Any]:
    head = pr.head
    return webhook_conform(
        ("webhook-merge-group-checks-requested"),
        {
            **_common(repo),
            "action": "checks_requested",
            "merge_group": {
                "head_sha": head,
                "head_ref": f"refs/heads/gh-readonly-queue/main/pr-{pr.number}-{head}",
                "base_sha": pr.base_sha,
                "base_ref": "refs/heads/main",
                "head_commit": {
                    "id": head,
                    "tree_id": head,
                    "message": f"Merge pull request #{pr.number}: {pr.title}",
                    "timestamp": "2026-01-01T00:00:00Z",
                    "author": {"name": "ada", "email": "ada@example.com"},
                    "committer": {"name": "GitHub", "email": "noreply@github.com"},
                },
            },
        },
    )


def _pr_ref(repo: FakeRepo, pr: FakePullRequest) -> dict[str, Any]:
    def end(branch: str, sha: str) -> dict[str, Any]:
        return {
            "ref": branch,
            "sha": sha,
            "repo": {"id": repo.id, "name": repo.name, "url": "https://example.com/"},
        }

    return {
        "id": 90000 + pr.number,
        "number": pr.number,
        "url": f"https://github.example/api/repos/{repo.full_name}/pulls/{pr.number}",
        "head": end(pr.source, pr.head),
        "base": end(pr.destination, pr.base_sha),
    }


def check_run_rerequested(
    fake: FakeGitHub, repo: FakeRepo, pr: FakePullRequest | None, head: str, branch: str
) -> dict[str, Any]:
    prs = [_pr_ref(repo, pr)] if pr is not None else []
    return webhook_conform(
        ("webhook-check-run-rerequested"),
        {
            **_common(repo),
            "action": "rerequested",
            "check_run": {
                "id": 1,
                "name": "Process Guardian (jirahooks)",
                "head_sha": head,
                "status": "completed",
                "conclusion": "failure",
                "pull_requests": prs,
                "app": {"id": int(APP_ID), "slug": "process-guardian", "name": "Process Guardian"},
                "check_suite": {
                    "id": 7,
                    "head_sha": head,
                    "head_branch": branch,
                    "pull_requests": prs,
                },
            },
        },
    )


def check_suite_rerequested(
    fake: FakeGitHub, repo: FakeRepo, pr: FakePullRequest, head: str
) -> dict[str, Any]:
    return webhook_conform(
        ("webhook-check-suite-rerequested"),
        {
            **_common(repo),
            "action": "rerequested",
            "check_suite": {
                "id": 7,
                "head_sha": head,
                "head_branch": pr.source,
                "status": "completed",
                "conclusion": "failure",
                "pull_requests": [_pr_ref(repo, pr)],
            },
        },
    )


def installation(action: str = "created") -> dict[str, Any]:
    common = _common(None)
    common["installation"] = {
        "id": int(INSTALLATION_ID),
        "account": _user("acme"),
        "app_id": int(APP_ID),
    }
    body: dict[str, Any] = webhook_conform(
        f"webhook-installation-{action}", {**common, "action": action}
    )
    return body


def ping() -> dict[str, Any]:
    return webhook_conform(
        ("webhook-ping"),
        {
            "zen": "Keep it logically awesome.",
            "hook_id": 12345,
            "hook": {
                "id": 12345,
                "type": "App",
                "active": True,
                "events": ["pull_request"],
                "config": {},
                "app_id": int(APP_ID),
            },
        },
    )


def deliver(
    event: str, payload: dict[str, Any], *, secret: str = SECRET
) -> tuple[dict[str, str], bytes]:
    """Headers and body as GitHub sends them (signed with ``secret``)."""
    body = json.dumps(payload).encode()
    headers = {
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": str(uuid.uuid4()),
        "X-GitHub-Hook-ID": "12345",
        "X-GitHub-Hook-Installation-Target-ID": APP_ID,
        "X-GitHub-Hook-Installation-Target-Type": "integration",
        "User-Agent": "GitHub-Hookshot/044aadd",
        "Content-Type": "application/json",
        "X-Hub-Signature-256": signature_of(secret, body),
    }
    return headers, body
