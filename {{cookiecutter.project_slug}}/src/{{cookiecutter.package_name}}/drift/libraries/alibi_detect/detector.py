"""Alibi Detect's detectors behind `DriftLibrary`: fit, save with `save_detector`, load.

Importing this module imports Alibi Detect (seconds): `libraries.load()` does it when a
detector is first fitted or loaded.
"""

from __future__ import annotations

import tomllib
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from alibi_detect import cd
from alibi_detect.saving import load_detector, save_detector

from ...base import DriftDetectorError, DriftLibrary, DriftResult
from ...config import DriftConfig
from . import KINDS

# Each neutral kind and the Alibi Detect detector running that test. Their batch verdict
# uses the Bonferroni correction (their default), as every library's does.
DETECTORS = {
    "tabular": cd.TabularDrift,  # K-S for numeric features, chi-squared for categorical ones
    "ks": cd.KSDrift,
    "cvm": cd.CVMDrift,
    "chi2": cd.ChiSquareDrift,
}


@dataclass
class AlibiDetector:
    """An Alibi Detect detector and the names of the features it watches."""

    detector: Any
    features: tuple[str, ...]

    def test(self, window: np.ndarray) -> DriftResult:
        data = self.detector.predict(window, drift_type="batch")["data"]
        return DriftResult.per_feature(
            self.features, data["is_drift"], data["threshold"],
            np.atleast_1d(data["p_val"]), np.atleast_1d(data["distance"]),
        )  # fmt: skip


class AlibiDetect(DriftLibrary):
    """Alibi Detect as this repo's drift library."""

    kinds = KINDS
    logger = "alibi_detect"

    def fit(self, reference: np.ndarray, config: DriftConfig) -> AlibiDetector:
        kwargs: dict[str, Any] = {"p_val": config.p_value}
        if config.kind == "tabular":  # categories inferred from the reference sample
            kwargs["categories_per_feature"] = {
                config.features.index(name): None for name in config.categorical_features
            }
        with warnings.catch_warnings():  # "all features are numerical": that is the config
            warnings.simplefilter("ignore", UserWarning)
            detector = DETECTORS[config.kind](reference, **kwargs)
        return AlibiDetector(detector, config.features)

    def save(self, detector: AlibiDetector, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)  # else save_detector logs a warning
        save_detector(detector.detector, directory)

    def load(self, directory: Path, config: DriftConfig) -> AlibiDetector:
        """Only Alibi Detect's config format (config.toml and .npy arrays, no pickle): given a
        directory, `load_detector` would fall back to meta.dill, which runs code."""
        path = directory / "config.toml"
        unsafe = _unsafe_references(path)
        if unsafe:
            raise DriftDetectorError(
                f"{path} refers to {', '.join(unsafe)}: pickled objects are not loaded (they "
                "run code); retrain to save the detector again"
            )
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                detector = load_detector(path)  # numpy arrays without allow_pickle
        except (OSError, ValueError) as error:  # missing or unreadable files
            raise DriftDetectorError(f"{directory}: no saved detector ({error}): retrain") from None
        return AlibiDetector(detector, config.features)


PICKLED = (".dill", ".pkl", ".pickle")


def _unsafe_references(config: Path) -> list[str]:
    """Files a detector config names that would be unpickled (a preprocessing function or a
    model saved with dill); [] when there is no config (load_detector names that)."""
    try:
        document = tomllib.loads(config.read_text())
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return []

    def strings(value):
        if isinstance(value, str):
            yield value
        elif isinstance(value, dict):
            for item in value.values():
                yield from strings(item)
        elif isinstance(value, list):
            for item in value:
                yield from strings(item)

    return sorted({s for s in strings(document) if s.lower().endswith(PICKLED)})


LIBRARY = AlibiDetect()
