"""The model's task: one module per task, behind the interface in `base.py`.

`task` is the chosen task's module (`tasks/<TASK>.py`): what the target must look like, how
the data is split, the held-out metrics and plots, what the model answers (its outputs and
their names) and how predictions are counted in the serving metrics. Training, evaluation,
the model servers, batch scoring and the drift service reach task facts only through it.
"""

from __future__ import annotations

from importlib import import_module
from typing import cast

from ..settings import TASK
from .base import ModelTask

task = cast(ModelTask, import_module(f"{__name__}.{TASK}"))

__all__ = ["ModelTask", "task"]
