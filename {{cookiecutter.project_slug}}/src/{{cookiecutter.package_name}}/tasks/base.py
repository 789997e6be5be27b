"""What every task offers: the contract training, serving and scoring depend on.

A task is one module `tasks/<name>.py`; the generated repo keeps the one it was made with.
Its outputs are always a 2-D float array, one row per input row and one column per output
name (the task module says what they are), so the model servers, the request log and batch
scoring handle every task the same way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd


@runtime_checkable
class ModelTask(Protocol):
    """A task module; `tests/tasks/test_interface.py` checks every name."""

    NAME: str
    # The serving answer's output tensor (V2) and what its names mean.
    OUTPUT: str
    # The label of `model_predictions_total` the task counts predictions by.
    PREDICTION_LABEL: str

    def check_target(self, target: pd.Series) -> None:
        """DataValidationError naming what is wrong with the target column."""
        ...

    def stratify(self, target: pd.Series) -> pd.Series | None:
        """What the train/test split keeps in proportion (None: a plain random split)."""
        ...

    def output_names(self, model: Any) -> list[str]:
        """The names of the output columns of a fitted model."""
        ...

    def output_columns(self, names: Sequence[str]) -> list[str]:
        """The outputs' column names where they sit beside the features (batch scoring's
        output, the drift service's watched columns)."""
        ...

    def outputs(self, model: Any, matrix: np.ndarray) -> np.ndarray:
        """The model's outputs (rows x output names) for a checked feature matrix; ValueError
        when they are not finite (a model's own numeric failure is never an answer)."""
        ...

    def score(self, model: Any, features: np.ndarray, target: np.ndarray) -> dict[str, float]:
        """The held-out metrics (settings.PROMOTION_METRICS among them)."""
        ...

    def figures(self, model: Any, features: np.ndarray, target: np.ndarray) -> dict[str, Any]:
        """Evaluation plots, by file name."""
        ...

    def model_metadata(self, model: Any, target: np.ndarray) -> dict[str, Any]:
        """What the served model needs besides itself, saved in its MLmodel metadata."""
        ...

    def prediction_label_values(
        self, names: Sequence[str], metadata: Mapping[str, Any]
    ) -> list[str]:
        """Every value of PREDICTION_LABEL a served model can count (series exist from 0)."""
        ...

    def prediction_counts(
        self, outputs: np.ndarray, names: Sequence[str], metadata: Mapping[str, Any]
    ) -> dict[str, int]:
        """This request's contribution to `model_predictions_total`, by PREDICTION_LABEL value."""
        ...

    def scoring_columns(self, outputs: np.ndarray, names: Sequence[str]) -> dict[str, Any]:
        """Batch scoring's added columns (pyarrow arrays, `prediction` first)."""
        ...

    # What `compare-predictors` calls the distribution of predictions, and its distance.
    DISTRIBUTION: str
    DISTANCE: str

    def distribution(self, counts: Mapping[str, float]) -> dict[str, float]:
        """A predictor's distribution of predictions from its `model_predictions_total`
        increases by PREDICTION_LABEL value (empty when it predicted nothing)."""
        ...

    def distribution_distance(self, a: Mapping[str, float], b: Mapping[str, float]) -> float:
        """How far two distributions are apart, from 0 (the same) to 1."""
        ...

    def distribution_rows(self, a: Mapping[str, float],
                          b: Mapping[str, float]) -> list[tuple[str, float, float]]:  # fmt: skip
        """(what, share in a, share in b) rows of the comparison's table."""
        ...

    def scoring_types(self, names: Sequence[str]) -> dict[str, Any]:
        """The pyarrow types of `scoring_columns`, known before the first chunk."""
        ...

    # Model quality against ground truth (quality/): the metrics of a window of labelled
    # predictions, by name, True where a higher value is better. Each is also a held-out
    # metric of `score`, so a version's own test figure is its quality reference.
    QUALITY_METRICS: Mapping[str, bool]

    def predicted(self, outputs: Sequence[float], names: Sequence[str]) -> Any:
        """What one row's outputs predict, comparable with a label: a class name, a number."""
        ...

    def label(self, value: Any, names: Sequence[str]) -> Any:
        """A ground-truth value as `predicted` gives it; ValueError naming what is wrong."""
        ...

    def quality(self, predicted: Sequence[Any], actual: Sequence[Any]) -> dict[str, float]:
        """QUALITY_METRICS of these labelled predictions (as `score` computes them)."""
        ...
