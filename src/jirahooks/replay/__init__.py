"""Replaying a rule set over an existing history: what the rules would have blocked.

``history`` turns a git range into changes (every commit, every first-parent push, every merged
pull request); ``run`` evaluates them all with one batched Jira pass and sums the verdicts up;
``report`` renders the summary as data and text, ``html`` as a self-contained page with charts;
``remote`` reads a repository's rule set from a jirahooks server; ``stored`` replays the
evaluations a server already stored (the web UI's "try these rules"). The command is
``jirahooks replay`` (``jirahooks.cli.replay``).
"""
