"""What Argo CD's ApplicationSet git directory generator makes of this repo, emulated offline.

Argo CD lists every directory of the repo (skipping any whose name starts with '.'), keeps
those matching an include pattern and no `exclude: true` pattern (exclusions win), and fills
the template once per directory. Patterns use Go's `path.Match`: matched segment by segment,
so `*` never crosses a '/' and `models/*/*` never reaches `models/m/staging/base`. The
template uses Go templates (`goTemplate: true`); the expressions this repo's ApplicationSet
needs are evaluated here, anything else is an error rather than a guess.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

from . import PlatformError
from .settings import ARGOCD_NAMESPACE


class PatternError(PlatformError):
    """A pattern Go's path.Match would reject (ErrBadPattern)."""


def _match_class(pattern: str, i: int, char: str) -> tuple[bool, int]:
    """Match `char` against the class starting after '[' at pattern[i]; (matched, next i)."""
    negated = i < len(pattern) and pattern[i] == "^"
    if negated:
        i += 1
    matched = False
    first = True
    while True:
        if i >= len(pattern):
            raise PatternError(f"unterminated '[' in {pattern!r}")
        if pattern[i] == "]" and not first:
            return matched != negated, i + 1
        first = False
        low, i = _class_char(pattern, i)
        high = low
        if i < len(pattern) and pattern[i] == "-":
            high, i = _class_char(pattern, i + 1)
        if low <= char <= high:
            matched = True


def _class_char(pattern: str, i: int) -> tuple[str, int]:
    if i >= len(pattern) or pattern[i] in "-]":
        raise PatternError(f"bad character class in {pattern!r}")
    if pattern[i] == "\\":
        i += 1
        if i >= len(pattern):
            raise PatternError(f"trailing '\\' in {pattern!r}")
    return pattern[i], i + 1


def _match_segment(pattern: str, name: str) -> bool:
    """Go path.Match within one segment (neither side contains '/')."""
    p = n = 0
    star_p, star_n = -1, 0
    while n < len(name):
        if p < len(pattern):
            c = pattern[p]
            if c == "*":
                star_p, star_n = p, n
                p += 1
                continue
            if c == "?":
                p, n = p + 1, n + 1
                continue
            if c == "[":
                matched, after = _match_class(pattern, p + 1, name[n])
                if matched:
                    p, n = after, n + 1
                    continue
            else:
                if c == "\\":
                    p += 1
                    if p >= len(pattern):
                        raise PatternError(f"trailing '\\' in {pattern!r}")
                if pattern[p] == name[n]:
                    p, n = p + 1, n + 1
                    continue
        if star_p >= 0:  # let the last '*' swallow one more character
            star_n += 1
            p, n = star_p + 1, star_n
            continue
        _check_rest(pattern, p)
        return False
    while p < len(pattern) and pattern[p] == "*":
        p += 1
    _check_rest(pattern, p)
    return p == len(pattern)


def _check_rest(pattern: str, p: int) -> None:
    """Go reports a malformed pattern even when the name already failed to match."""
    while p < len(pattern):
        if pattern[p] == "[":
            _, p = _match_class(pattern, p + 1, "\0")
        elif pattern[p] == "\\":
            if p + 1 >= len(pattern):
                raise PatternError(f"trailing '\\' in {pattern!r}")
            p += 2
        else:
            p += 1


def path_match(pattern: str, path: str) -> bool:
    """Go's path.Match: every '/'-separated segment of the pattern matches one of the path."""
    pattern_parts, path_parts = pattern.split("/"), path.split("/")
    if len(pattern_parts) != len(path_parts):
        for part in pattern_parts:  # still reject a malformed pattern
            _check_rest(part, 0)
        return False
    return all(_match_segment(p, n) for p, n in zip(pattern_parts, path_parts, strict=True))


def repo_directories(root: Path) -> list[str]:
    """Every directory under root, '/'-separated and sorted; '.'-directories and below skipped."""
    found = []

    def walk(directory: Path, prefix: str) -> None:
        for child in sorted(directory.iterdir()):
            if child.is_dir() and not child.name.startswith("."):
                relative = f"{prefix}{child.name}"
                found.append(relative)
                walk(child, f"{relative}/")

    walk(root, "")
    return found


def matching_directories(directories: list[str], patterns: list[dict]) -> list[str]:
    """Directories matched by an include pattern and by no exclude pattern."""
    selected = []
    for directory in directories:
        included = False
        excluded = False
        for entry in patterns:
            if path_match(entry["path"], directory):
                if entry.get("exclude", False):
                    excluded = True
                else:
                    included = True
        if included and not excluded:
            selected.append(directory)
    return selected


def path_parameters(directory: str) -> dict[str, Any]:
    """The `.path` parameters the directory generator gives a Go template."""
    segments = directory.split("/")
    basename = segments[-1]
    return {
        "path": directory,
        "basename": basename,
        "basenameNormalized": re.sub(r"[^a-z0-9-]", "-", basename.lower()),
        "filename": "",
        "filenameNormalized": "",
        "segments": segments,
    }


EXPRESSION = re.compile(r"\{\{-?\s*(.*?)\s*-?\}\}")
INDEX = re.compile(r"^index \.path\.segments (\d+)$")
FIELD = re.compile(r"^\.path\.(path|basename|basenameNormalized)$")


def _evaluate(expression: str, parameters: dict[str, Any]) -> str:
    path = parameters["path"]
    if match := FIELD.match(expression):
        return path[match.group(1)]
    if match := INDEX.match(expression):
        position = int(match.group(1))
        if position >= len(path["segments"]):
            raise PlatformError(
                f"template expression {expression!r}: {path['path']!r} has only "
                f"{len(path['segments'])} segments"
            )
        return path["segments"][position]
    raise PlatformError(
        f"template expression {expression!r} is not one this emulation evaluates "
        "(.path.path, .path.basename, .path.basenameNormalized, index .path.segments N)"
    )


def fill(value: Any, parameters: dict[str, Any]) -> Any:
    """The template with every Go template expression in every string evaluated."""
    if isinstance(value, str):
        return EXPRESSION.sub(lambda m: _evaluate(m.group(1), parameters), value)
    if isinstance(value, list):
        return [fill(item, parameters) for item in value]
    if isinstance(value, dict):
        return {fill(k, parameters): fill(v, parameters) for k, v in value.items()}
    return value


def generate(application_set: dict, root: Path) -> list[dict]:
    """The Applications `application_set` generates from the repo checked out at `root`."""
    spec = application_set["spec"]
    if not spec.get("goTemplate"):
        raise PlatformError("the ApplicationSet must set goTemplate: true (the emulated syntax)")
    applications = []
    directories = repo_directories(root)
    for generator in spec["generators"]:
        patterns = generator["git"]["directories"]
        for directory in matching_directories(directories, patterns):
            parameters = {"path": path_parameters(directory)}
            template = copy.deepcopy(spec["template"])
            application = {
                "apiVersion": "argoproj.io/v1alpha1",
                "kind": "Application",
                **fill(template, parameters),
            }
            # Argo CD creates the Applications in the ApplicationSet's own namespace.
            namespace = application_set["metadata"].get("namespace", ARGOCD_NAMESPACE)
            application["metadata"].setdefault("namespace", namespace)
            applications.append(application)
    names = [a["metadata"]["name"] for a in applications]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise PlatformError(
            f"the ApplicationSet generates duplicate names: {', '.join(duplicates)}"
        )
    return applications
