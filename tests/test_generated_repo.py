"""Slow tier: install a baked repo from scratch and run its own lint and test targets."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from .baking import bake
from .machine import OPTIONAL_TOOLS, env_without

pytestmark = pytest.mark.slow


INCIDENT_STEPS = [
    "first shifted request",
    "drift service reports drift",
    "shifted traffic sent",
    "alert firing in Prometheus",
    "alert reached the retrain receiver",
    "retrained on fresh data",
    "staging delivery merged",
    "promotion pull request opened",
]
# Two steps that run at the same time (the drift service watches while the shifted traffic is
# still being sent): either may be printed first; each must still come once, between the first
# shifted request and the alert.
CONCURRENT_STEPS = ("drift service reports drift", "shifted traffic sent")


def in_listed_order(steps: list[str]) -> list[str]:
    """`steps` with each adjacent pair of the concurrent steps put in INCIDENT_STEPS' order."""
    ordered = list(steps)
    for i in range(len(ordered) - 1):
        if (ordered[i], ordered[i + 1]) == CONCURRENT_STEPS[::-1]:
            ordered[i], ordered[i + 1] = CONCURRENT_STEPS
    return ordered


# A label shift: the inputs stay in distribution, the labels sent for them follow a new rule;
# the quality alert retrains with no window drifting.
LABEL_SHIFT_STEPS = [
    "first shifted request",
    "quality monitor measures a window",
    "alert firing in Prometheus",
    "no input drift meanwhile",
    *INCIDENT_STEPS[-4:],
]
# Two incidents of the same drift alert on one stack (the second one retrains too), then a
# label shift.
LOOP_STEPS = [
    "version served",
    "in-distribution traffic tested",
    *INCIDENT_STEPS,
    "traffic back to normal",
    "alert resolved",
    *INCIDENT_STEPS,
    "traffic back to normal",
    "alert resolved",
    *LABEL_SHIFT_STEPS,
]


def make(root, target: str, timeout: float, env: dict[str, str] | None = None) -> str:
    """`make TARGET` in `root` (outside this venv unless `env` says otherwise); its output."""
    if env is None:
        env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    result = subprocess.run(
        ["make", target], cwd=root, capture_output=True, text=True, timeout=timeout, env=env
    )  # fmt: skip
    assert result.returncode == 0, (
        f"make {target} failed:\n{result.stdout[-6000:]}\n{result.stderr[-4000:]}"
    )
    return result.stdout


# The default runtime stack with tuning on, the open-licence stack (KServe + MLServer,
# Evidently) on GitLab, and a regression model on MLServer on Seldon Core: every generated
# test and the closed loop run on each.
BAKES = {
    "seldon-alibi-tuning": {"hyperparameter_tuning": True},
    "kserve-evidently-gitlab": {
        "serving_runtime": "kserve", "drift_library": "evidently", "ci_provider": "gitlab",
    },
    "seldon-mlserver-regression": {"serving_runtime": "seldon-core-mlserver", "task": "regression"},
}  # fmt: skip


@pytest.mark.parametrize("answers", list(BAKES.values()), ids=list(BAKES))
def test_baked_repo_installs_lints_and_passes_its_own_tests(tmp_path, answers):
    root = bake(tmp_path, **answers)
    # A newcomer's machine: promtool, Prometheus and Alertmanager are not on PATH. The repo's
    # set-up obtains them (links them into .venv/bin) and everything after finds them there.
    env = env_without(tmp_path / "path", OPTIONAL_TOOLS)
    # The template's venv has uv: the bake's install uses it, as a user's machine with uv would.
    if not (tmp_path / "path" / "uv").exists():
        (tmp_path / "path" / "uv").symlink_to(Path(sys.executable).with_name("uv"))
    make(root, "install", timeout=900, env=env)
    assert (root / ".venv" / "bin" / "promtool").exists()
    make(root, "lint", timeout=300, env=env)
    # A guard against a hang, not a target: on two slow cores beside the other half of the
    # slow tier a bake's whole suite has taken 19 minutes.
    make(root, "test", timeout=2400, env=env)
    # the formatter over the fresh bake changed nothing and the tests left no stray state
    assert not (root / ".mlops").exists(), "tests must use their own registry, not the repo's"

    # The closed loop twice, from drift in served traffic to the promotion pull request, then
    # from a drop of quality against ground truth (no drift) to the same pull request.
    output = make(root, "loop-demo", timeout=900, env=env)
    steps = [line.split("] ", 1)[1].split(":")[0] for line in output.splitlines()
             if line.startswith("[") and "] " in line]  # fmt: skip
    assert in_listed_order(steps) == LOOP_STEPS, f"steps {steps} in:\n{output[-5000:]}"
    assert "version 2 registered" in output and '"action": "created"' in output
    assert "version 3 registered" in output and '"action": "updated"' in output
    assert "version 4 registered" in output and "ModelQualityDegraded since" in output
    # A label shift is not drift: at most the detector's false positives, and no drift alert.
    found = re.search(r"no input drift meanwhile: (\d+) of (\d+) windows drifted, "
                      r"ModelDriftDetected not firing", output)  # fmt: skip
    assert found and 2 * int(found[1]) <= int(found[2]), output[-5000:]
    assert "every step ran with no manual step; the stack is stopped" in output
    assert not (root / ".stack-loop-demo" / "stack.json").exists()
    assert not processes_mentioning(root / ".stack-loop-demo"), "the demo left processes running"


def processes_mentioning(path: Path) -> list[str]:
    """Command lines of running processes that name `path` (read from /proc)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if str(path) in text:
            found.append(text)
    return found
