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


# The README's table of chart versions sits between these lines (`gitops versions` writes it).
VERSIONS_START = "<!-- chart versions: written by `gitops versions` from apps/ -->"
VERSIONS_END = "<!-- end of chart versions -->"
README = "README.md"


def versions_table(root: Path) -> str:
    """The Markdown table of every pinned chart, one row per Application and chart."""
    inv = inventory.load(root)
    rows = sorted(
        (application["metadata"]["name"], source.chart, source.revision or "", source.repo_url)
        for application in inv.applications
        for source in inv.sources(application)
        if source.chart is not None
    )
    lines = ["| Application | chart | version | chart repository |", "| --- | --- | --- | --- |"]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def _readme_parts(root: Path) -> tuple[str, str, str]:
    text = (root / README).read_text()
    if text.count(VERSIONS_START) != 1 or text.count(VERSIONS_END) != 1:
        raise PlatformError(f"{README}: needs one {VERSIONS_START!r} line and one "
                            f"{VERSIONS_END!r} line around the chart versions")  # fmt: skip
    before, rest = text.split(VERSIONS_START)
    table, after = rest.split(VERSIONS_END)
    return before, table.strip(), after


def stale_versions(root: Path) -> list[str]:
    """Why the README's chart versions differ from the pins, or nothing."""
    try:
        _, table, _ = _readme_parts(root)
    except PlatformError as error:
        return [str(error)]
    if table == versions_table(root):
        return []
    return [f"{README}: the chart versions differ from apps/: run `gitops versions`"]


def write_versions(root: Path) -> bool:
    """Write the README's chart versions from the pins; True if the file changed."""
    before, table, after = _readme_parts(root)
    fresh = versions_table(root)
    if table == fresh:
        return False
    (root / README).write_text(f"{before}{VERSIONS_START}\n{fresh}\n{VERSIONS_END}{after}")
    return True
