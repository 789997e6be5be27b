"""Delivery: from a built commit to the GitOps platform repo, as commands CI calls.

- `registration.py`: tag the model version trained from a commit with its image and pipeline.
- `overlay.py`: write this model's Kustomize overlay for an environment (structured edits).
- `platform_repo.py`: clone, commit and push the platform repo (rebase and retry on races).
- `promotion.py`: open or update the one pull/merge request promoting staging to production.
"""


class DeliveryError(RuntimeError):
    """A delivery step cannot proceed; the message names the input or the remote at fault."""
