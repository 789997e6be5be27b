"""What every drift library shares: the reference sample, the test result, and the detector's
place in MLflow.

A detector is saved into the artifacts of the same MLflow run as the model
(`drift_detector/`): the library's own files in `detector/`, and `drift.json` with the
validated config and the model's feature names, so a detector is always versioned with the
model it watches. `detector.py` holds the library-specific fitting, saving and loading.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

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


def reference_sample(reference: np.ndarray, config: DriftConfig, seed: int) -> np.ndarray:
    """At most `reference_sample_size` training rows, watched features only, reproducibly."""
    rng = np.random.default_rng(seed)
    size = min(config.reference_sample_size, len(reference))
    sample = reference[rng.choice(len(reference), size=size, replace=False)]
    return sample[:, config.feature_indices].astype(np.float32)


def write_config(config: DriftConfig, directory: Path, feature_names: list[str]) -> None:
    document = {"config": config.as_dict(), "model_features": feature_names}
    (directory / CONFIG_ARTIFACT).write_text(json.dumps(document, indent=2) + "\n")


def read_config(directory: Path, model_features: list[str]) -> DriftConfig:
    """The saved config; refuse a detector fitted for other model features."""
    document = json.loads((directory / CONFIG_ARTIFACT).read_text())
    if document["model_features"] != list(model_features):
        raise DriftDetectorError(
            f"the detector was fitted on features {document['model_features']}, the model "
            f"takes {list(model_features)}: retrain to refit it"
        )
    return parse_config(document["config"])


def log_to_run(save: Callable[[Path], None], config: DriftConfig) -> None:
    """Log what `save(directory)` writes as `drift_detector/` of the active MLflow run."""
    import mlflow

    with tempfile.TemporaryDirectory() as tmp:
        save(Path(tmp))
        mlflow.log_artifacts(tmp, ARTIFACT_PATH)
    mlflow.set_tags({"drift.detector": config.kind, "drift.window_size": str(config.window_size)})


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
