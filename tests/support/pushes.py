"""Real-length commit messages and Validation API pushes of any size, for tests and benchmarks.

A message has what real ones have: a subject of 30–70 characters (most with an issue key), a
body of one to four wrapped paragraphs and, often, trailers — about 500 bytes on average, so a
push of 100,000 commits is ~55 MB of JSON, as the published client sends it. Words are made of
syllables, not drawn from a short list, so the text compresses about as well as real prose (~3×).
Deterministic for a seed.
"""

from __future__ import annotations

import functools
import json
import random
import textwrap
from typing import Any

PROJECTS = ("ABC", "PAY", "WEB", "OPS")
_SYLLABLE_TEXT = "ka ro mi ne tu la pe so vi da gre fin top lex mor han qui bel cor ust ing ent"
_SYLLABLES = tuple(f"{_SYLLABLE_TEXT} ter con pro mat ser ver log ach".split())
_VERBS = ("Fix", "Add", "Remove", "Refactor", "Update", "Handle", "Document", "Test")
_POOL = 2003  # distinct bodies; more than fit in gzip's 32 KB window


def _word(rng: random.Random) -> str:
    return "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(1, 3)))


def _sentence(rng: random.Random, words: int) -> str:
    return " ".join(_word(rng) for _ in range(words))


@functools.cache
def _bodies(seed: int) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """A pool of message bodies and subjects (making each message afresh is ~10× slower)."""
    rng = random.Random(seed)
    bodies = []
    for _ in range(_POOL):
        paragraphs = [
            textwrap.fill(_sentence(rng, rng.randint(12, 40)) + ".", 72)
            for _ in range(rng.randint(1, 4))
        ]
        if rng.random() < 0.6:
            paragraphs.append("Signed-off-by: Ada Lovelace <ada@example.com>")
        bodies.append("\n\n".join(paragraphs))
    subjects = [f"{rng.choice(_VERBS)} {_sentence(rng, rng.randint(3, 7))}" for _ in range(_POOL)]
    return tuple(bodies), tuple(subjects)


def message(i: int, *, key: bool = True, seed: int = 11) -> str:
    """A real-length commit message; with ``key`` its subject starts with an issue key."""
    bodies, subjects = _bodies(seed)
    subject = subjects[(i * 7919) % _POOL]
    if key:
        subject = f"{PROJECTS[i % len(PROJECTS)]}-{i % 5000 + 1} {subject}"
    return f"{subject} (change {i})\n\n{bodies[(i * 104729) % _POOL]}"


def commits(
    count: int, *, failing_every: int = 0, seed: int = 11, start: int = 0
) -> list[dict[str, str]]:
    """``count`` commits as the hook clients send them; every ``failing_every``-th one (0:
    none) has no issue key."""
    return [
        {
            "hash": f"{i + 1:040x}",
            "message": message(i, key=not (failing_every and i % failing_every == 0), seed=seed),
            "authorDisplayName": "Ada Lovelace",
        }
        for i in range(start, start + count)
    ]


def push(commit_list: list[dict[str, str]], branch: str = "feature/ABC-1-big") -> dict[str, Any]:
    return {"triggerType": "PUSH", "branchName": branch, "commits": commit_list, "locale": "en-US"}


def compact(payload: Any) -> bytes:
    """The body exactly as the published client sends it (non-ASCII as \\uXXXX)."""
    return json.dumps(payload, separators=(",", ":")).encode("ascii")
