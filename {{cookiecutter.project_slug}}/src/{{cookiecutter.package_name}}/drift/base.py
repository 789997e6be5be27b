"""What every drift library offers (`DriftLibrary`), and the window test it gives back.

Each library is one package in `libraries/`, named after it with `_` for `-`; a repo holds
only the one `settings.DRIFT_LIBRARY` names, and the rest of the package reaches it through
`libraries.kinds()` and `libraries.load()`, never by its name. A library's package holds:
- `__init__.py`: `KINDS`, the neutral drift kinds it supports (of `config.KINDS`), and in its
  docstring the library's version, licence and costs. Cheap to import: it does not import
  the library, so validating `drift.toml` stays fast.
- `detector.py`: `LIBRARY`, an instance of its `DriftLibrary` subclass. This module imports the
  library at import (seconds, for some), so fitting or loading a detector pays that once and
  the first window tested does not.

Every library gives the same verdict for a window: drift when a watched feature's p-value is
below the Bonferroni-corrected threshold (`p_value` / number of watched features), so the
alerts and dashboards mean the same whichever library runs.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Protocol

import numpy as np

if TYPE_CHECKING:
    from .config import DriftConfig


class DriftDetectorError(RuntimeError):
    """No usable detector for the served version; the message says what to do."""


@dataclass(frozen=True)
class DriftResult:
    """One window's test: per watched feature, plus the batch verdict."""

    drift: bool
    threshold: float
    p_values: dict[str, float]
    statistics: dict[str, float]

    @classmethod
    def per_feature(
        cls,
        names: Iterable[str],
        drift: object,
        threshold: float,
        p_values: Iterable[float],
        statistics: Iterable[float],
    ) -> DriftResult:
        """A result from values in the order of `names` (numpy scalars become floats)."""
        names = list(names)
        return cls(
            drift=bool(drift),
            threshold=float(threshold),
            p_values={n: float(p) for n, p in zip(names, p_values, strict=True)},
            statistics={n: float(s) for n, s in zip(names, statistics, strict=True)},
        )

    @property
    def drifted_features(self) -> list[str]:
        return [name for name, p in self.p_values.items() if p < self.threshold]


class Detector(Protocol):
    """A library's detector, fitted on a reference sample."""

    def test(self, window: np.ndarray) -> DriftResult:
        """Test a window: the watched features only, in `config.features` order, float32."""
        ...


class DriftLibrary(ABC):
    """A drift library: fits a detector per drift kind, saves it to a directory, loads it."""

    # The neutral drift kinds it supports: its package's KINDS.
    kinds: ClassVar[tuple[str, ...]]
    # The library's logger, which the drift service keeps to warnings and errors.
    logger: ClassVar[str]

    @abstractmethod
    def fit(self, reference: np.ndarray, config: DriftConfig) -> Detector:
        """Fit `config.kind` on the reference sample (watched features, config order, float32)."""

    @abstractmethod
    def save(self, detector: Detector, directory: Path) -> None:
        """Write the detector's own files into `directory` (created here)."""

    @abstractmethod
    def load(self, directory: Path, config: DriftConfig) -> Detector:
        """Read what `save` wrote; DriftDetectorError when it is missing or does not fit."""
