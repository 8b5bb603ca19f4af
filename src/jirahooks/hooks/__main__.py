"""``python -m jirahooks.hooks [OPTIONS] HOOK ARGS…``: what the installed hook scripts run.

The light entry point of the client hooks (``jirahooks.hooks.entry``); the same options and
behaviour as ``jirahooks hook``, without loading the full command line.
"""

from __future__ import annotations

import sys

from jirahooks.hooks.entry import main

if __name__ == "__main__":
    sys.exit(main())
