"""Fit the drift detector with Evidently's statistical tests (Apache-2.0) at training time.

"Fitting" keeps a reproducible sample of the training rows: the reference the tests compare
each window against. It is saved as `reference.npy` (no pickle) into
`drift_detector/detector/` of the model's MLflow run (`base.py`), next to `drift.json`.

The detector kinds of `drift.toml` map to Evidently's tests: KSDrift -> `ks`
(Kolmogorov-Smirnov), CVMDrift -> `cramer_von_mises`, ChiSquareDrift -> `chisquare`, and
TabularDrift -> `chisquare` for the categorical features and `ks` for the others. Evidently
decides with each feature's p-value; the batch verdict uses the Bonferroni-corrected
threshold (p-value / number of features), as the other library's detectors do, so alerts mean
the same whichever library runs. Evidently reports no test statistic: the statistic of the
same test comes from SciPy, for the per-feature statistic panel.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from evidently.legacy.calculations.stattests import chi_stat_test, cramer_von_mises, ks_stat_test
from evidently.legacy.core import ColumnType
from scipy import stats

from . import base
from .base import DETECTOR_DIR, DriftDetectorError, DriftResult, download
from .config import DriftConfig

__all__ = ["DriftDetectorError", "DriftResult", "FittedDetector", "download", "fit", "load",
           "log_to_run", "save"]  # fmt: skip

REFERENCE_FILE = "reference.npy"
# Evidently's tests by name, with the column type each takes.
TESTS = {
    "ks": (ks_stat_test, ColumnType.Numerical),
    "cramer_von_mises": (cramer_von_mises, ColumnType.Numerical),
    "chisquare": (chi_stat_test, ColumnType.Categorical),
}


def _chi_square_statistic(reference: np.ndarray, current: np.ndarray) -> float:
    """Pearson's statistic of the current counts against the reference's proportions."""
    keys = np.union1d(reference, current)
    expected = np.array([(reference == k).sum() for k in keys]) * len(current) / len(reference)
    observed = np.array([(current == k).sum() for k in keys])
    with np.errstate(divide="ignore", invalid="ignore"):  # a category unseen in training: inf
        return float(np.sum(np.where(expected > 0, (observed - expected) ** 2 / expected,
                                     np.where(observed > 0, np.inf, 0.0))))  # fmt: skip


STATISTICS = {
    "ks": lambda ref, cur: float(stats.ks_2samp(ref, cur).statistic),
    "cramer_von_mises": lambda ref, cur: float(stats.cramervonmises_2samp(ref, cur).statistic),
    "chisquare": _chi_square_statistic,
}


def feature_tests(config: DriftConfig) -> list[str]:
    """Evidently's test for each watched feature, in `config.features` order."""
    if config.kind == "KSDrift":
        return ["ks"] * len(config.features)
    if config.kind == "CVMDrift":
        return ["cramer_von_mises"] * len(config.features)
    if config.kind == "ChiSquareDrift":
        return ["chisquare"] * len(config.features)
    categorical = set(config.categorical_features)
    return ["chisquare" if name in categorical else "ks" for name in config.features]


@dataclass
class FittedDetector:
    """The reference sample and the config it was drawn with."""

    reference: np.ndarray
    config: DriftConfig

    def test(self, rows: np.ndarray) -> DriftResult:
        """Test a window of full model-input rows (all features, model order)."""
        window = rows[:, self.config.feature_indices].astype(np.float32)
        threshold = self.config.p_value / len(self.config.features)  # Bonferroni
        p_values, statistics = {}, {}
        for index, (name, test_name) in enumerate(
            zip(self.config.features, feature_tests(self.config), strict=True)
        ):
            reference, current = self.reference[:, index], window[:, index]
            test, column_type = TESTS[test_name]
            p_value, _ = test.func(pd.Series(reference), pd.Series(current), column_type, threshold)
            p_values[name] = float(p_value) if np.isfinite(p_value) else 0.0
            statistics[name] = STATISTICS[test_name](reference, current)
        drift = any(p < threshold for p in p_values.values())
        return DriftResult(drift, threshold, p_values, statistics)


def fit(reference: np.ndarray, config: DriftConfig, seed: int) -> FittedDetector:
    """Keep a sample of at most `reference_sample_size` training rows (all features)."""
    return FittedDetector(base.reference_sample(reference, config, seed), config)


def save(fitted: FittedDetector, directory: Path, feature_names: list[str]) -> None:
    (directory / DETECTOR_DIR).mkdir(parents=True, exist_ok=True)
    np.save(directory / DETECTOR_DIR / REFERENCE_FILE, fitted.reference, allow_pickle=False)
    base.write_config(fitted.config, directory, feature_names)


def log_to_run(fitted: FittedDetector, feature_names: list[str]) -> None:
    """Log the detector as `drift_detector/` of the active MLflow run (the model's run)."""
    base.log_to_run(lambda directory: save(fitted, directory, feature_names), fitted.config)


def load(directory: Path, model_features: list[str]) -> FittedDetector:
    """Load a saved detector; refuse one fitted for other model features."""
    config = base.read_config(directory, model_features)
    path = directory / DETECTOR_DIR / REFERENCE_FILE
    try:
        reference = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise DriftDetectorError(f"{path}: no saved reference sample ({error}): retrain") from None
    if reference.ndim != 2 or reference.shape[1] != len(config.features):
        raise DriftDetectorError(
            f"{path}: holds {reference.shape} values, expected rows x {len(config.features)} "
            "watched features: retrain to refit it"
        )
    return FittedDetector(reference, config)
