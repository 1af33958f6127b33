"""``python -m bottleneck``: the command line of :mod:`bottleneck.cli` (default: the demo)."""

from __future__ import annotations

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
