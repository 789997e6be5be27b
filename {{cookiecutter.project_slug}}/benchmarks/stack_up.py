"""Benchmark of `make up` (`make bench-up`): the whole local stack, from the command to every
service healthy, on a fresh stack (version 1 trained on the way) and on a second start (the
registry kept), each as a user runs it. Prints each service's time and the totals.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TARGET_SECONDS = 40.0


def make(target: str, stack_dir: Path) -> tuple[float, str]:
    env = {**os.environ, "STACK_DIR": str(stack_dir)}
    started = time.monotonic()
    result = subprocess.run(["make", "--silent", target], cwd=REPO, env=env, text=True,
                            capture_output=True, check=False)  # fmt: skip
    if result.returncode != 0:
        raise SystemExit(f"make {target} failed:\n{result.stdout[-3000:]}{result.stderr[-3000:]}")
    return time.monotonic() - started, result.stdout


def main() -> int:
    stack_dir = Path(tempfile.mkdtemp(prefix="bench-up-", dir=REPO))
    try:
        figures = []
        for label in ("fresh stack (trains version 1)", "second start (registry kept)"):
            seconds, output = make("up", stack_dir)
            figures.append((label, seconds))
            print(f"-- make up, {label}")
            print("\n".join(line for line in output.splitlines() if " in " in line))
            make("down", stack_dir)
    finally:
        shutil.rmtree(stack_dir, ignore_errors=True)
    print(f"{'make up':<40} {'seconds':>8}")
    for label, seconds in figures:
        verdict = "within" if seconds <= TARGET_SECONDS else "OVER"
        print(f"{label:<40} {seconds:8.1f}  ({verdict} {TARGET_SECONDS:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
