"""jirahooks — a Process Guardian for git.

Finds Jira issue keys in branch names, commit messages and pull requests, resolves them against
Jira, applies compliance rules and blocks or passes the change. Importing this package is cheap:
nothing happens at import time, and heavy modules load only in the commands that need them.
"""

from __future__ import annotations

__version__ = "0.1.0.dev0"
