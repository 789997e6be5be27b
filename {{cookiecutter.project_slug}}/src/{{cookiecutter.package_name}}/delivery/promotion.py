"""The promotion pull/merge request: production runs what staging runs, after review.

One request per model, from the branch `promote/<model>-production`: a new staging release
updates it (force-pushed branch, edited title and body) instead of opening another, and
re-running with nothing new changes nothing. The body compares the candidate's held-out
metrics with the current champion's, from the registry. This module is the orchestration and
the text; the forge's API is the repo's provider in `review/`.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..settings import MODEL_NAME
from . import DeliveryError, rollout
from .platform_repo import MAIN_BRANCH, PlatformRepo
from .proposal import Proposal, propose
from .release import Release, VersionFacts, read_release
from .review import ReviewProvider, ReviewRequest
from .rollout import Strategy

BRANCH = f"promote/{MODEL_NAME}-production"
REPOSITORY_URL = re.compile(r"^(?:https://[^/]+/|git@[^:/]+:)(?P<path>.+?)/?$")
REPOSITORY_PATH = re.compile(r"^[\w.-]+(?:/[\w.-]+)+$")


def repository_path(url: str) -> str:
    """`owner/name` (or `group/sub/name`) of an https or ssh git URL."""
    match = REPOSITORY_URL.match(url)
    path = match["path"].removesuffix(".git") if match else ""
    if not REPOSITORY_PATH.match(path):
        raise DeliveryError(
            f"platform repo URL {url!r}: expected https://HOST/OWNER/NAME(.git) "
            "or git@HOST:OWNER/NAME.git"
        )
    return path


def title(release: Release, strategy: Strategy | None = None) -> str:
    how = "" if strategy is None or strategy.name == "replace" else f" as a {strategy.name}"
    return (
        f"Promote {MODEL_NAME} version {release.model_version} "
        f"(image {release.image_tag}) to production{how}"
    )


def body(
    release: Release,
    candidate: VersionFacts | None,
    champion: VersionFacts | None,
    strategy: Strategy | None = None,
) -> str:
    if strategy is None or strategy.name == "replace":
        lead = "Production will run what staging runs now"
    else:
        lead = (
            f"Rollout ({strategy.describe()}): production keeps its version as the `default` "
            "predictor and runs what staging runs now as the `candidate`"
        )
    lines = [
        f"{lead}: **{MODEL_NAME}** model version "
        f"**{release.model_version}**, image tag `{release.image_tag}`.",
        "",
    ]
    if candidate is None:
        lines.append("The registry has no metrics for this version.")
    else:
        against = champion.version if champion else None
        lines += [
            f"| metric | version {candidate.version} | champion "
            f"{'(version ' + against + ')' if against else '(none)'} | change |",
            "| --- | ---: | ---: | ---: |",
        ]
        for name, value in sorted(candidate.metrics.items()):
            old = champion.metrics.get(name) if champion else None
            change = f"{value - old:+.4f}" if old is not None else "n/a"
            shown = f"{old:.4f}" if old is not None else "n/a"
            lines.append(f"| {name} | {value:.4f} | {shown} | {change} |")
        if candidate.decision:
            lines += ["", f"Training decision: `{candidate.decision}`."]
        if champion and champion.version == candidate.version:
            lines += ["", "This version is the champion already."]
    lines += [
        "",
        "Merging deploys it: Argo CD syncs `models/"
        f"{MODEL_NAME}/production`, then the registry's `production` alias follows.",
    ]
    return "\n".join(lines) + "\n"


def open_promotion(
    repo: PlatformRepo,
    reviews: ReviewProvider,
    facts: tuple[VersionFacts | None, VersionFacts | None] | None = None,
    strategy: Strategy | None = None,
    end: str | None = None,
    comparison: str | None = None,
    pending_delivery: ReviewRequest | None = None,
) -> dict[str, str]:
    """Branch from main with production changed, push it, open or update the request.

    The change is a promotion of staging's release with `strategy` (replace by default), or
    `end` = "finish" / "abort" of the rollout production runs (with `comparison`, the
    predictors' figures and verdict, in the body). `facts` maps the candidate
    version to (candidate, champion) for the body; None skips the comparison.
    `pending_delivery`: a staging delivery not merged yet (the body says this promotes what
    staging runs now). Invalid requests (a second rollout, nothing to finish) fail before
    anything is committed. Returns what happened, for CI logs.
    """
    seen = repo.remote_branch(BRANCH)
    repo.git("checkout", "--quiet", "-B", BRANCH, f"origin/{MAIN_BRANCH}")
    if end is None:
        strategy = strategy or Strategy()
        rollout.start(repo.path, strategy)
        release = read_release(repo.path, "staging")
        new_title = title(release, strategy)
        candidate, champion = facts if facts else (None, None)
        new_body = body(release, candidate, champion, strategy)
    else:
        ended = rollout.finish(repo.path) if end == "finish" else rollout.abort(repo.path)
        release = ended.candidate if end == "finish" else ended.stable
        verb = "Finish" if end == "finish" else "Abort"
        new_title = (
            f"{verb} the {ended.strategy.name} rollout of {MODEL_NAME} version "
            f"{ended.candidate.model_version}"
        )
        new_body = (
            f"{verb} the rollout ({ended.strategy.describe()}): production will run "
            f"**{MODEL_NAME}** version **{release.model_version}** (image `{release.image_tag}`) "
            "alone, as its `default` predictor.\n"
        )
        if comparison:
            new_body += "\n" + comparison
    if pending_delivery is not None and end is None:
        new_body += (
            f"\nA newer staging delivery is not merged yet ({pending_delivery.url}): this "
            "request promotes what staging runs now, and the next run of `open-promotion` after "
            "it merged updates it.\n"
        )
    proposal = Proposal(
        BRANCH, new_title, new_body, (str(Path("models") / MODEL_NAME / "production"),),
        nothing_to_do="production already runs what staging runs",
    )  # fmt: skip
    # Asked only now: a refused request (above) makes no API call.
    return propose(repo, reviews, proposal, seen, reviews.find_open(BRANCH, MAIN_BRANCH))
