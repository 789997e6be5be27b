"""The template's newest version proposed as one pull/merge request (CI's scheduled job).

A fresh clone of this repo, the branch `template/update` built anew from main, `cruft update`
to the newest tag, then the same proposal as delivery's (`proposal.py`): pushed only when its
content changed, the request opened once and edited in place after; a repo that is current
gets none, and an open one is closed.
"""

from __future__ import annotations

from .. import template_update
from .platform_repo import MAIN_BRANCH, PlatformRepo
from .proposal import Proposal, propose
from .review import ReviewProvider


def propose_update(repo: PlatformRepo, reviews: ReviewProvider, cruft: str) -> dict[str, str]:
    """Clone, branch from main, apply the newest version, push, open or update the request."""
    repo.clone()
    status = template_update.check(repo.path)
    branch = template_update.BRANCH
    existing = reviews.find_open(branch, MAIN_BRANCH)
    if not status.behind:
        if existing is None:
            return {"action": "none", "reason": f"the template is current ({status.current})"}
        closed = reviews.close(existing.number)
        return {"action": "closed", "url": closed.url, "reason": "the template is current"}
    seen = repo.remote_branch(branch)
    repo.git("checkout", "--quiet", "-B", branch, f"origin/{MAIN_BRANCH}")
    found = template_update.apply(repo.path, status.tag, cruft)
    changes = template_update.changelog(status.template, status.tag, status.current,
                                        status.latest)  # fmt: skip
    proposal = Proposal(
        branch,
        template_update.title(status),
        template_update.body(status, changes, found),
        (".",),  # files with conflict markers are committed as they are (the body lists them)
        nothing_to_do="the update changes nothing",
    )
    outcome = propose(repo, reviews, proposal, seen, existing)
    return {**outcome, "from": status.current, "to": status.latest, "conflicts": ",".join(found)}
