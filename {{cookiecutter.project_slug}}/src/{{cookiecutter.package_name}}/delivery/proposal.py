"""A change to the platform repo, proposed as one pull/merge request per branch.

Both of a model's requests are made this way: the staging delivery (`staging.py`, which the
platform's CI merges by itself) and the promotion to production (`promotion.py`, which a
reviewer merges). The branch is built anew from main on every run and pushed only when its
content changed; the request is opened once and then edited in place, so a re-run changes
nothing, and one that finds main already holding the change closes the obsolete request.
"""

from __future__ import annotations

from dataclasses import dataclass

from .platform_repo import MAIN_BRANCH, PlatformRepo
from .review import ReviewProvider, ReviewRequest


@dataclass(frozen=True)
class Proposal:
    branch: str
    title: str
    body: str
    paths: tuple[str, ...]  # what the commit may touch (everything else stays as main has it)
    nothing_to_do: str  # why there is nothing to propose when main holds it already


def propose(
    repo: PlatformRepo,
    reviews: ReviewProvider,
    proposal: Proposal,
    seen: str | None,
    existing: ReviewRequest | None,
) -> dict[str, str]:
    """Commit the checked-out change, push its branch and open or update its request.

    `seen` is the branch's commit when this run read it (None: absent): the push holds only
    if it is still there (`RaceLost` otherwise). `existing` is the open request from the
    branch, if any. Returns what happened, for CI logs.
    """
    if not repo.commit(proposal.title, list(proposal.paths)):
        if existing is None:
            return {"action": "none", "reason": proposal.nothing_to_do}
        closed = reviews.close(existing.number)
        return {"action": "closed", "url": closed.url, "reason": proposal.nothing_to_do}
    pushed = repo.push_branch(proposal.branch, seen)
    if existing is None:
        created = reviews.create(proposal.branch, MAIN_BRANCH, proposal.title, proposal.body)
        return {"action": "created", "url": created.url, "number": str(created.number)}
    if existing.title == proposal.title and existing.body == proposal.body:
        return {"action": "unchanged", "url": existing.url, "pushed": str(pushed).lower()}
    updated = reviews.update(existing.number, proposal.title, proposal.body)
    return {"action": "updated", "url": updated.url, "number": str(updated.number)}
