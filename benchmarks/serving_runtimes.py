"""The serving benchmark of both runtimes, side by side in one run: Seldon Core and KServe
(MLServer).

Bakes a model repo per `serving_runtime` into build/bench-runtimes/, installs each
(`make install`), runs each one's `make bench-serving` in turn on the same machine (one
trained model, a tansu broker, Kafka logging off then on, each server with its defaults) and
prints both tables, then the KServe / Seldon ratios of the figures that matter.
Usage: make bench-runtimes (traffic goes to 127.0.0.1 only).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from baking import ROOT, bake

RUNTIMES = ("seldon-core", "kserve")
ROW = re.compile(r"^(logging on|logging off)\s+(\d+)\s+([\d.]+)ms\s+([\d.]+)ms\s+(\d+)")


def run(repo: Path, target: str) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    result = subprocess.run(["make", target], cwd=repo, env=env, capture_output=True, text=True,
                            timeout=3600, check=False)  # fmt: skip
    if result.returncode != 0:
        raise SystemExit(f"{repo.name}: make {target} failed:\n{result.stdout[-3000:]}"
                         f"{result.stderr[-3000:]}")  # fmt: skip
    return result.stdout


def figures(table: str) -> dict[str, tuple[float, float, float, float]]:
    """(c1 req/s, c1 p50 ms, c1 p99 ms, c8 req/s) per 'logging on/off' row."""
    rows = {}
    for line in table.splitlines():
        match = ROW.match(line.strip())
        if match:
            rows[match[1]] = tuple(float(g) for g in match.groups()[1:])
    return rows


def main() -> int:
    folder = ROOT / "build" / "bench-runtimes"
    tables = {}
    for runtime in RUNTIMES:
        output = folder / runtime
        shutil.rmtree(output / "iris-classifier" / ".stack", ignore_errors=True)
        venvs = {}
        repo = output / "iris-classifier"
        for venv in (".venv", ".venv-serve"):  # keep installed environments between runs
            if (repo / venv).exists():
                venvs[venv] = output / f"{venv}.keep"
                (repo / venv).rename(venvs[venv])
        shutil.rmtree(repo, ignore_errors=True)
        repo = bake(output, serving_runtime=runtime)
        for venv, kept in venvs.items():
            kept.rename(repo / venv)
        run(repo, "install")
        print(f"== {runtime}: make bench-serving", flush=True)
        tables[runtime] = run(repo, "bench-serving")
    for runtime, table in tables.items():
        print(f"\n### serving_runtime={runtime}\n{table.strip()}")
    seldon, kserve = figures(tables["seldon-core"]), figures(tables["kserve"])
    print("\n### KServe (MLServer) against Seldon Core, same machine, same run")
    print(f"{'':<14}{'c1 req/s':>12}{'c1 p99':>12}{'c8 req/s':>12}")
    for label in ("logging off", "logging on"):
        s, k = seldon[label], kserve[label]
        print(f"{label:<14}{k[0] / s[0]:>12.0%}{k[2] / s[2]:>12.0%}{k[3] / s[3]:>12.0%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
