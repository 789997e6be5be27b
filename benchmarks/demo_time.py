"""Time the demo from bake to the first successful prediction (target: <= 40 s).

Run it twice: the first run warms the package cache (uv), the second is the figure.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))

from demo import ROOT, run_demo

TARGET_SECONDS = 40.0


def main() -> int:
    timings = run_demo(ROOT / "build" / "bench", report=lambda _: None)
    to_prediction = sum(seconds for name, seconds in timings)
    print(f"{'step':<60} {'seconds':>8}")
    for name, seconds in timings:
        print(f"{name[:60]:<60} {seconds:8.1f}")
    verdict = "within" if to_prediction <= TARGET_SECONDS else "OVER"
    print(
        f"{'bake -> first prediction':<60} {to_prediction:8.1f}  ({verdict} {TARGET_SECONDS:.0f} s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
