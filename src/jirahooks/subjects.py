"""Merge and revert commits told by their message alone — stdlib ``re`` only (the hook path).

Used only when the parents of a commit are unknown (the Validation API and commit-msg have
messages, not parents). ``jirahooks.gitio`` re-exports these names.
"""

from __future__ import annotations

import re

# Subjects git and the hosting platforms write for merge and revert commits. Used only when the
# parents of a commit are unknown (the Validation API and commit-msg have messages, not parents).
_MERGE_SUBJECT = re.compile(
    r"^(?:Merge (?:branch|branches|remote-tracking branch|tag|pull request|commit)\b"
    r"|Merged in \S+|Merge [0-9a-f]{7,40} into [0-9a-f]{7,40})"
)
_REVERT_SUBJECT = re.compile(r'^Revert "')


def subject_of(message: str) -> str:
    return message.split("\n", 1)[0].strip()


def is_merge_subject(subject: str) -> bool:
    """A merge commit's subject as git or a hosting platform writes it."""
    return bool(_MERGE_SUBJECT.match(subject))


def is_revert_message(message: str) -> bool:
    """A revert commit's message as ``git revert`` writes it."""
    return bool(_REVERT_SUBJECT.match(subject_of(message))) or "This reverts commit " in message
