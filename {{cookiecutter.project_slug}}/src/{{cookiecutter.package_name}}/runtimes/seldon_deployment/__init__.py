"""What the runtimes on Seldon Core 1 share: the SeldonDeployment's rollouts (`rollout.py`),
whatever server its pods run."""
