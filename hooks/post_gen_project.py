"""Remove what the answers exclude and record the answers for later re-rendering.

The answers arrive as JSON data. Optional parts are listed once in OPTIONAL_PATHS; the record
is a `.cruft.json`-compatible file, so `cruft update` (or a re-bake with the same answers)
can bring a generated repo up to a newer template version.
"""

from __future__ import annotations

import importlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

# Paths of the machine that generated the repo: meaningless anywhere else.
MACHINE_SPECIFIC_KEYS = {"_output_dir", "_repo_dir", "__prompts__"}
# The values of the options that pick whole-file variants (cookiecutter.json lists them too).
VARIANT_VALUES = {
    "serving_runtime": ("seldon-core", "kserve"),
}


def optional_paths(answers: dict) -> list[tuple[bool, list[str]]]:
    """(keep?, paths) for every part of the output that an answer can remove."""
    package = f"src/{answers['package_name']}"
    return [
        (answers["ci_provider"] == "github", [".github"]),
        (answers["ci_provider"] == "gitlab", [".gitlab-ci.yml"]),
        (answers["include_drift_detection"], [
            f"{package}/drift", "tests/test_drift.py", "tests/drift",
            "benchmarks/drift_throughput.py",
            "k8s/base/drift-service.yaml", "k8s/base/drift-servicemonitor.yaml",
            f"{package}/retrain_receiver.py", "tests/test_retrain_receiver.py",
            "tests/drift_process.py", "scripts/loop_demo.py", "compose/alertmanager.yml",
            "benchmarks/closed_loop.py",
            "k8s/base/retrain", "tests/schemas/alertmanagerconfig.schema.json",
        ]),
        (answers["drift_library"] == "alibi-detect", [
            f"{package}/drift/libraries/alibi_detect", "tests/drift/libraries/alibi_detect",
        ]),
        (answers["drift_library"] == "evidently", [
            f"{package}/drift/libraries/evidently", "tests/drift/libraries/evidently",
        ]),
        (answers["serving_runtime"] == "seldon-core", [
            "k8s/base/seldondeployment.yaml", "tests/schemas/seldondeployment.schema.json",
        ]),
        (answers["serving_runtime"] == "kserve", [
            "k8s/base/inferenceservice.yaml", "tests/schemas/inferenceservice.schema.json",
            "requirements-serve.lock",
        ]),
    ]  # fmt: skip


def variant_paths(answers: dict) -> dict[str, list[str]]:
    """Files that exist once per value of a choice option, as `<stem>.<value><suffix>`.

    The chosen value's file takes the plain name (`serving.kserve.py` -> `serving.py`); the
    others are removed. Whole-file variants keep each runtime's code readable on its own.
    """
    package = f"src/{answers['package_name']}"
    return {
        "serving_runtime": [
            f"{package}/serving.py",
            f"{package}/protocol.py",
            "tests/test_serving.py",
        ],
    }


def choose_variants(root: Path, answers: dict) -> None:
    for option, paths in variant_paths(answers).items():
        for relative in paths:
            plain = root / relative
            for value in VARIANT_VALUES[option]:
                variant = plain.with_name(f"{plain.stem}.{value}{plain.suffix}")
                if not variant.exists():
                    continue  # removed with its optional part (drift off)
                if value == answers[option]:
                    variant.rename(plain)
                else:
                    variant.unlink()


def remove_excluded(root: Path, answers: dict) -> None:
    for keep, paths in optional_paths(answers):
        if keep:
            continue
        for relative in paths:
            path = root / relative
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()


def template_commit(repo_dir: str) -> str | None:
    """The template's git commit, when it was generated from a git checkout."""
    try:
        result = subprocess.run(
            ["git", "-C", repo_dir, "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout.strip() or None if result.returncode == 0 else None


def record_answers(root: Path, answers: dict) -> None:
    """Write `.cruft.json`: template source, commit and every answer."""
    context = {k: v for k, v in answers.items() if k not in MACHINE_SPECIFIC_KEYS}
    record = {
        "template": answers.get("_template"),
        "commit": template_commit(answers.get("_repo_dir", "")),
        "checkout": answers.get("_checkout"),
        "context": {"cookiecutter": context},
        "directory": None,
        "template_version": answers["__template_version"],
    }
    (root / ".cruft.json").write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n")


def write_monitoring_files(root: Path, package: str) -> None:
    """Generate k8s/base/monitoring/*.json and compose/rules.yml with the repo's own generators
    (`make monitoring`).

    They need only the standard library and PyYAML (a cookiecutter dependency), so the files
    exist, identical to what the repo regenerates, from the first commit on.
    """
    sys.path.insert(0, str(root / "src"))
    sys.dont_write_bytecode = True  # no __pycache__ left in the new repo
    try:
        importlib.import_module(f"{package}.grafana").write(root)
        importlib.import_module(f"{package}.local_stack").write_compose_rules(root)
    finally:
        sys.path.remove(str(root / "src"))
        for name in [m for m in sys.modules if m == package or m.startswith(f"{package}.")]:
            del sys.modules[name]


def main() -> int:
    answers = json.loads(r"""{{ cookiecutter | tojson }}""")
    root = Path.cwd()
    remove_excluded(root, answers)
    choose_variants(root, answers)
    write_monitoring_files(root, answers["package_name"])
    record_answers(root, answers)
    return 0


if __name__ == "__main__":
    sys.exit(main())
