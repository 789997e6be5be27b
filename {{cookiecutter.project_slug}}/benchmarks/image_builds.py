"""Build times and sizes of the images, beside the plain way of building the serving image.

For every Dockerfile target, in a copy of the repo (this checkout is never touched), with
buildah (docker's layer sizes are not comparable) in a storage of its own that holds only
the base image at first (so nothing built before is reused, and nothing is left behind):
- cold: the first build of the target (the targets share the base stage, as in CI);
- rebuild: the build again after a one-line change to the code (the layer cache in use);
- size: the image, and the part of it above the base image (the layers the build added).
The anchor is the serving image built the plain way: the repo copied, then the serve extra
installed with the full mlflow package (as this Dockerfile did before it installed each
image's part of the lock, hashes checked, before the code).
Targets: a code-only rebuild of serve under 15 s; serve above its base at most 60 % of the
anchor's. Exit 1 if one is missed.
Usage: make bench-images
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from {{ cookiecutter.package_name }}.devstack import images  # noqa: E402

REBUILD_TARGET = 15.0
SIZE_TARGET = 0.60
ANCHOR = """\
FROM {base}
WORKDIR /app
COPY . .
RUN pip install --no-compile -c constraints.txt ".[serve]" "{mlflow}"
"""


def plain_constraints(lock: Path) -> str:
    """The lock's pins without their hashes (as constraints, the plain way of installing)."""
    pins = re.findall(r"^([A-Za-z0-9][^\s\\]*(?: ;[^\\\n]*)?)", lock.read_text(), re.MULTILINE)
    return "\n".join(pin.strip() for pin in pins) + "\n"


def layers(buildah: list[str], tag: str) -> list[tuple[str, int]]:
    """(digest, uncompressed size) of each layer of a local image."""
    out = subprocess.run([*buildah, "inspect", "--type", "image", tag], capture_output=True,
                         text=True, check=True).stdout  # fmt: skip
    manifest = json.loads(json.loads(out)["Manifest"])
    return [(layer["digest"], layer["size"]) for layer in manifest["layers"]]


def sizes(buildah: list[str], tag: str, base: str) -> tuple[int, int]:
    """(the image's size, its size above the base image) in bytes."""
    own = layers(buildah, tag)
    below = {digest for digest, _ in layers(buildah, base)}
    return sum(size for _, size in own), sum(size for d, size in own if d not in below)


def timed_build(buildah: list[str], root: Path, target: str | None, tag: str,
                *extra: str) -> float:  # fmt: skip
    command = [*buildah, "bud", "--layers", "--isolation", "chroot", *extra, "-t", tag]
    command += ["--target", target] if target else []
    started = time.perf_counter()
    result = subprocess.run([*command, "."], cwd=root, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"building {target or 'the anchor'} failed:\n{result.stderr[-3000:]}")
    return time.perf_counter() - started


def copy_of_repo(into: Path) -> Path:
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"],
                            cwd=REPO, capture_output=True, text=True)  # fmt: skip
    files = listed.stdout.split() if listed.returncode == 0 else None
    root = into / "repo"
    if files is None:  # not a git checkout
        shutil.copytree(REPO, root, ignore=shutil.ignore_patterns(".venv*", ".mlops", ".stack*"))
        return root
    for name in files:
        if (REPO / name).is_file():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, root / name)
    return root


def main() -> int:
    tool = images.buildah_for_pods() or shutil.which("buildah")
    if tool is None:
        raise SystemExit("bench-images needs buildah: make image-tools")
    base = images.ensure_base(tool)
    rows, failed = [], False
    with tempfile.TemporaryDirectory(prefix="bench-images-") as work:
        storage, run = Path(work) / "storage", Path(work) / "run"
        buildah = [tool, "--root", str(storage), "--runroot", str(run)]
        subprocess.run([tool, "push", "--quiet", base,
                        f"containers-storage:[overlay@{storage}+{run}]{base}"],
                       check=True, capture_output=True)  # fmt: skip
        try:
            failed = measure(buildah, base, copy_of_repo(Path(work)), rows)
        finally:
            subprocess.run([*buildah, "rm", "--all"], capture_output=True)
            subprocess.run([*buildah, "rmi", "--all", "--force"], capture_output=True)
    return 1 if failed else 0


def measure(buildah: list[str], base: str, root: Path, rows: list) -> bool:
    """Build and measure every target and the anchor into `rows`; True if a target is missed."""
    failed = False
    mlflow = re.search(r'"(mlflow==[^"]+)"', (root / "pyproject.toml").read_text())[1]
    (root / "Dockerfile.anchor").write_text(ANCHOR.format(base=base, mlflow=mlflow))
    (root / "constraints.txt").write_text(plain_constraints(root / "requirements.lock"))
    anchor_seconds = timed_build(buildah, root, None, "localhost/bench-anchor:serve",
                                 "-f", "Dockerfile.anchor")  # fmt: skip
    anchor_size, anchor_above = sizes(buildah, "localhost/bench-anchor:serve", base)
    rows.append(("serve, plain (anchor)", anchor_seconds, None, anchor_size, anchor_above))
    code = next((root / "src").glob("*/settings.py"))
    for target in images.stages(root / "Dockerfile"):
        tag = f"localhost/bench-{target}:cold"
        cold = timed_build(buildah, root, target, tag, *images.base_args(base))
        code.write_text(code.read_text() + f"# a one-line change ({target})\n")
        rebuild = timed_build(buildah, root, target, tag, *images.base_args(base))
        total, above = sizes(buildah, tag, base)
        rows.append((target, cold, rebuild, total, above))
    base_size = sizes(buildah, base, base)[0]
    print(f"\n### image builds (buildah, base {base}: {base_size / 1e6:.0f} MB)")
    print(f"{'image':24} {'cold':>8} {'rebuild':>8} {'size':>9} {'above base':>11}")
    for name, cold, rebuild, total, above in rows:
        again = f"{rebuild:7.1f}s" if rebuild is not None else "       -"
        print(f"{name:24} {cold:7.1f}s {again} {total / 1e6:6.0f} MB {above / 1e6:8.0f} MB")
    serve = next(row for row in rows if row[0] == "serve")
    ratio = serve[4] / anchor_above
    for label, ok in ((f"serve rebuild after a code change {serve[2]:.1f} s < {REBUILD_TARGET:g} s",
                       serve[2] < REBUILD_TARGET),
                      (f"serve above its base {ratio:.0%} of the anchor's <= {SIZE_TARGET:.0%}",
                       ratio <= SIZE_TARGET)):  # fmt: skip
        print(f"{label}: {'PASS' if ok else 'FAIL'}")
        failed |= not ok
    return failed


if __name__ == "__main__":
    sys.exit(main())
