"""`gitops render-charts` runs one `helm template` per pinned chart with our values.

Charts cannot be downloaded here, so `helm` is a stand-in script that records its argv,
checks that every values file it is given exists, and renders one document (or fails, for
the chart named in FAIL_CHART). CI runs the real helm against the real chart repositories.
"""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import pytest
import yaml

from gitops import cli
from gitops.settings import KUBERNETES_VERSION

FAKE_HELM = """\
#!PYTHON
import json, os, sys
args = sys.argv[1:]
with open(os.environ["HELM_LOG"], "a") as log:
    log.write(json.dumps(args) + "\\n")
if args[0] != "template":
    sys.exit("fake helm: only 'template' is expected")
for i, arg in enumerate(args):
    if arg == "--values" and not os.path.isfile(args[i + 1]):
        sys.exit("Error: open " + args[i + 1] + ": no such file or directory")
if args[2] == os.environ.get("FAIL_CHART"):
    sys.exit("Error: chart \\"" + args[2] + "\\" version \\"0.0.0\\" not found")
print("apiVersion: v1\\nkind: ConfigMap\\nmetadata:\\n  name: " + args[1])
"""


@pytest.fixture
def helm(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "bin" / "helm"
    path.parent.mkdir()
    path.write_text(FAKE_HELM.replace("PYTHON", sys.executable, 1))
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("HELM_LOG", str(tmp_path / "helm.log"))
    monkeypatch.setenv("PATH", f"{path.parent}{os.pathsep}{os.environ['PATH']}")
    return tmp_path / "helm.log"


def helm_applications(platform: Path) -> dict[str, dict]:
    applications = {}
    for path in (platform / "apps").glob("*.yaml"):
        for document in yaml.safe_load_all(path.read_text()):
            if document["kind"] == "Application" and "sources" in document["spec"]:
                applications[document["metadata"]["name"]] = document
    return applications


def test_every_pinned_chart_is_rendered_with_its_values(platform, helm, capsys):
    assert cli.main(["--root", str(platform), "render-charts"]) == 0
    calls = [json.loads(line) for line in helm.read_text().splitlines()]
    expected = helm_applications(platform)
    assert len(calls) == len(expected) >= 9
    for application in expected.values():
        chart = application["spec"]["sources"][0]
        namespace = application["spec"]["destination"]["namespace"]
        values = platform / chart["helm"]["valueFiles"][0].removeprefix("$values/")
        if "://" in chart["repoURL"]:
            reference = [chart["chart"], "--repo", chart["repoURL"]]
        else:  # an OCI registry, as Argo CD names it
            reference = [f"oci://{chart['repoURL']}/{chart['chart']}"]
        assert [
            "template", chart["helm"]["releaseName"], *reference,
            "--version", chart["targetRevision"],
            "--namespace", namespace, "--kube-version", KUBERNETES_VERSION, "--include-crds",
            "--values", str(values),
        ] in calls  # fmt: skip
    assert f"ok: every chart renders ({len(calls)} documents)" in capsys.readouterr().out


def test_a_chart_that_fails_names_its_application(platform, helm, monkeypatch, capsys):
    monkeypatch.setenv("FAIL_CHART", "mlflow")
    assert cli.main(["--root", str(platform), "render-charts"]) == 1
    err = capsys.readouterr().err
    version = helm_applications(platform)["mlflow"]["spec"]["sources"][0]["targetRevision"]
    assert f"Application mlflow: helm template mlflow {version} failed" in err
    assert 'version "0.0.0" not found' in err


def test_without_helm_the_error_says_what_to_install(platform, monkeypatch, capsys):
    monkeypatch.setenv("PATH", "/nonexistent")
    assert cli.main(["--root", str(platform), "render-charts"]) == 1
    assert "'helm' is not on PATH" in capsys.readouterr().err


def test_the_readme_lists_every_pinned_chart_and_follows_a_new_pin(platform, capsys):
    """`gitops validate` fails while the README's versions differ from apps/ (a Renovate
    pull request that bumps a chart); `gitops versions` rewrites the table."""
    from gitops import charts, validate

    readme = (platform / "README.md").read_text()
    for name, application in helm_applications(platform).items():
        for source in application["spec"]["sources"]:
            if "chart" in source:
                row = f"| {name} | {source['chart']} | {source['targetRevision']} |"
                assert row in readme, row
    strimzi = platform / "apps" / "strimzi.yaml"
    strimzi.write_text(strimzi.read_text().replace("targetRevision: 1.2.0",
                                                   "targetRevision: 1.2.1"))  # fmt: skip
    assert validate.check_repo(platform).problems == [
        "README.md: the chart versions differ from apps/: run `gitops versions`"
    ]
    assert cli.main(["--root", str(platform), "versions"]) == 0
    assert "written" in capsys.readouterr().out
    assert "| strimzi | strimzi-kafka-operator | 1.2.1 |" in (platform / "README.md").read_text()
    assert validate.check_repo(platform).problems == []
    assert not charts.write_versions(platform)  # a second run changes nothing


def test_a_readme_without_the_version_markers_is_named(platform):
    from gitops import charts

    readme = platform / "README.md"
    readme.write_text(readme.read_text().replace(charts.VERSIONS_END, ""))
    assert charts.stale_versions(platform) == [
        f"README.md: needs one {charts.VERSIONS_START!r} line and one {charts.VERSIONS_END!r} "
        "line around the chart versions"
    ]
