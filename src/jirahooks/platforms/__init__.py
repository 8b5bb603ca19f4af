"""Hosting-platform adapters: webhook → event, fetch PR details and commits, publish a result.

``PLATFORMS`` is the one ordered table of platforms (a test checks ids are unique and every
entry is documented). Adapter modules are imported on demand by ``load``.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class PlatformInfo:
    id: str
    title: str
    module: str
    adapter: str
    docs: str
    webhook_path: str


PLATFORMS: tuple[PlatformInfo, ...] = (
    PlatformInfo(
        id="bitbucket-cloud",
        title="Bitbucket Cloud",
        module="jirahooks.platforms.bitbucket_cloud",
        adapter="BitbucketCloud",
        docs="docs/bitbucket-cloud.md",
        webhook_path="/webhooks/bitbucket/{workspace}",
    ),
    PlatformInfo(
        id="github",
        title="GitHub",
        module="jirahooks.platforms.github",
        adapter="GitHub",
        docs="docs/github.md",
        webhook_path="/webhooks/github/{workspace}",
    ),
    PlatformInfo(
        id="bitbucket-dc",
        title="Bitbucket Data Center",
        module="jirahooks.platforms.bitbucket_dc",
        adapter="BitbucketDataCenter",
        docs="docs/bitbucket-datacenter.md",
        webhook_path="/webhooks/bitbucket-dc/{workspace}",
    ),
    PlatformInfo(
        id="gitlab",
        title="GitLab",
        module="jirahooks.platforms.gitlab",
        adapter="GitLab",
        docs="docs/gitlab.md",
        webhook_path="/webhooks/gitlab/{workspace}",
    ),
)


def get(platform_id: str) -> PlatformInfo:
    for info in PLATFORMS:
        if info.id == platform_id:
            return info
    raise KeyError(platform_id)


def load(platform_id: str) -> Any:
    """The adapter class of a platform (imported now, not at package import)."""
    info = get(platform_id)
    return getattr(importlib.import_module(info.module), info.adapter)
