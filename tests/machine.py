"""A newcomer's machine, simulated: a PATH that offers every command of this one but some."""

from __future__ import annotations

import os
from pathlib import Path

# What `ensure-tools` provides: no Python package ships them.
OPTIONAL_TOOLS = frozenset(
    {"promtool", "prometheus", "alertmanager", "prometheus-alertmanager", "amtool"}
)
PACKAGE_MANAGERS = frozenset({"apt-get", "apt", "dpkg", "sudo", "brew"})


def path_without(directory: Path, names: frozenset[str]) -> str:
    """A PATH of one directory linking every command on this PATH except `names`."""
    directory.mkdir(parents=True, exist_ok=True)
    for entry in os.environ["PATH"].split(os.pathsep):
        if not entry or not Path(entry).is_dir():
            continue
        for command in Path(entry).iterdir():
            link = directory / command.name
            if command.name in names or link.exists() or link.is_symlink():
                continue
            if command.is_file() and os.access(command, os.X_OK):
                link.symlink_to(command.resolve())
    return str(directory)


def env_without(directory: Path, names: frozenset[str]) -> dict[str, str]:
    """This process's environment (outside any virtualenv) with `path_without` as PATH."""
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    env["PATH"] = path_without(directory, names)
    return env
