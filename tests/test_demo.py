"""Slow tier: the README's first command, `make demo`, works end to end with no servers."""

from __future__ import annotations

import pytest

from scripts.demo import run_demo

pytestmark = pytest.mark.slow


def test_demo_trains_serves_predicts_and_stops(tmp_path):
    lines: list[str] = []
    timings = run_demo(tmp_path, report=lines.append, bytecode_cache=None)
    steps = [name for name, _ in timings]
    assert steps[0].startswith("baked")
    assert any(step.startswith("trained and registered version 1") for step in steps)
    assert steps[-1] == "first prediction answered"
    output = "\n".join(lines)
    assert '"ndarray"' in output and "model_version" in output
    assert "model server stopped" in lines[-1]
    assert (tmp_path / "iris-classifier" / ".mlops" / "mlflow.db").exists()
