"""What the CI-file tests need to know about this repo's CI provider, one module per provider
like delivery/review/; `provider()` picks this repo's, as the package does."""

from __future__ import annotations

from importlib import import_module
from types import ModuleType

from {{ cookiecutter.package_name }}.settings import CI_PROVIDER


def provider() -> ModuleType:
    """This repo's provider: CI_FILE, SCHEMA (check-jsonschema's built-in name), commands(),
    and LINTER (a command that checks the file beyond its schema, or None)."""
    return import_module(f"{__name__}.{CI_PROVIDER}")
