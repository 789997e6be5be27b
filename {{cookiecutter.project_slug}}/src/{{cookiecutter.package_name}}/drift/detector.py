"""The drift detector: fitted at training time with this repo's drift library, saved with the
model, loaded back by the drift service.

A detector watches the model's features and, fitted on what the model answered for the same
reference rows, its outputs (tasks/: what the model answers): a window
drifts when any watched feature or output does, one Bonferroni correction over them all.
A detector is saved into the artifacts of the same MLflow run as the model
(`drift_detector/`): the library's own files in `detector/` (features) and `outputs/`, and
`drift.json` with the library, the validated config, the model's feature names and the
output columns, so a detector is always versioned with the model it watches. Loading one is
a file read (milliseconds); nothing is refitted at start-up. The library itself is imported
by the first `fit` or `load`.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..settings import DRIFT_LIBRARY
from . import libraries
from .base import Detector, DriftDetectorError, DriftResult
from .config import NUMERIC_KINDS, DriftConfig, DriftConfigError, parse_config

__all__ = ["DriftDetectorError", "DriftResult", "FittedDetector", "download", "fit", "load",
           "log_to_run", "reference_sample", "save"]  # fmt: skip

ARTIFACT_PATH = "drift_detector"
CONFIG_ARTIFACT = "drift.json"
DETECTOR_DIR = "detector"
OUTPUTS_DIR = "outputs"
# The model's outputs for a matrix of features (tasks/: `task.outputs` of the fitted model).
Predict = Callable[[np.ndarray], np.ndarray]


@dataclass
class FittedDetector:
    """The library's fitted detectors (features; the model's outputs, when watched) and the
    config they were fitted with."""

    detector: Detector
    config: DriftConfig
    outputs: Detector | None = None
    output_columns: tuple[str, ...] = ()

    def test(self, rows: np.ndarray) -> DriftResult:
        """Test a window of full rows: every model feature in model order, then the model's
        outputs in `output_columns` order (when watched)."""
        width = rows.shape[1] - len(self.output_columns)  # the model's features
        features = self.detector.test(rows[:, self.config.feature_indices].astype(np.float32))
        if self.outputs is None:
            return features
        outputs = self.outputs.test(rows[:, width:].astype(np.float32))
        p_values = features.p_values | outputs.p_values
        threshold = self.config.p_value / len(p_values)  # one Bonferroni over every column
        return DriftResult(
            drift=any(p < threshold for p in p_values.values()), threshold=threshold,
            p_values=p_values, statistics=features.statistics | outputs.statistics,
        )  # fmt: skip


def outputs_config(config: DriftConfig, columns: Sequence[str]) -> DriftConfig:
    """How the outputs are tested: numbers, by the config's numeric test (else the
    Kolmogorov-Smirnov test, the tabular kind's for numbers)."""
    kind = config.kind if config.kind in NUMERIC_KINDS else "ks"
    return replace(config, kind=kind, features=tuple(columns), categorical_features=())


def _sample(reference: np.ndarray, config: DriftConfig, seed: int) -> np.ndarray:
    """At most `reference_sample_size` training rows (all features), reproducibly."""
    rng = np.random.default_rng(seed)
    size = min(config.reference_sample_size, len(reference))
    return reference[rng.choice(len(reference), size=size, replace=False)]


def reference_sample(reference: np.ndarray, config: DriftConfig, seed: int) -> np.ndarray:
    """At most `reference_sample_size` training rows, watched features only, reproducibly."""
    return _sample(reference, config, seed)[:, config.feature_indices].astype(np.float32)


def fit(reference: np.ndarray, config: DriftConfig, seed: int, predict: Predict | None = None,
        output_columns: Sequence[str] = ()) -> FittedDetector:  # fmt: skip
    """Fit on a sample of at most `reference_sample_size` training rows (all features); with
    `predict`, the outputs' detector on what the model answers for the same rows."""
    library = libraries.load()
    sample = _sample(reference, config, seed)
    fitted = FittedDetector(library.fit(sample[:, config.feature_indices].astype(np.float32),
                                        config), config)  # fmt: skip
    if predict is not None and output_columns:
        outputs = np.asarray(predict(sample), dtype=np.float32)
        fitted.outputs = library.fit(outputs, outputs_config(config, output_columns))
        fitted.output_columns = tuple(output_columns)
    return fitted


def save(fitted: FittedDetector, directory: Path, feature_names: list[str]) -> None:
    library = libraries.load()
    library.save(fitted.detector, directory / DETECTOR_DIR)
    if fitted.outputs is not None:
        library.save(fitted.outputs, directory / OUTPUTS_DIR)
    document = {"library": DRIFT_LIBRARY, "config": fitted.config.as_dict(),
                "model_features": feature_names,
                "output_columns": list(fitted.output_columns)}  # fmt: skip
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
    library = libraries.load()
    fitted = FittedDetector(library.load(directory / DETECTOR_DIR, config), config)
    columns = document.get("output_columns") or []
    if columns:  # detectors saved before outputs were watched have none
        if not all(isinstance(c, str) for c in columns):
            raise DriftDetectorError("the detector's saved output columns are not names: retrain")
        fitted.outputs = library.load(directory / OUTPUTS_DIR, outputs_config(config, columns))
        fitted.output_columns = tuple(columns)
    return fitted


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
