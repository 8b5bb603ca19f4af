"""Words the benchmarks build commit messages from (one list, so every benchmark's corpus is the
same kind of text). Imported as ``_corpus`` by scripts run as ``python benchmarks/<name>.py``."""

from __future__ import annotations

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
    "tests",
    "build",
]
# A wider vocabulary for the longer bodies of the Jira-budget benchmark.
MORE_WORDS = [
    *WORDS,
    "flaky",
    "migration",
    "endpoint",
    "null",
    "check",
    "rename",
    "bump",
    "dependency",
    "handle",
    "error",
]
