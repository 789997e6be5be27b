"""Renovate keeps every pin current: its configuration in the template and in both generated
repos (each provider) is valid for Renovate, uses only options Renovate defines, and every file
pattern and regex it adds finds exactly the pins it is meant for, in the real files."""

from __future__ import annotations

import functools
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from .baking import ROOT, bake, bake_platform

BIN = Path(sys.executable).parent
SCHEMA_NAME = "vendor.renovate"
PLATFORM_DIR = "{{cookiecutter.platform_slug}}"
# Directories a repo's scan skips: tools' state, not the repo's files.
SKIPPED = {".git", ".venv", ".venv-scan", ".venv-serve", "__pycache__", ".pytest_cache",
           ".ruff_cache"}  # fmt: skip


@functools.cache
def renovate_schema() -> dict:
    import check_jsonschema

    path = Path(check_jsonschema.__file__).parent / "builtin_schemas" / "vendor" / "renovate.json"
    return json.loads(path.read_text())


def unknown_options(config: dict) -> list[str]:
    """Option names the schema does not define (it allows any, so Renovate would ignore a typo)."""
    schema = renovate_schema()
    known, definitions = {"$schema", *schema["properties"]}, schema["definitions"]

    def fields(definition: dict) -> set[str]:
        parts = [definition, *definition.get("allOf", [])]
        names = {name for part in parts for name in part.get("properties", {})}
        return names | (known if definition.get("$ref") == "#" else set())

    found = [name for name in config if name not in known]
    for name, value in config.items():
        if isinstance(value, dict) and name in definitions:
            allowed = fields(definitions[name])
            found += [f"{name}.{key}" for key in value if key not in allowed]
    for key in ("customManagers", "packageRules"):
        allowed = fields(definitions[key].get("items", {})) | (known if key == "packageRules"
                                                                else set())  # fmt: skip
        found += [f"{key}[{i}].{field}" for i, item in enumerate(config.get(key, []))
                  for field in item if field not in allowed]  # fmt: skip
    return found


def patterns(config: dict) -> list[tuple[str, str]]:
    """(where, Python regex) of every managerFilePatterns entry."""
    found = []
    for name, value in config.items():
        if isinstance(value, dict):
            found += [(name, p) for p in value.get("managerFilePatterns", [])]
    for i, manager in enumerate(config.get("customManagers", [])):
        found += [(f"customManagers[{i}]", p) for p in manager["managerFilePatterns"]]
    return [(where, p.strip("/")) for where, p in found]


def python_regex(pattern: str) -> re.Pattern:
    """A Renovate (JavaScript) regex as Python's: named groups are spelled (?P<name>...)."""
    return re.compile(pattern.replace("(?<", "(?P<"))


def files_of(root: Path) -> list[str]:
    relatives = (path.relative_to(root) for path in root.rglob("*") if path.is_file())
    return sorted(r.as_posix() for r in relatives if not SKIPPED & set(r.parts))


def pins(root: Path, config: dict) -> dict[int, list[dict]]:
    """What each custom manager finds, by its index: the named groups of every match."""
    found: dict[int, list[dict]] = {}
    for i, manager in enumerate(config.get("customManagers", [])):
        globs = [re.compile(p.strip("/")) for p in manager["managerFilePatterns"]]
        for relative in files_of(root):
            if any(g.search(relative) for g in globs):
                text = (root / relative).read_text()
                for match_string in manager["matchStrings"]:
                    found.setdefault(i, []).extend(
                        m.groupdict() for m in python_regex(match_string).finditer(text)
                    )
    return found


@functools.cache
def repos(tmp: Path) -> dict[str, Path]:
    found = {"template": ROOT}
    for provider in ("github", "gitlab"):
        found[f"model-{provider}"] = bake(tmp / f"model-{provider}", ci_provider=provider)
        found[f"platform-{provider}"] = bake_platform(tmp / f"platform-{provider}",
                                                      ci_provider=provider)  # fmt: skip
    return found


@pytest.fixture(scope="module")
def baked(tmp_path_factory) -> dict[str, Path]:
    return repos(tmp_path_factory.mktemp("renovate"))


NAMES = ["template", "model-github", "model-gitlab", "platform-github", "platform-gitlab"]


@pytest.mark.parametrize("name", NAMES)
def test_the_config_is_valid_for_renovate_and_uses_only_its_options(baked, name):
    path = baked[name] / "renovate.json"
    result = subprocess.run([str(BIN / "check-jsonschema"), "--builtin-schema", SCHEMA_NAME,
                             str(path)], capture_output=True, text=True)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    config = json.loads(path.read_text())
    assert unknown_options(config) == []
    for i, manager in enumerate(config.get("customManagers", [])):
        for match_string in manager["matchStrings"]:
            groups = python_regex(match_string).groupindex
            assert "currentValue" in groups, f"customManagers[{i}]: {match_string}"
            assert "depName" in groups or "depNameTemplate" in manager, match_string


@pytest.mark.parametrize("name", NAMES)
def test_every_file_pattern_matches_a_file_of_the_repo(baked, name):
    root = baked[name]
    config = json.loads((root / "renovate.json").read_text())
    relatives = files_of(root)
    for where, pattern in patterns(config):
        assert any(re.search(pattern, r) for r in relatives), f"{where}: {pattern} matches nothing"


@pytest.mark.parametrize("name", NAMES)
def test_the_pre_commit_hooks_pins_are_all_found(baked, name):
    root = baked[name]
    config = json.loads((root / "renovate.json").read_text())
    found = pins(root, config)
    hooks = sorted((root / p) for p in files_of(root) if p.endswith(".pre-commit-config.yaml"))
    pin = re.compile(r'"([A-Za-z0-9][\w.-]*==[^"]+)"')
    expected = {found for hook in hooks for found in pin.findall(hook.read_text())}
    assert expected, "the hooks pin their tools"
    seen = {
        f"{m.get('depName')}=={m['currentValue']}" for matches in found.values() for m in matches
    }
    assert expected <= seen, expected - seen


def test_the_templates_pyproject_pins_and_charts_are_all_found(baked):
    root = baked["template"]
    config = json.loads((root / "renovate.json").read_text())
    found = [m for matches in pins(root, config).values() for m in matches]
    model, platform = root / "{{cookiecutter.project_slug}}", root / "platform" / PLATFORM_DIR
    for pyproject in (model / "pyproject.toml", platform / "pyproject.toml"):
        for name, version in re.findall(r'"([A-Za-z0-9][\w.\[\]-]*)==([^"]+)"',
                                        pyproject.read_text()):  # fmt: skip
            assert {"depName": name, "currentValue": version} in [
                {k: m.get(k) for k in ("depName", "currentValue")} for m in found
            ], f"{pyproject.name}: {name}=={version}"
    apps = platform / "apps"
    charts = sum(text.count("\n      chart: ") + text.count("\n    chart: ")
                 for text in (p.read_text() for p in apps.glob("*.yaml")))  # fmt: skip
    helm = [m for m in found if m.get("registryUrl")]  # https:// and OCI repositories
    assert len(helm) == charts and charts >= 8, (len(helm), charts)


@pytest.mark.parametrize(("name", "variables"), [
    ("model-gitlab", {"ghcr.io/sigstore/cosign/cosign"}),
    ("platform-gitlab", {None}),
])  # fmt: skip
def test_pipeline_variables_that_pin_tools_are_found(baked, name, variables):
    root = baked[name]
    config = json.loads((root / "renovate.json").read_text())
    hook_tools = _hook_tools(root)
    found = [m for matches in pins(root, config).values() for m in matches
             if m.get("depName") not in hook_tools]  # fmt: skip
    assert {m.get("depName") for m in found} == variables, found
    assert all(m["currentValue"] for m in found)


def _hook_tools(root: Path) -> set[str]:
    text = (root / ".pre-commit-config.yaml").read_text()
    return set(re.findall(r'"([A-Za-z0-9][\w.-]*)==', text))


def test_a_typo_or_a_regex_without_its_version_is_caught():
    config = {"pinDigestz": True, "pip_requirements": {"managerFilePattern": []},
              "customManagers": [{"customType": "regex", "matchString": []}]}  # fmt: skip
    assert unknown_options(config) == ["pinDigestz", "pip_requirements.managerFilePattern",
                                       "customManagers[0].matchString"]  # fmt: skip
    assert "currentValue" not in python_regex(r'"(?<depName>\w+)=="').groupindex
