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
    assert built["base"].startswith("FROM python:3.12-slim")
    commands = {"serve": "serve", "train": "train"{% if cookiecutter.include_drift_detection %}, "drift": "drift"{% endif %}}
    assert set(built) == {"base", *commands}
    assert list(built)[-1] == "serve"  # a plain `docker build .` gives the serving image
    for stage, command in commands.items():
        text = built[stage]
        assert text.startswith("FROM base"), stage
        assert "USER 10001" in text, stage
        serve_lock = REPO / "requirements-serve.lock"  # a serving runtime with pins of its own
        lock = serve_lock.name if stage == "serve" and serve_lock.exists() else "requirements.lock"
        installs = re.findall(rf'pip install .*-c {re.escape(lock)} "\.\[(\w+)\]"', text)
        assert installs == [stage], stage
        assert f'ENTRYPOINT ["{{ cookiecutter.project_slug }}", "{command}"]' in text, stage
