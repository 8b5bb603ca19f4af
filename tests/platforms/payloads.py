"""Bitbucket Cloud webhook deliveries for tests and benchmarks, shaped like captured ones.

Like real deliveries (docs/external-apis.md): 12-character ``source.commit.hash`` /
``destination.commit.hash`` in PR events, ``repository.name`` a display name (the slug is in
``full_name``), accounts without ``username``, nulls (``merge_commit``, ``closed_by``) and extra
keys; ``repo:push`` with full hashes and at most 5 commits per change (``truncated``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from typing import Any

from tests.fakes.fake_bitbucket import FakeBitbucket, FakePullRequest, FakeRepo, account


def sign(secret: str, body: bytes) -> str:
    """``X-Hub-Signature`` as Bitbucket sends it (not GitHub's ``-256`` header)."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def headers(
    event_key: str,
    body: bytes,
    *,
    secret: str = "",
    request_id: str = "",
    hook_id: str = "{2f6bd5ae-6e40-4d49-9a4c-5c0f6f8b7c11}",
    attempt: int = 1,
) -> dict[str, str]:
    out = {
        "Content-Type": "application/json",
        "User-Agent": "Bitbucket-Webhooks/2.0",
        "X-Event-Key": event_key,
        "X-Hook-UUID": hook_id,
        "X-Request-UUID": request_id or str(uuid.uuid4()),
        "X-Attempt-Number": str(attempt),
        "X-Event-Time": "Wed, 01 Jan 2026 12:00:00 GMT",
    }
    if secret:
        out["X-Hub-Signature"] = sign(secret, body)
    return out


def repository(fake: FakeBitbucket, repo: FakeRepo) -> dict[str, Any]:
    return {
        **fake.repo_json(repo),
        "workspace": {"type": "workspace", "slug": repo.workspace, "name": repo.workspace.title()},
        "project": {"type": "project", "key": "PROJ", "name": "Project"},
        "is_private": True,
        "scm": "git",
        "website": None,
    }


def pull_request_body(
    fake: FakeBitbucket, repo: FakeRepo, pr: FakePullRequest, *, actor: str = "Ada Tester"
) -> dict[str, Any]:
    data = fake.pr_json(repo, pr)
    data["reviewers"] = []
    data["participants"] = []
    data["draft"] = False
    data["some_new_field"] = {"nested": [1, None]}
    return {
        "actor": account(actor),
        "pullrequest": data,
        "repository": repository(fake, repo),
    }


def pull_request_event(
    fake: FakeBitbucket,
    repo: FakeRepo,
    pr: FakePullRequest,
    event_key: str = "pullrequest:created",
    *,
    secret: str = "",
    request_id: str = "",
    attempt: int = 1,
) -> tuple[dict[str, str], bytes]:
    body = json.dumps(pull_request_body(fake, repo, pr)).encode()
    return headers(event_key, body, secret=secret, request_id=request_id, attempt=attempt), body


def push_event(
    fake: FakeBitbucket,
    repo: FakeRepo,
    branch: str,
    commits: list[str],
    *,
    secret: str = "",
    request_id: str = "",
) -> tuple[dict[str, str], bytes]:
    """``repo:push`` for ``branch`` whose new commits are ``commits`` (full hashes, oldest
    first); the change lists the newest 5 and says ``truncated`` beyond that."""
    newest_first = [fake.commit_json(repo, repo.commits[h]) for h in reversed(commits)]
    change = {
        "new": {
            "type": "branch",
            "name": branch,
            "target": newest_first[0] if newest_first else None,
        },
        "old": None,
        "created": True,
        "forced": False,
        "closed": False,
        "truncated": len(newest_first) > 5,
        "commits": newest_first[:5],
        "links": {},
    }
    payload = {
        "actor": account("Ada Tester"),
        "repository": repository(fake, repo),
        "push": {"changes": [change]},
    }
    body = json.dumps(payload).encode()
    return headers("repo:push", body, secret=secret, request_id=request_id), body
