"""The admin API (mounted under ``/api/v1``): one router per resource, in one ordered table."""

from __future__ import annotations

from fastapi import APIRouter

from jirahooks.server.admin import (
    connections,
    evaluations,
    evidence,
    repositories,
    rules,
    ruleset,
    tokens,
    users,
)

ROUTERS: tuple[APIRouter, ...] = (
    users.router,
    repositories.router,
    connections.router,
    rules.router,
    ruleset.router,
    tokens.router,
    evaluations.router,
    evidence.router,
)
