"""Fit the drift detector at training time, log it with the model, load it back to serve.

The detector is saved with Alibi Detect's `save_detector` into the artifacts of the same
MLflow run as the model (`drift_detector/`), next to `drift.json`: the validated config and
the feature names. Loading one is a file read (milliseconds); nothing is refitted at start-up.
Importing this module imports Alibi Detect, which takes seconds (it loads transformers): the
training flow imports it only inside its drift task.
"""

from __future__ import annotations

import json
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from alibi_detect import cd
from alibi_detect.saving import load_detector, save_detector

from .config import DriftConfig, parse_config

ARTIFACT_PATH = "drift_detector"
CONFIG_ARTIFACT = "drift.json"
DETECTOR_DIR = "detector"


class DriftDetectorError(RuntimeError):
    """No usable detector for the served version; the message says what to do."""


@dataclass(frozen=True)
class DriftResult:
    """One window's test: per watched feature, plus the batch verdict."""

    drift: bool
    threshold: float
    p_values: dict[str, float]
    statistics: dict[str, float]

    @property
    def drifted_features(self) -> list[str]:
        return [name for name, p in self.p_values.items() if p < self.threshold]


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
    rng = np.random.default_rng(seed)
    size = min(config.reference_sample_size, len(reference))
    sample = reference[rng.choice(len(reference), size=size, replace=False)]
    x_ref = sample[:, config.feature_indices].astype(np.float32)
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
    document = {"config": fitted.config.as_dict(), "model_features": feature_names}
    (directory / CONFIG_ARTIFACT).write_text(json.dumps(document, indent=2) + "\n")


def log_to_run(fitted: FittedDetector, feature_names: list[str]) -> None:
    """Log the detector as `drift_detector/` of the active MLflow run (the model's run)."""
    import mlflow

    with tempfile.TemporaryDirectory() as tmp:
        save(fitted, Path(tmp), feature_names)
        mlflow.log_artifacts(tmp, ARTIFACT_PATH)
    mlflow.set_tags({"drift.detector": fitted.config.kind,
                     "drift.window_size": str(fitted.config.window_size)})  # fmt: skip


def load(directory: Path, model_features: list[str]) -> FittedDetector:
    """Load a saved detector; refuse one fitted for other model features."""
    document = json.loads((directory / CONFIG_ARTIFACT).read_text())
    if document["model_features"] != list(model_features):
        raise DriftDetectorError(
            f"the detector was fitted on features {document['model_features']}, the model "
            f"takes {list(model_features)}: retrain to refit it"
        )
    config = parse_config(document["config"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        detector = load_detector(directory / DETECTOR_DIR)
    return FittedDetector(detector, config)


def download(run_id: str, version: str, destination: Path) -> Path:
    """Fetch `drift_detector/` of the model version's run; clear error when it has none."""
    import mlflow
    from mlflow.exceptions import MlflowException

    try:
        path = mlflow.artifacts.download_artifacts(
            run_id=run_id, artifact_path=ARTIFACT_PATH, dst_path=str(destination)
        )
    except (MlflowException, OSError) as error:
        raise DriftDetectorError(
            f"model version {version} (run {run_id}) has no drift detector: it was trained "
            f"without one; retrain it with drift detection enabled ({error})"
        ) from None
    if not (Path(path) / CONFIG_ARTIFACT).exists():
        raise DriftDetectorError(
            f"model version {version} (run {run_id}) has an incomplete drift detector: retrain it"
        )
    return Path(path)
