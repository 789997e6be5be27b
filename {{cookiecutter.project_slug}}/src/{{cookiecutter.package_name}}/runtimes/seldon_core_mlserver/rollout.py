"""This runtime's rollouts: two predictors of its SeldonDeployment
(runtimes/seldon_deployment/rollout.py)."""

from ..seldon_deployment.rollout import end, read, start

__all__ = ["end", "read", "start"]
