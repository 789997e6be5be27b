"""The drift library of this repo: one package per library, behind `base.DriftLibrary`.

`settings.DRIFT_LIBRARY` names it; its package is that name with `_` for `-`. Only these two
functions look it up, so nothing else in the repo names a library.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import TYPE_CHECKING

from ...settings import DRIFT_LIBRARY

if TYPE_CHECKING:
    from ..base import DriftLibrary


def package() -> ModuleType:
    """The library's package: its facts (`KINDS`, its docstring), without the library itself."""
    return importlib.import_module(f"{__name__}.{DRIFT_LIBRARY.replace('-', '_')}")


def kinds() -> tuple[str, ...]:
    """The neutral drift kinds the library supports."""
    return tuple(package().KINDS)


def load() -> DriftLibrary:
    """The library, imported (seconds, for some libraries: once per process)."""
    return importlib.import_module(f"{package().__name__}.detector").LIBRARY
