"""Checks and automation of the GitOps platform repo: render, validate, diff, registry sync."""


class PlatformError(RuntimeError):
    """Something in the repo or an outside service stops a command; the message says what."""
