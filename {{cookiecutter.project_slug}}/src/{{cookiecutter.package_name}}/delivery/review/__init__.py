"""The pull/merge requests on the platform repo's forge, behind one interface.

`ReviewProvider` states what delivery and promotion need of a forge; each CI provider
implements it in its own module here, named after the provider (`settings.CI_PROVIDER`), as a
class `Provider`.
A repo holds its own provider's module only: shared code reaches it through `provider()` and
`connect()` and never names a provider.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib import import_module
from typing import Any, ClassVar, Protocol

from ...jsonhttp import HttpError, request_json
from ...settings import CI_PROVIDER, MODEL_NAME
from .. import DeliveryError

# Every review API call says who calls (the forges log it).
USER_AGENT = f"{MODEL_NAME}-ci"
TIMEOUT_SECONDS = 30


@dataclass(frozen=True)
class ReviewRequest:
    """An open pull/merge request, as delivery and promotion compare and report it."""

    number: int
    url: str
    title: str
    body: str


class ReviewProvider(Protocol):
    """A forge's pull/merge requests on one repository, authenticated by a token."""

    # The user name git sends with the token over HTTPS.
    git_user: ClassVar[str]
    # The variable the provider's CI runners set to the API root (self-managed hosts too),
    # and the public service's API root when it is not set.
    api_url_variable: ClassVar[str]
    default_api_url: ClassVar[str]
    # The variables the provider's CI sets to this repo's own path (OWNER/NAME) and to the
    # server's web root: the template update proposes to the repo itself.
    repository_variable: ClassVar[str]
    server_url_variable: ClassVar[str]

    def __init__(self, api_url: str, repository: str, token: str) -> None: ...

    def find_open(self, branch: str, base: str) -> ReviewRequest | None:
        """The open request from `branch` into `base`, if there is one."""
        ...

    def create(self, branch: str, base: str, title: str, body: str) -> ReviewRequest:
        """Open a request from `branch` into `base`."""
        ...

    def update(self, number: int, title: str, body: str) -> ReviewRequest:
        """Replace the title and body of request `number`."""
        ...

    def close(self, number: int) -> ReviewRequest:
        """Close request `number` without merging it (what it proposed is obsolete)."""
        ...


def provider() -> type[ReviewProvider]:
    """This repo's review provider (the module named after CI_PROVIDER)."""
    return import_module(f"{__name__}.{CI_PROVIDER}").Provider


def connect(api_url: str | None, repository: str, token: str,
            token_variable: str = "PLATFORM_REPO_TOKEN") -> ReviewProvider:  # fmt: skip
    """The provider's client for `repository`; the API root defaults to what CI sets."""
    chosen = provider()
    api_url = api_url or os.environ.get(chosen.api_url_variable) or chosen.default_api_url
    if not api_url.startswith(("https://", "http://")):
        raise DeliveryError(f"API URL {api_url!r}: must start with https://")
    if not token:
        raise DeliveryError(f"{token_variable} is empty: the API needs a token")
    return chosen(api_url.rstrip("/"), repository, token)


def call_api(method: str, url: str, headers: dict[str, str], body: dict | None = None) -> Any:
    """One review API call for a provider; errors name the call, never the token (it travels
    in `headers` only)."""
    try:
        return request_json(
            method, url, body, headers={"User-Agent": USER_AGENT, **headers},
            timeout=TIMEOUT_SECONDS,
        )  # fmt: skip
    except HttpError as error:
        raise DeliveryError(str(error)) from None
