"""The image definitions: lint-clean, non-root, each with only its own dependencies."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_dockerfile_passes_hadolint():
    hadolint = Path(sys.executable).with_name("hadolint")
    result = subprocess.run(
        [str(hadolint), "--failure-threshold", "info", "Dockerfile"],
        cwd=REPO, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def stages() -> dict[str, str]:
    """The Dockerfile's build stages by name, each with its text."""
    text = (REPO / "Dockerfile").read_text()
    parts = re.split(r"^FROM (\S+) AS (\S+)$", text, flags=re.MULTILINE)
    return {parts[i + 1]: f"FROM {parts[i]}\n{parts[i + 2]}" for i in range(1, len(parts), 3)}


def test_each_image_runs_its_command_as_a_non_root_user_with_only_its_dependencies():
    built = stages()
    # the base by digest, named once (ARG BASE_IMAGE), so a new digest is a one-line change
    pinned = re.findall(r"^ARG BASE_IMAGE=(\S+)$", (REPO / "Dockerfile").read_text(), re.M)
    assert len(pinned) == 1 and re.fullmatch(r"python:3\.12-slim@sha256:[0-9a-f]{64}", pinned[0])
    assert built["base"].startswith("FROM ${BASE_IMAGE}")
    commands = {"serve": "serve", "train": "train"{% if cookiecutter.include_drift_detection %}, "drift": "drift"{% endif %}}
    assert set(built) == {"base", *commands}
    assert list(built)[-1] == "serve"  # a plain `docker build .` gives the serving image
    for stage, command in commands.items():
        text = built[stage]
        assert text.startswith("FROM base"), stage
        assert "USER 10001" in text, stage
        serve_lock = REPO / "requirements-serve.lock"  # a serving runtime with pins of its own
        lock = serve_lock.name if stage == "serve" and serve_lock.exists() else "requirements.lock"
        # Its part of the lock (hashes checked), then the package alone, after the code:
        # a change to the code leaves the dependency layer as it was.
        installs = re.findall(rf"RUN python install-image-deps {re.escape(lock)} (\w+)\b", text)
        assert installs == [stage], stage
        package = "RUN pip install --no-compile --no-deps --no-build-isolation ."
        order = [text.index(f"install-image-deps {lock}"), text.index("COPY src"),
                 text.index(package)]  # fmt: skip
        assert order == sorted(order), stage
        # Prefect's worker runs the training image with arguments of its own: they replace a
        # CMD, they would be appended to an ENTRYPOINT.
        instruction = "CMD" if stage == "train" else "ENTRYPOINT"
        assert f'{instruction} ["{{ cookiecutter.project_slug }}", "{command}"]' in text, stage
        assert ("ENTRYPOINT" in text) == (stage != "train"), stage


def test_every_pin_of_every_lock_has_the_hashes_of_its_files():
    for lock in REPO.glob("requirements*.lock"):
        entries = re.split(r"\n(?=[A-Za-z0-9])", lock.read_text().split("\n", 1)[1])
        pins = [e for e in entries if not e.startswith("#")]
        assert pins, lock.name
        unhashed = [e.split()[0] for e in pins if "--hash=sha256:" not in e]
        assert not unhashed, f"{lock.name}: no hashes for {unhashed}"


def install_image_deps(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / "scripts" / "install-image-deps"), *args],
                          cwd=REPO, capture_output=True, text=True, check=False)  # fmt: skip


def test_image_dependencies_name_what_is_wrong(tmp_path):
    result = install_image_deps("requirements.lock", "nope")
    assert result.returncode != 0
    assert "no extra 'nope'" in result.stderr and "serve" in result.stderr
    # A lock that lacks a package the image needs: named, before anything is installed.
    (tmp_path / "pyproject.toml").write_text((REPO / "pyproject.toml").read_text())
    (tmp_path / "requirements.lock").write_text("# nothing pinned\n")
    result = install_image_deps(str(tmp_path / "requirements.lock"), "serve")
    assert result.returncode != 0
    assert "the lock pins no packaging: run make lock" in result.stderr
