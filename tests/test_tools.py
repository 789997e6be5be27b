"""Slow tier: on a machine without the tools no Python package ships (promtool, Prometheus,
Alertmanager, amtool) and with no way to install them, the set-up of the template and of a
generated repo stops at once, before any virtualenv or test, with one line naming the exact
command. (With a package manager they are obtained: test_generated_repo installs both bakes
with those tools absent from PATH and runs their suites.)"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest

from .baking import ROOT, bake
from .machine import OPTIONAL_TOOLS, PACKAGE_MANAGERS, env_without

pytestmark = pytest.mark.slow

EXPECTED = (
    "error: promtool prometheus alertmanager amtool missing; "
    "run: apt-get install -y prometheus prometheus-alertmanager"
)


def run_make(
    root: Path, target: str, env: dict[str, str]
) -> tuple[subprocess.CompletedProcess, float]:
    started = time.monotonic()
    result = subprocess.run(["make", target], cwd=root, env=env, capture_output=True, text=True,
                            timeout=120, check=False)  # fmt: skip
    return result, time.monotonic() - started


def template_copy(tmp_path: Path) -> Path:
    """The template's committed files, without its .venv (so nothing is installed yet)."""
    listed = ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"]
    files = subprocess.run(listed, cwd=ROOT, capture_output=True, check=True).stdout.decode()
    copy = tmp_path / "template"
    for name in filter(None, files.split("\0")):
        if (ROOT / name).is_file():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, copy / name)
    return copy


@pytest.fixture
def bare_machine(tmp_path) -> dict[str, str]:
    if not Path("/etc/debian_version").exists():
        pytest.skip("the exact command asserted here is Debian's")
    return env_without(tmp_path / "bin", OPTIONAL_TOOLS | PACKAGE_MANAGERS)


@pytest.mark.parametrize("target", ["install", "test"])
def test_a_generated_repo_stops_at_once_naming_the_command(tmp_path, bare_machine, target):
    root = bake(tmp_path)
    result, seconds = run_make(root, target, bare_machine)
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == [EXPECTED], result.stderr
    assert seconds < 10, f"make {target} took {seconds:.1f} s to stop"
    assert not (root / ".venv").exists(), "the virtualenv was made before the check"
    assert ".venv/bin/pytest" not in result.stdout, "the suite started"


def test_the_template_stops_at_once_naming_the_command(tmp_path, bare_machine):
    copy = template_copy(tmp_path)
    result, seconds = run_make(copy, "test", bare_machine)
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == [EXPECTED], result.stderr
    assert seconds < 10 and not (copy / ".venv").exists()


def test_a_missing_required_tool_is_named_with_how_to_get_it(tmp_path):
    root = bake(tmp_path)
    env = env_without(tmp_path / "bin", frozenset({"kubectl"}))
    result, seconds = run_make(root, "install", env)
    assert result.returncode != 0 and seconds < 10
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == [
        "error: kubectl is needed and not on PATH: install kubectl 1.30 or newer "
        "(https://kubernetes.io/docs/tasks/tools/)"
    ], result.stderr
