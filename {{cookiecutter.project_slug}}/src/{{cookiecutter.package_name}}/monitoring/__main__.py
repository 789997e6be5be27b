"""`python -m <package>.monitoring [--root DIR]`: regenerate the monitoring files."""

from __future__ import annotations

import argparse
from pathlib import Path

from . import write


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--root", type=Path, default=Path("."), help="the repo root")
    args = parser.parse_args()
    changed = write(args.root)
    print("\n".join(f"wrote {path}" for path in changed) or "the monitoring files are up to date")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
