"""Local stand-ins for the forge's pull/merge request API (contract tests), one module per CI
provider like delivery/review/; `fake_review_api` picks this repo's, as the package does."""

from __future__ import annotations

from importlib import import_module

from {{ cookiecutter.package_name }}.settings import CI_PROVIDER

from .base import FakeReviewApi


def fake_review_api(repository: str, token: str) -> FakeReviewApi:
    """This repo's provider's API on 127.0.0.1, for `repository`, accepting only `token`."""
    return import_module(f"{__name__}.{CI_PROVIDER}").Fake(repository, token)
