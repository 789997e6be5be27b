"""Batch scoring throughput and memory, next to the model's in-process prediction of the same
rows.

Usage: make bench-scoring   (or `python benchmarks/batch_scoring.py`)
Writes Parquet tables of 100,000, 1,000,000 and 3,000,000 rows (row groups of 122,880 rows,
as common writers make them), then times, in alternating fresh processes:
  floor  the whole table already in memory, one prediction over it (the model alone:
         `tasks.task.outputs`, what the servers and scoring answer);
  ours   `scoring.score_table`: read, check, score and write the table in chunks, as the
         flow `score-<model>` does once the model is loaded (the registry and Prefect's run
         add a few seconds per run, whatever the table's size).
Prints the median rows/s of each, their ratio and each process's peak RSS. Targets: ours at
least 50 % of the floor's rows/s at 1,000,000 rows, and memory that follows the chunk, not
the table: tripling the table from 1,000,000 rows adds at most 16 MiB to our peak RSS (the
floor's grows with the table; ours is flat once a few chunks are in flight: from 100,000 to
1,000,000 rows it rises to that level).
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SIZES = (100_000, 1_000_000, 3_000_000)
ROUNDS = {100_000: 3, 1_000_000: 5, 3_000_000: 2}
THROUGHPUT_SIZE = 1_000_000
ROW_GROUP = 122_880
TARGET_RATIO = 0.5
TARGET_MEMORY_GROWTH_MIB = 16


def fitted_model():
    from {{ cookiecutter.package_name }}.data import FEATURES, TARGET, load_dataset
    from {{ cookiecutter.package_name }}.model import build_model

    frame = load_dataset()
    return build_model(0).fit(frame[list(FEATURES)].to_numpy(), frame[TARGET].to_numpy())


def write_table(path: Path, rows: int) -> None:
    """`rows` rows around the dataset's (noise added, so no two are equal), with an id."""
    import numpy as np

    from {{ cookiecutter.package_name }}.data import FEATURES, load_dataset

    frame = load_dataset()[list(FEATURES)].sample(n=rows, replace=True, random_state=1)
    noise = np.random.default_rng(1).normal(0, 0.05, frame.shape)
    frame = (frame + noise).reset_index(drop=True).assign(row_id=np.arange(rows))
    frame.to_parquet(path, index=False, row_group_size=ROW_GROUP)


def peak_rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def child(mode: str, source: str, output: str) -> None:
    """One measurement in this fresh process; prints its JSON."""
    import pyarrow.parquet

    from {{ cookiecutter.package_name }}.data import FEATURES, Table
    from {{ cookiecutter.package_name }}.scoring import AtomicParquet, LoadedModel, score_table
    from {{ cookiecutter.package_name }}.settings import SCORING_CHUNK_ROWS
    from {{ cookiecutter.package_name }}.tasks import task

    model = fitted_model()
    if mode == "floor":
        matrix = pyarrow.parquet.read_table(source, columns=list(FEATURES)).to_pandas().to_numpy()
        started = time.perf_counter()
        task.outputs(model, matrix)
        seconds = time.perf_counter() - started
        rows = len(matrix)
    else:
        loaded = LoadedModel(model, "1", task.output_names(model))
        started = time.perf_counter()
        rows = score_table(Table(source, "input", SCORING_CHUNK_ROWS), loaded,
                           AtomicParquet(output), run_id="bench")  # fmt: skip
        seconds = time.perf_counter() - started
        Path(output).unlink()
    print(json.dumps({"rows": rows, "seconds": seconds, "peak_rss_mib": peak_rss_mib()}))


def measure(mode: str, source: Path, folder: Path) -> dict:
    done = subprocess.run(
        [sys.executable, __file__, "--child", mode, str(source), str(folder / "out.parquet")],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"{mode} on {source.name} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    results: dict[tuple[str, int], list[dict]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for rows in SIZES:
            source = folder / f"table-{rows}.parquet"
            write_table(source, rows)
            for _ in range(ROUNDS[rows]):  # interleaved: both see the same machine state
                for mode in ("floor", "ours"):
                    results.setdefault((mode, rows), []).append(measure(mode, source, folder))

    def rate(mode: str, rows: int) -> float:
        return statistics.median(r["rows"] / r["seconds"] for r in results[(mode, rows)])

    def peak(mode: str, rows: int) -> float:
        return max(r["peak_rss_mib"] for r in results[(mode, rows)])

    print(f"{'rows':>10} {'floor rows/s':>14} {'ours rows/s':>13} {'ratio':>6} "
          f"{'floor peak MiB':>15} {'ours peak MiB':>14}")  # fmt: skip
    for rows in SIZES:
        print(f"{rows:>10,} {rate('floor', rows):>14,.0f} {rate('ours', rows):>13,.0f} "
              f"{rate('ours', rows) / rate('floor', rows):>6.2f} {peak('floor', rows):>15.0f} "
              f"{peak('ours', rows):>14.0f}")  # fmt: skip
    ratio = rate("ours", THROUGHPUT_SIZE) / rate("floor", THROUGHPUT_SIZE)
    growth = peak("ours", SIZES[-1]) - peak("ours", THROUGHPUT_SIZE)
    verdict = "meets" if ratio >= TARGET_RATIO else "MISSES"
    print(f"throughput at {THROUGHPUT_SIZE:,} rows: {ratio:.0%} of the floor "
          f"({verdict} the {TARGET_RATIO:.0%} target)")  # fmt: skip
    print(f"our peak RSS growth from {THROUGHPUT_SIZE:,} to {SIZES[-1]:,} rows: {growth:.0f} MiB "
          f"({'meets' if growth <= TARGET_MEMORY_GROWTH_MIB else 'MISSES'} the "
          f"{TARGET_MEMORY_GROWTH_MIB} MiB target)")  # fmt: skip
    return 0 if ratio >= TARGET_RATIO and growth <= TARGET_MEMORY_GROWTH_MIB else 1


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(*sys.argv[2:5])
    else:
        sys.exit(main())
