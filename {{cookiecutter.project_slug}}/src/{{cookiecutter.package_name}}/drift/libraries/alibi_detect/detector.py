"""Fit the drift detector with Alibi Detect at training time, save it with the model, load it.

The detector is saved with Alibi Detect's `save_detector` into `drift_detector/detector/` of
the model's MLflow run (`base.py`). Loading one is a file read (milliseconds); nothing is
refitted at start-up. Importing this module imports Alibi Detect, which takes seconds (it
loads transformers): the training flow imports it only inside its drift task.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from alibi_detect import cd
from alibi_detect.saving import load_detector, save_detector

from . import base
from .base import DETECTOR_DIR, DriftDetectorError, DriftResult, download
from .config import DriftConfig

__all__ = ["DriftDetectorError", "DriftResult", "FittedDetector", "download", "fit", "load",
           "log_to_run", "save"]  # fmt: skip


@dataclass
class FittedDetector:
    """An Alibi Detect detector and the config it was fitted with."""

    detector: Any
    config: DriftConfig

    def test(self, rows: np.ndarray) -> DriftResult:
        """Test a window of full model-input rows (all features, model order)."""
        window = rows[:, self.config.feature_indices]
        data = self.detector.predict(window, drift_type="batch")["data"]
        p_values, statistics = np.atleast_1d(data["p_val"]), np.atleast_1d(data["distance"])
        names = self.config.features
        return DriftResult(
            drift=bool(data["is_drift"]),
            threshold=float(data["threshold"]),
            p_values={n: float(p) for n, p in zip(names, p_values, strict=True)},
            statistics={n: float(s) for n, s in zip(names, statistics, strict=True)},
        )


def fit(reference: np.ndarray, config: DriftConfig, seed: int) -> FittedDetector:
    """Fit on a sample of at most `reference_sample_size` training rows (all features)."""
    x_ref = base.reference_sample(reference, config, seed)
    kwargs: dict[str, Any] = {"p_val": config.p_value}
    if config.kind == "TabularDrift":  # categories inferred from the reference sample
        kwargs["categories_per_feature"] = {
            config.features.index(name): None for name in config.categorical_features
        }
    with warnings.catch_warnings():  # "all features are numerical": that is the config
        warnings.simplefilter("ignore", UserWarning)
        detector = getattr(cd, config.kind)(x_ref, **kwargs)
    return FittedDetector(detector, config)


def save(fitted: FittedDetector, directory: Path, feature_names: list[str]) -> None:
    save_detector(fitted.detector, directory / DETECTOR_DIR)
    base.write_config(fitted.config, directory, feature_names)


def log_to_run(fitted: FittedDetector, feature_names: list[str]) -> None:
    """Log the detector as `drift_detector/` of the active MLflow run (the model's run)."""
    base.log_to_run(lambda directory: save(fitted, directory, feature_names), fitted.config)


def load(directory: Path, model_features: list[str]) -> FittedDetector:
    """Load a saved detector; refuse one fitted for other model features."""
    config = base.read_config(directory, model_features)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        detector = load_detector(directory / DETECTOR_DIR)
    return FittedDetector(detector, config)
