"""Benchmark of the closed loop (`make bench-loop`): from the first shifted request served to
the promotion pull request, on the local stack, and where that time goes.

Runs the loop demo once (a fresh stack, version 1, in-distribution then shifted traffic, one
incident) and prints the total and each step's share. The alerts' `for:` is the local
stack's (10 s by default; production's PrometheusRule says 15 minutes): that wait is part of
the figure.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))

import loop_demo  # noqa: E402


def main() -> int:
    started = time.time()
    steps = loop_demo.run(REPO / ".stack-bench-loop", timeout=300, incidents=1)
    ended = time.time()
    print(loop_demo.summary(steps))
    up, down = steps[0].at - started, ended - steps[-1].at
    print(f"before the loop, make up (every process, version 1 trained and served): {up:.1f} s")
    print(f"after it, make down: {down:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
