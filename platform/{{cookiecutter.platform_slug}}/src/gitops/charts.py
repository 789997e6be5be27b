"""`gitops render-charts`: every pinned Helm chart renders with our values, as Argo CD will.

Needs `helm` and the chart repositories (CI runners have both; Argo CD does the same at
sync time). It catches a chart version that does not exist, a values key the chart's own
schema rejects, or a template that fails with our values, before the merge instead of in
the cluster.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import yaml

from . import PlatformError, inventory
from .settings import KUBERNETES_VERSION


def helm_commands(root: Path, helm: str = "helm") -> list[tuple[str, list[str]]]:
    """(application, argv) of one `helm template` per Helm source."""
    inv = inventory.load(root)
    commands = []
    for application in inv.applications:
        name = application["metadata"]["name"]
        namespace = application["spec"]["destination"]["namespace"]
        for source in inv.sources(application):
            if source.chart is None:
                continue
            # Argo CD names an OCI registry without a scheme; helm wants oci://.../chart.
            if "://" in source.repo_url:
                chart = [source.chart, "--repo", source.repo_url]
            else:
                chart = [f"oci://{source.repo_url}/{source.chart}"]
            argv = [
                helm, "template", source.release or name, *chart, "--version", source.revision,
                "--namespace", namespace, "--kube-version", KUBERNETES_VERSION, "--include-crds",
            ]  # fmt: skip
            for value_file in source.value_files:
                inventory.read_values(root, value_file)  # exists and parses
                argv += ["--values", str(root / value_file.removeprefix("$values/"))]
            commands.append((name, argv))
    return commands


def render_charts(root: Path, helm: str = "helm", log: Callable[[str], None] = print) -> int:
    """Render every chart; return how many documents they make. Fails on the first error."""
    if shutil.which(helm) is None:
        raise PlatformError(f"{helm!r} is not on PATH: install Helm 3 to render the charts")
    total = 0
    for application, argv in helm_commands(root, helm):
        result = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False)
        if result.returncode != 0:
            raise PlatformError(
                f"Application {application}: helm template {argv[3]} {argv[7]} failed: "
                f"{result.stderr.strip()[-2000:]}"
            )
        try:
            documents = [d for d in yaml.safe_load_all(result.stdout) if d]
        except yaml.YAMLError as error:
            raise PlatformError(f"Application {application}: output is not YAML: {error}") from None
        log(f"{application}: {argv[3]} {argv[7]} renders {len(documents)} documents")
        total += len(documents)
    return total
