"""The staging delivery: CI's new staging overlay as a pull/merge request the platform merges.

A model's CI may change only `models/<model>/` of the platform repo, and never pushes to
main. Each delivery rebuilds the branch `deliver/<model>-staging` from main with the staging
overlay of the new release and opens (or updates) one request from it. The platform's
`gitops check-change` sees a request by the model's delivery account that touches only its
staging overlay and merges it once the platform's checks pass; anything else would wait for a
reviewer or be refused.

While a delivery is still open, it is what staging is about to run: a release that keeps the
model version (a commit whose training did not earn staging) keeps the pending one, and
`open-promotion` can wait for it (`pending`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from ..settings import MODEL_NAME
from . import overlay
from .platform_repo import MAIN_BRANCH, PlatformRepo, RaceLost
from .proposal import Proposal, propose
from .release import Release, read_release
from .review import ReviewProvider, ReviewRequest

BRANCH = f"deliver/{MODEL_NAME}-staging"
PATH = str(Path("models") / MODEL_NAME / "staging")
ATTEMPTS = 3  # runs of the same model racing for the branch: each loser starts over
POLL_SECONDS = 10.0


def title(release: Release) -> str:
    return (
        f"Deliver {MODEL_NAME} version {release.model_version} "
        f"(image {release.image_tag}) to staging"
    )


def body(release: Release) -> str:
    lines = [
        f"{MODEL_NAME}'s CI delivers to staging: model version **{release.model_version}**, "
        f"image tag `{release.image_tag}`.",
        "",
    ]
    if release.digests or release.model_digest:
        lines += ["| pinned | digest |", "| --- | --- |"]
        for component, digest in sorted(release.digests.items()):
            lines.append(f"| {component} image | `{digest}` |")
        if release.model_digest:
            lines.append(f"| model artifacts | `{release.model_digest}` |")
        lines.append("")
    lines.append(
        f"It changes `{PATH}/` only: the platform's `check-change` merges it once the "
        "platform's checks pass, and Argo CD syncs staging."
    )
    return "\n".join(lines) + "\n"


def deliver(
    repo: PlatformRepo,
    reviews: ReviewProvider,
    release_for: Callable[[Release | None], Release],
) -> dict[str, str]:
    """Propose staging's new release. `release_for` turns what staging runs or is about to
    run (None: nothing yet) into the release to deliver. Returns what happened."""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return _deliver_once(repo, reviews, release_for)
        except RaceLost:
            if attempt == ATTEMPTS:
                raise
            repo.refresh_main()
    raise AssertionError("unreachable")


def _deliver_once(
    repo: PlatformRepo,
    reviews: ReviewProvider,
    release_for: Callable[[Release | None], Release],
) -> dict[str, str]:
    existing = reviews.find_open(BRANCH, MAIN_BRANCH)
    seen = repo.remote_branch(BRANCH)
    # What staging will run: the open delivery's, else main's.
    source = BRANCH if existing is not None and seen is not None else MAIN_BRANCH
    repo.git("checkout", "--quiet", "-B", BRANCH, f"origin/{source}")
    release = release_for(read_release(repo.path, "staging"))
    repo.git("checkout", "--quiet", "-B", BRANCH, f"origin/{MAIN_BRANCH}")
    overlay.render(repo.path, "staging", release)
    proposal = Proposal(
        BRANCH, title(release), body(release), (PATH,),
        nothing_to_do=f"staging already runs version {release.model_version}, image "
        f"{release.image_tag}",
    )  # fmt: skip
    outcome = propose(repo, reviews, proposal, seen, existing)
    return {**outcome, "branch": BRANCH, "commit": repo.head()}


def pending(
    reviews: ReviewProvider, wait_seconds: float, sleep: Callable[[float], None] = time.sleep
) -> ReviewRequest | None:
    """The open staging delivery, after waiting up to `wait_seconds` for it to be merged
    (or closed); None when there is none (any more)."""
    deadline = time.monotonic() + wait_seconds
    while True:
        request = reviews.find_open(BRANCH, MAIN_BRANCH)
        if request is None or time.monotonic() >= deadline:
            return request
        sleep(min(POLL_SECONDS, max(0.0, deadline - time.monotonic())))
