"""Evidently's statistical tests behind `DriftLibrary`: a reference sample, tested per feature.

Importing this module imports Evidently (seconds): `libraries.load()` does it when a
detector is first fitted or loaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from evidently.legacy.calculations.stattests import chi_stat_test, cramer_von_mises, ks_stat_test
from evidently.legacy.core import ColumnType
from scipy import stats

from ...base import DriftDetectorError, DriftLibrary, DriftResult
from ...config import DriftConfig
from . import KINDS

REFERENCE_FILE = "reference.npy"
# Evidently's tests by name, with the column type each takes.
TESTS = {
    "ks": (ks_stat_test, ColumnType.Numerical),
    "cramer_von_mises": (cramer_von_mises, ColumnType.Numerical),
    "chisquare": (chi_stat_test, ColumnType.Categorical),
}
# Each neutral kind and the test it runs on every feature (tabular: see feature_tests).
KIND_TESTS = {"ks": "ks", "cvm": "cramer_von_mises", "chi2": "chisquare"}


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
    if config.kind in KIND_TESTS:
        return [KIND_TESTS[config.kind]] * len(config.features)
    categorical = set(config.categorical_features)  # tabular
    return ["chisquare" if name in categorical else "ks" for name in config.features]


@dataclass
class EvidentlyDetector:
    """The reference sample and the config it was drawn with."""

    reference: np.ndarray
    config: DriftConfig

    def test(self, window: np.ndarray) -> DriftResult:
        threshold = self.config.p_value / len(self.config.features)  # Bonferroni
        p_values, statistics = [], []
        for index, test_name in enumerate(feature_tests(self.config)):
            reference, current = self.reference[:, index], window[:, index]
            test, column_type = TESTS[test_name]
            p_value, _ = test.func(pd.Series(reference), pd.Series(current), column_type, threshold)
            p_values.append(p_value if np.isfinite(p_value) else 0.0)
            statistics.append(STATISTICS[test_name](reference, current))
        drift = any(p < threshold for p in p_values)
        return DriftResult.per_feature(self.config.features, drift, threshold, p_values,
                                       statistics)  # fmt: skip


class Evidently(DriftLibrary):
    """Evidently's statistical tests as this repo's drift library."""

    kinds = KINDS
    logger = "evidently"

    def fit(self, reference: np.ndarray, config: DriftConfig) -> EvidentlyDetector:
        return EvidentlyDetector(reference, config)

    def save(self, detector: EvidentlyDetector, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        np.save(directory / REFERENCE_FILE, detector.reference, allow_pickle=False)

    def load(self, directory: Path, config: DriftConfig) -> EvidentlyDetector:
        path = directory / REFERENCE_FILE
        try:
            reference = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as error:
            raise DriftDetectorError(
                f"{path}: no saved reference sample ({error}): retrain"
            ) from None
        if reference.ndim != 2 or reference.shape[1] != len(config.features):
            raise DriftDetectorError(
                f"{path}: holds {reference.shape} values, expected rows x {len(config.features)} "
                "watched features: retrain to refit it"
            )
        return EvidentlyDetector(reference, config)


LIBRARY = Evidently()
