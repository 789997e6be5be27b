"""The repo's PrometheusRule as plain Prometheus rule files, for the stacks without the
Prometheus operator: `make up` (each alert's `for:` shortened) and compose/rules.yml.
"""

from __future__ import annotations

from pathlib import Path

import yaml

RULE_FILE = Path("k8s/base/prometheusrule.yaml")
COMPOSE_RULES = Path("compose") / "rules.yml"
# The alerts' `for:` on a stack on one machine: the rules are the repo's own, but waiting 15
# minutes of sustained drift on a laptop proves nothing more than waiting seconds.
LOCAL_ALERT_FOR = "10s"


def local_rules(alert_for: str, root: Path) -> dict:
    """The repo's PrometheusRule as a plain rule file, each alert's `for:` set to `alert_for`."""
    rule = yaml.safe_load((root / RULE_FILE).read_text())
    spec = rule["spec"]
    for group in spec["groups"]:
        for entry in group["rules"]:
            if "alert" in entry and "for" in entry:
                entry["for"] = alert_for
    return spec


def write_compose_rules(root: Path) -> list[Path]:
    """compose/rules.yml from k8s/base/prometheusrule.yaml; the file if it changed."""
    header = "# Generated from k8s/base/prometheusrule.yaml by `make monitoring`: do not edit.\n"
    text = header + yaml.safe_dump(local_rules(LOCAL_ALERT_FOR, root), sort_keys=False)
    path = root / COMPOSE_RULES
    if path.exists() and path.read_text() == text:
        return []
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return [path]
