"""Delivery: from a built commit to the GitOps platform repo, as commands CI calls.

- `release.py`: what an environment runs (a Release) and the YAML the others read and write.
- `registration.py`: tag the model version trained from a commit with its image and pipeline.
- `overlay.py`: write this model's Kustomize overlay for an environment (structured edits).
- `rollout.py`: replace production, or run a canary, shadow or A/B rollout beside it (the
  serving runtime's `runtimes/<name>/rollout.py` writes it in its own resource shape).
- `platform_repo.py`: clone and commit the platform repo, push a branch (only over what this
  run read: a run that lost a race starts over).
- `proposal.py`: a change proposed as one pull/merge request per branch, opened once, then
  updated in place (or closed once main holds it).
- `staging.py`: the staging delivery request, which the platform's CI merges by itself.
- `promotion.py`: open or update the one pull/merge request promoting staging to production;
  `review/` holds the forge's pull/merge request API (one module per CI provider).
- `comparison.py`: a rollout's two predictors side by side, from Prometheus.
- `contract.py`: what the cluster does with the rendered manifests, checked before it does.

Modules import in one direction only (release.py imports none of the others): no import
cycle, which tests/test_structure.py checks.
"""


class DeliveryError(RuntimeError):
    """A delivery step cannot proceed; the message names the input or the remote at fault."""
