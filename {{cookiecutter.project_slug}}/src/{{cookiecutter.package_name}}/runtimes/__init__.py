"""The serving runtime: one directory per runtime, behind the interface in `base.py`.

`protocol` is the chosen runtime's protocol module (`runtimes/<name>/protocol.py`), the only
way shared code (the CLI, the local stack, tests, benchmarks) reaches runtime facts.
"""

from __future__ import annotations

from importlib import import_module
from typing import cast

from ..settings import SERVING_RUNTIME
from .base import ServingRuntime

protocol = cast(ServingRuntime, import_module(f"{__name__}.{SERVING_RUNTIME}.protocol"))

__all__ = ["ServingRuntime", "protocol"]
