"""The template's own Python (both templates' hooks, the tests, scripts and benchmarks) is as
`make lint` wants it: CI runs `make test` only, so this is where a lint slip fails."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from .baking import ROOT

OWN_CODE = ["hooks", "platform/hooks", "tests", "scripts", "benchmarks"]


@pytest.mark.parametrize("command", [["check"], ["format", "--check", "--diff"]],
                         ids=["check", "format"])  # fmt: skip
def test_the_templates_own_code_is_lint_clean(command):
    ruff = str(Path(sys.executable).with_name("ruff"))
    done = subprocess.run([ruff, *command, "--no-cache", *OWN_CODE], cwd=ROOT,
                          capture_output=True, text=True, check=False)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
