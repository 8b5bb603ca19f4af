"""The Process Guardian engine: pure, batched, in the Validation API vocabulary."""

from __future__ import annotations

from jirahooks.engine.core import evaluate
from jirahooks.engine.facts import Evaluation, Fact, RuleValidation, Status
from jirahooks.engine.resolver import (
    ConnectionProblem,
    InMemoryResolver,
    IssueData,
    OfflineResolver,
    Resolver,
)

__all__ = [
    "ConnectionProblem",
    "Evaluation",
    "Fact",
    "InMemoryResolver",
    "IssueData",
    "OfflineResolver",
    "Resolver",
    "RuleValidation",
    "Status",
    "evaluate",
]
