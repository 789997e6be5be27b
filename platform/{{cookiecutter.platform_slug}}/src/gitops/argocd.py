"""Ask Argo CD's API whether an Application runs a given commit of this repo, synced and healthy."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable

from . import PlatformError


class ArgoCd:
    def __init__(self, server: str, token: str, timeout: float = 15) -> None:
        self.server = server.rstrip("/")
        self.token = token
        self.timeout = timeout

    def application(self, name: str) -> dict:
        """The Application, after asking Argo CD to compare it with git again (refresh)."""
        path = f"/api/v1/applications/{urllib.parse.quote(name)}?refresh=normal"
        request = urllib.request.Request(
            f"{self.server}{path}", headers={"Authorization": f"Bearer {self.token}"}
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as error:
            raise PlatformError(f"Argo CD: GET application {name}: HTTP {error.code}") from None
        except OSError as error:
            raise PlatformError(f"Argo CD at {self.server}: {error}") from None


def deployment_state(application: dict) -> tuple[str, str, str]:
    """(sync status, synced revision, health status) of an Application."""
    status = application.get("status", {})
    sync = status.get("sync", {})
    revision = sync.get("revision") or next(iter(sync.get("revisions") or []), "")
    return (
        sync.get("status", "Unknown"),
        revision,
        status.get("health", {}).get("status", "Unknown"),
    )


def wait_until_deployed(
    argocd: ArgoCd,
    name: str,
    revision: str,
    *,
    timeout: float,
    interval: float,
    contains: Callable[[str, str], bool] = lambda synced, wanted: synced == wanted,
    log: Callable[[str], None] = print,
) -> None:
    """Return once `name` is Synced to `revision` (or a commit containing it) and Healthy.

    Degraded health fails at once (a rollout that crashes will not heal by waiting); any
    other state is waited out until `timeout`.
    """
    deadline = time.monotonic() + timeout
    last = None
    while True:
        sync, synced, health = deployment_state(argocd.application(name))
        state = (sync, synced, health)
        if state != last:
            log(f"{name}: {sync} at {synced[:12] or '?'}, {health}")
            last = state
        if sync == "Synced" and health == "Healthy" and synced and contains(synced, revision):
            return
        if health == "Degraded" and synced and contains(synced, revision):
            raise PlatformError(f"{name} is Degraded at {synced[:12]}: not moving the registry")
        if time.monotonic() >= deadline:
            raise PlatformError(
                f"{name} not Synced and Healthy at {revision[:12]} within {timeout:.0f} s "
                f"(last: {sync} at {synced[:12] or '?'}, {health})"
            )
        time.sleep(interval)
