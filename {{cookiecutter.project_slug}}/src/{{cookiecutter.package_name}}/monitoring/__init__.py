"""The monitoring files generated from k8s/base/prometheusrule.yaml (the one place thresholds
and durations live): Grafana's alert rules and dashboard, and the plain rule file of the local
stacks. `make monitoring` (or `python -m <package>.monitoring`) rewrites them; the tests fail
when a committed file is stale. Standard library and PyYAML only: a new repo gets its files
from this generator, run as a script before anything is installed.
"""

from __future__ import annotations

from pathlib import Path

from . import grafana, rules


def write(root: Path) -> list[Path]:
    """Write every generated monitoring file under `root`; return the files that changed."""
    return grafana.write(root) + rules.write_compose_rules(root)
