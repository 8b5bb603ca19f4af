"""``python -m jirahooks``."""

from __future__ import annotations

import sys

from jirahooks.cli import main

if __name__ == "__main__":
    sys.exit(main())
