"""Newer versions of the template this repo was made from: what they are, and applying one.

`.cruft.json` records the template (its public git source), the commit and every answer, as
cruft writes it. The template's versions are its git tags `vX.Y.Z` and its CHANGELOG.md says
what each one changed. Here: the recorded version and the newest tag (`check`), the
changelog between two versions (`changelog`), `cruft update` to a tag in a work tree
(`apply`: the repo's own edits are kept; where the template changed the same lines a
conflict is left, a `*.rej` file beside the file or conflict markers in it, and listed), and
the pull/merge request's title and body (`title`, `body`). `template_request.py` runs them on
a branch of a fresh clone, as CI's scheduled job.

Standard library only, and byte-identical in the model repos and the platform repo made from
the same template (a test of the template compares them): both update the same way.
"""

from __future__ import annotations

import json
import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

RECORD = ".cruft.json"
BRANCH = "template/update"
TAG = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)$")
CHANGELOG = "CHANGELOG.md"
# A changelog section starts with "## <version>" (optionally "## [<version>]", then a date).
SECTION = re.compile(r"^##\s+\[?v?(\d+\.\d+\.\d+)\]?.*$", re.MULTILINE)
GIT_TIMEOUT = 120


class TemplateError(RuntimeError):
    """The template cannot be checked or applied; the message says what to do."""


@dataclass(frozen=True)
class Record:
    template: str  # where the template is fetched (cruft's "template")
    commit: str | None
    version: tuple[int, int, int] | None  # the answers' __template_version


@dataclass(frozen=True)
class Status:
    template: str
    current: str  # the recorded version, "x.y.z"
    latest: str
    tag: str  # the newest version's tag

    @property
    def behind(self) -> bool:
        return _parse(self.latest) > _parse(self.current)

    def as_dict(self) -> dict[str, str | bool]:
        return {
            "template": self.template,
            "current": self.current,
            "latest": self.latest,
            "tag": self.tag,
            "behind": self.behind,
        }


def read_record(root: Path) -> Record:
    path = root / RECORD
    try:
        record = json.loads(path.read_text())
        template = record["template"]
        context = record["context"]["cookiecutter"]
    except FileNotFoundError:
        raise TemplateError(
            f"{path}: no template record (a repo made by this template has "
            "one; `cruft link` makes one for another repo)"
        ) from None
    except (ValueError, KeyError, TypeError) as error:
        raise TemplateError(f"{path}: not a cruft record ({error})") from None
    if not isinstance(template, str) or not template:
        raise TemplateError(f"{path}: 'template' must name the template's git repository")
    version = context.get("__template_version")
    return Record(template, record.get("commit"), _parse(version) if version else None)


def _parse(version: str) -> tuple[int, int, int]:
    found = TAG.match(version.strip())
    if not found:
        raise TemplateError(f"version {version!r}: expected x.y.z")
    major, minor, patch = found.groups()
    return int(major), int(minor), int(patch)


def _format(version: tuple[int, int, int]) -> str:
    return ".".join(map(str, version))


def _git(*args: str, cwd: Path | None = None) -> str:
    result = subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=GIT_TIMEOUT, check=False
    )
    if result.returncode != 0:
        raise TemplateError(f"git {args[0]} failed: {result.stderr.strip()[:500]}")
    return result.stdout


def versions(template: str) -> dict[tuple[int, int, int], str]:
    """The template's released versions: its tags vX.Y.Z (or X.Y.Z), version -> tag."""
    found = {}
    for line in _git("ls-remote", "--tags", "--refs", template).splitlines():
        tag = line.split("refs/tags/", 1)[-1]
        if TAG.match(tag):
            found[_parse(tag)] = tag
    return found


def check(root: Path) -> Status:
    record = read_record(root)
    released = versions(record.template)
    if not released:
        raise TemplateError(f"{record.template}: no version tags (vX.Y.Z): nothing to compare")
    latest = max(released)
    current = record.version or (0, 0, 0)
    return Status(record.template, _format(current), _format(latest), released[latest])


def changelog(template: str, tag: str, after: str, upto: str) -> str:
    """The sections of the template's CHANGELOG.md at `tag` for versions after `after` up to
    `upto`, newest first, as the file has them."""
    with tempfile.TemporaryDirectory(prefix="template-") as folder:
        _git("clone", "--quiet", "--depth", "1", "--branch", tag, template, folder)
        path = Path(folder) / CHANGELOG
        text = path.read_text() if path.exists() else ""
    low, high = _parse(after), _parse(upto)
    sections, starts = [], list(SECTION.finditer(text))
    for index, start in enumerate(starts):
        end = starts[index + 1].start() if index + 1 < len(starts) else len(text)
        if low < _parse(start.group(1)) <= high:
            sections.append(text[start.start() : end].strip())
    return "\n\n".join(sections)


def conflicts(root: Path) -> list[str]:
    """What the update could not merge: `*.rej` files, and files left with conflicts."""
    rejected = sorted(
        str(p.relative_to(root)) for p in root.rglob("*.rej") if ".git" not in p.parts
    )
    unmerged = _git("diff", "--name-only", "--diff-filter=U", cwd=root).split()
    return sorted({*rejected, *unmerged})


def apply(root: Path, tag: str, cruft: str) -> list[str]:
    """`cruft update` of the work tree at `root` to `tag`; the conflicts it left."""
    if _git("status", "--porcelain", cwd=root).strip():
        raise TemplateError(
            f"{root}: commit or stash your changes first (the update needs a "
            "clean work tree, to tell its changes from yours)"
        )
    result = subprocess.run(
        [cruft, "update", "--project-dir", str(root), "--skip-apply-ask", "--checkout", tag],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if result.returncode != 0 or "Good work" not in result.stdout + result.stderr:
        raise TemplateError(
            f"cruft update to {tag} failed:\n{(result.stdout + result.stderr)[-2000:]}"
        )
    return conflicts(root)


def title(status: Status) -> str:
    return f"Template update: {status.current} to {status.latest}"


def body(status: Status, changes: str, found: list[str]) -> str:
    lines = [
        f"This repo was made from version **{status.current}** of its template "
        f"(`{status.template}`); version **{status.latest}** (`{status.tag}`) is out. This "
        "request applies it with `cruft update`, keeping this repo's own changes.",
        "",
        "### Conflicts",
    ]
    if found:
        lines += [
            "The template changed lines this repo changed too. Resolve each before merging "
            "(a `.rej` file holds the template's hunk that did not apply; delete it once "
            "applied by hand):",
            "",
            *(f"- `{path}`" for path in found),
        ]
    else:
        lines.append("None: every change of the template applied cleanly.")
    lines += [
        "",
        f"### The template's changes since {status.current}",
        "",
        changes or "(its CHANGELOG says nothing about these versions)",
    ]
    return "\n".join(lines) + "\n"
