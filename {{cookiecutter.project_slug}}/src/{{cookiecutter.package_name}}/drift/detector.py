"""The drift detector: fitted at training time with this repo's drift library, saved with the
model, loaded back by the drift service.

A detector is saved into the artifacts of the same MLflow run as the model
(`drift_detector/`): the library's own files in `detector/`, and `drift.json` with the
library, the validated config and the model's feature names, so a detector is always
versioned with the model it watches. Loading one is a file read (milliseconds); nothing is
refitted at start-up. The library itself is imported by the first `fit` or `load`.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..settings import DRIFT_LIBRARY
from . import libraries
from .base import Detector, DriftDetectorError, DriftResult
from .config import DriftConfig, DriftConfigError, parse_config

__all__ = ["DriftDetectorError", "DriftResult", "FittedDetector", "download", "fit", "load",
           "log_to_run", "reference_sample", "save"]  # fmt: skip

ARTIFACT_PATH = "drift_detector"
CONFIG_ARTIFACT = "drift.json"
DETECTOR_DIR = "detector"


@dataclass
class FittedDetector:
    """The library's fitted detector and the config it was fitted with."""

    detector: Detector
    config: DriftConfig

    def test(self, rows: np.ndarray) -> DriftResult:
        """Test a window of full model-input rows (all features, model order)."""
        return self.detector.test(rows[:, self.config.feature_indices].astype(np.float32))


def reference_sample(reference: np.ndarray, config: DriftConfig, seed: int) -> np.ndarray:
    """At most `reference_sample_size` training rows, watched features only, reproducibly."""
    rng = np.random.default_rng(seed)
    size = min(config.reference_sample_size, len(reference))
    sample = reference[rng.choice(len(reference), size=size, replace=False)]
    return sample[:, config.feature_indices].astype(np.float32)


def fit(reference: np.ndarray, config: DriftConfig, seed: int) -> FittedDetector:
    """Fit on a sample of at most `reference_sample_size` training rows (all features)."""
    sample = reference_sample(reference, config, seed)
    return FittedDetector(libraries.load().fit(sample, config), config)


def save(fitted: FittedDetector, directory: Path, feature_names: list[str]) -> None:
    libraries.load().save(fitted.detector, directory / DETECTOR_DIR)
    document = {"library": DRIFT_LIBRARY, "config": fitted.config.as_dict(),
                "model_features": feature_names}  # fmt: skip
    (directory / CONFIG_ARTIFACT).write_text(json.dumps(document, indent=2) + "\n")


def log_to_run(fitted: FittedDetector, feature_names: list[str]) -> str:
    """Log the detector as `drift_detector/` of the active MLflow run (the model's run) and
    return the digest of what was logged (the model's MLmodel records it)."""
    import mlflow

    from ..registry import artifact_digest

    with tempfile.TemporaryDirectory() as tmp:
        save(fitted, Path(tmp), feature_names)
        digest = artifact_digest(Path(tmp))
        mlflow.log_artifacts(tmp, ARTIFACT_PATH)
    mlflow.set_tags({"drift.library": DRIFT_LIBRARY, "drift.detector": fitted.config.kind,
                     "drift.window_size": str(fitted.config.window_size)})  # fmt: skip
    return digest


def load(directory: Path, model_features: list[str]) -> FittedDetector:
    """Load a saved detector; refuse one of another library or for other model features."""
    document = json.loads((directory / CONFIG_ARTIFACT).read_text())
    saved_by = document.get("library")
    if saved_by != DRIFT_LIBRARY:
        raise DriftDetectorError(
            f"the detector was saved by {saved_by or 'an older version of this repo'}, this "
            f"repo runs {DRIFT_LIBRARY}: retrain to refit it"
        )
    if document["model_features"] != list(model_features):
        raise DriftDetectorError(
            f"the detector was fitted on features {document['model_features']}, the model "
            f"takes {list(model_features)}: retrain to refit it"
        )
    try:
        config = parse_config(document["config"])
    except DriftConfigError as error:
        raise DriftDetectorError(
            f"the detector's saved config is not valid any more ({error}): retrain to refit it"
        ) from None
    return FittedDetector(libraries.load().load(directory / DETECTOR_DIR, config), config)


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
