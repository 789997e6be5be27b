"""How a promotion reaches production: replace, canary, shadow or A/B, chosen per promotion.

`replace` (the default) makes production run what staging runs. The other strategies keep
production's version as the `default` predictor and run staging's beside it as the
`candidate`:

- `canary N`: the candidate answers N % of the requests (1-99), the default the rest;
- `ab N`: the same split, kept until both have served enough to compare (`compare-predictors`);
- `shadow`: the candidate gets a copy of every request; its answers are discarded.

Which of them exist is the serving runtime's to say (`ROLLOUT_STRATEGIES` of its protocol).
This module holds what every runtime shares: the strategy, the checks before anything is
written, and the order of the steps. How a rollout is written into the production overlay
(`rollout.yaml`, a patch in the runtime's own resource shape) is the runtime's
`runtimes/<name>/rollout.py`, loaded only when a rollout starts or runs: a runtime that
offers only `replace` has none. Starting, finishing and aborting are all pull requests.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from pathlib import Path
from typing import Protocol, cast, runtime_checkable

from ..settings import MODEL_NAME, PACKAGE_NAME, SERVING_RUNTIME
from . import DeliveryError, overlay
from .release import ROLLOUT_PATCH, Release, base_config, overlay_dir, read_release

ENVIRONMENTS = ("production", "staging")

STRATEGIES = ("replace", "canary", "shadow", "ab")


@dataclass(frozen=True)
class Strategy:
    name: str = "replace"
    traffic: int | None = None  # the candidate's share, canary and ab only

    def __post_init__(self) -> None:
        if self.name not in STRATEGIES:
            raise DeliveryError(f"strategy {self.name!r}: must be one of {', '.join(STRATEGIES)}")
        from ..runtimes import protocol

        if self.name not in protocol.ROLLOUT_STRATEGIES:
            raise DeliveryError(
                f"strategy {self.name!r}: {protocol.ROLLOUT_REFUSAL}; promote with --strategy "
                f"{' or '.join(protocol.ROLLOUT_STRATEGIES)}"
            )
        if self.name in ("canary", "ab"):
            if self.traffic is None or not 1 <= self.traffic <= 99:
                raise DeliveryError(
                    f"{self.name} needs --traffic, the candidate's share in percent from 1 to "
                    f"99 (got {self.traffic})"
                )
        elif self.traffic is not None:
            raise DeliveryError(f"--traffic is for canary and ab, not {self.name}")

    def describe(self) -> str:
        return {
            "replace": "replace",
            "canary": f"canary, {self.traffic} % of the traffic to the candidate",
            "ab": f"A/B test, {100 - (self.traffic or 0)}/{self.traffic} %",
            "shadow": "shadow: the candidate gets a copy of every request",
        }[self.name]


@dataclass(frozen=True)
class Rollout:
    strategy: Strategy
    stable: Release
    candidate: Release


@runtime_checkable
class RuntimeRollout(Protocol):
    """A runtime's `rollout.py`: how a rollout looks in the production overlay. The checks
    are done before it is called; it writes and reads files only."""

    def start(
        self, platform_root: Path, strategy: Strategy, stable: Release, candidate: Release
    ) -> None:
        """Write the rollout into the production overlay (`ROLLOUT_PATCH` and what it needs)."""
        ...

    def read(self, platform_root: Path) -> Rollout:
        """The rollout the production overlay holds (its `ROLLOUT_PATCH` exists)."""
        ...

    def end(self, platform_root: Path, restore: Release | None) -> None:
        """Remove the rollout from the production overlay; `restore`: the release production
        runs alone again (abort), or None when the overlay is rendered anew (finish)."""
        ...


def runtime_rollout() -> RuntimeRollout:
    """The serving runtime's rollout module (only a runtime with more than `replace` has one)."""
    return cast(RuntimeRollout, import_module(f"{PACKAGE_NAME}.runtimes.{SERVING_RUNTIME}.rollout"))


def patch_path(platform_root: Path) -> Path:
    return overlay_dir(platform_root, "production") / ROLLOUT_PATCH


def current(platform_root: Path) -> Rollout | None:
    """The rollout production runs, or None."""
    if not patch_path(platform_root).exists():
        return None
    return runtime_rollout().read(platform_root)


def start(platform_root: Path, strategy: Strategy) -> Rollout | None:
    """Start `strategy` with staging's release as the candidate; None for replace."""
    running = current(platform_root)
    if running is not None:
        raise DeliveryError(
            f"a {running.strategy.name} rollout of version {running.candidate.model_version} "
            "runs in production: finish or abort it first (--finish / --abort)"
        )
    staging = read_release(platform_root, "staging")
    if staging is None:
        raise DeliveryError("nothing to promote: staging has no overlay yet")
    if strategy.name == "replace":
        overlay.promote(platform_root, "staging", "production")
        return None
    production = read_release(platform_root, "production")
    if production is None:
        raise DeliveryError(
            f"a {strategy.name} rollout needs a version already in production: the first "
            "promotion is a replace"
        )
    if production.model_version == staging.model_version:
        raise DeliveryError(f"production already runs version {staging.model_version}")
    changed = server_changes(platform_root)
    if changed:
        raise DeliveryError(
            f"staging's model server differs from production's beyond the release "
            f"({'; '.join(changed)}): a {strategy.name} candidate runs on production's manifests, "
            "so this change would reach production untried at --finish; promote with "
            "--strategy replace"
        )
    runtime_rollout().start(platform_root, strategy, production, staging)
    return Rollout(strategy, production, staging)


def server_changes(platform_root: Path) -> list[str]:
    """What differs between staging's and production's copies of the base for the model
    server, besides the release each overlay pins: the runtime's manifests and the
    configuration the server reads. A candidate runs production's, and `finish` ships
    staging's."""
    production, staging = (overlay_dir(platform_root, e) / "base" for e in ENVIRONMENTS)
    changes = []
    # The runtime's directory and any it shares with other runtimes.
    runtimes = Path("runtimes")
    files = {p.relative_to(b) for b in (production, staging) if (b / runtimes).is_dir()
             for p in (b / runtimes).rglob("*") if p.is_file()}  # fmt: skip
    for name in sorted(files):
        before, after = production / name, staging / name
        if not (before.is_file() and after.is_file()) or before.read_bytes() != after.read_bytes():
            changes.append(f"base/{name.as_posix()}")
    if base_config(production) != base_config(staging):
        changes.append(f"the {MODEL_NAME}-config literals of base/kustomization.yaml")
    return changes


def finish(platform_root: Path) -> Rollout:
    """Production runs the candidate alone (on the base staging built it with)."""
    running = _running(platform_root, "finish")
    staging = read_release(platform_root, "staging")
    if staging is None or staging.model_version != running.candidate.model_version:
        raise DeliveryError(
            f"staging no longer runs the candidate (version {running.candidate.model_version}): "
            "abort this rollout and promote staging's version instead"
        )
    runtime_rollout().end(platform_root, restore=None)
    staging_base = overlay_dir(platform_root, "staging") / "base"
    overlay.render(platform_root, "production", running.candidate, staging_base)
    return running


def abort(platform_root: Path) -> Rollout:
    """Production runs its default predictor alone again, as before the rollout."""
    running = _running(platform_root, "abort")
    runtime_rollout().end(platform_root, restore=running.stable)
    return running


def _running(platform_root: Path, action: str) -> Rollout:
    running = current(platform_root)
    if running is None:
        raise DeliveryError(f"no rollout runs in production: nothing to {action}")
    return running
