"""``python -m bottleneck``: the command line of :mod:`bottleneck.app.cli` (default: the demo)."""

from __future__ import annotations

import sys

from .app.cli import main

if __name__ == "__main__":
    sys.exit(main())
