"""The drift configuration (`drift.toml`): read, validated, and carried with the detector."""

from __future__ import annotations

import tomllib
from dataclasses import asdict, dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

from ..data import FEATURES
from . import libraries

CONFIG_FILE = "drift.toml"
# The drift kinds, named after the test they run; each library maps them to its own detector
# or test, and supports all or some of them (`libraries.kinds()`).
KINDS = ("tabular", "ks", "cvm", "chi2")
NUMERIC_KINDS = ("ks", "cvm")  # numeric features only (tabular: any mix)
CATEGORICAL_KINDS = ("chi2",)  # categorical features only
# The kind names of earlier versions of this repo.
RENAMED_KINDS = {"TabularDrift": "tabular", "KSDrift": "ks", "CVMDrift": "cvm",
                 "ChiSquareDrift": "chi2"}  # fmt: skip
# A two-sample test on a handful of rows says nothing.
MIN_WINDOW_SIZE = 10
MIN_REFERENCE_SIZE = 20


class DriftConfigError(ValueError):
    """The drift configuration is invalid; the message names the key and the rule."""


@dataclass(frozen=True)
class DriftConfig:
    kind: str = "tabular"
    p_value: float = 0.05
    reference_sample_size: int = 500
    window_size: int = 200
    features: tuple[str, ...] = tuple(FEATURES)
    categorical_features: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @property
    def feature_indices(self) -> list[int]:
        """Positions of the watched features in the model's input."""
        order = list(FEATURES)
        return [order.index(name) for name in self.features]


def default_config_path() -> Path:
    return Path(str(files(__package__).joinpath(CONFIG_FILE)))


def load_config(path: Path | None = None) -> DriftConfig:
    """Read and validate a drift config file (default: the package's drift.toml)."""
    path = path or default_config_path()
    try:
        raw = tomllib.loads(path.read_text())
    except OSError as error:
        raise DriftConfigError(f"{path}: cannot be read: {error.strerror or error}") from None
    except tomllib.TOMLDecodeError as error:
        raise DriftConfigError(f"{path}: not valid TOML: {error}") from None
    try:
        return parse_config(raw)
    except DriftConfigError as error:
        raise DriftConfigError(f"{path}: {error}") from None


def parse_config(raw: dict[str, Any]) -> DriftConfig:
    """Validate a config mapping; every problem is reported, one per line."""
    problems: list[str] = []
    known = set(DriftConfig.__dataclass_fields__)
    problems += [f"unknown key {key!r} (known: {', '.join(sorted(known))})" for key in raw
                 if key not in known]  # fmt: skip

    kind = raw.get("kind", DriftConfig.kind)
    supported = [k for k in KINDS if k in libraries.kinds()]
    if isinstance(kind, str) and kind in RENAMED_KINDS:
        problems.append(f"kind={kind!r}: now named {RENAMED_KINDS[kind]!r}")
    elif kind not in supported:  # the kinds this repo's drift library offers
        problems.append(f"kind={kind!r}: must be one of {', '.join(supported)}")

    p_value = raw.get("p_value", DriftConfig.p_value)
    if not _is_number(p_value) or not 0 < p_value < 1:
        problems.append(f"p_value={p_value!r}: must be a number between 0 and 1 (exclusive)")

    sizes = {
        key: (raw.get(key, getattr(DriftConfig, key)), minimum)
        for key, minimum in (
            ("reference_sample_size", MIN_REFERENCE_SIZE),
            ("window_size", MIN_WINDOW_SIZE),
        )
    }
    for key, (value, minimum) in sizes.items():
        if not _is_integer(value) or value < minimum:
            problems.append(f"{key}={value!r}: must be an integer >= {minimum}")

    features = _names(raw, "features", problems) or list(FEATURES)
    unknown = [f for f in features if f not in FEATURES]
    if unknown:
        problems.append(
            f"features: unknown feature(s) {', '.join(map(repr, unknown))} "
            f"(model features: {', '.join(FEATURES)})"
        )
    categorical = _names(raw, "categorical_features", problems)
    outside = [f for f in categorical if f not in features]
    if outside:
        problems.append(
            f"categorical_features: {', '.join(map(repr, outside))} not among the watched features"
        )
    if kind in CATEGORICAL_KINDS and set(categorical) != set(features):
        problems.append(f"kind={kind!r} tests categories: list every watched feature "
                        "in categorical_features")  # fmt: skip
    if kind in NUMERIC_KINDS and categorical:
        problems.append(f"kind={kind!r} tests numbers only: categorical_features must be empty "
                        "(use kind='tabular' for mixed data)")  # fmt: skip

    if problems:
        raise DriftConfigError("\n".join(problems))
    return DriftConfig(
        kind=kind,
        p_value=float(p_value),
        reference_sample_size=sizes["reference_sample_size"][0],
        window_size=sizes["window_size"][0],
        # Model order, whatever order the file lists them in.
        features=tuple(f for f in FEATURES if f in features),
        categorical_features=tuple(f for f in FEATURES if f in categorical),
    )


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _names(raw: dict[str, Any], key: str, problems: list[str]) -> list[str]:
    value = raw.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        problems.append(f"{key}={value!r}: must be a list of feature names")
        return []
    duplicates = sorted({v for v in value if value.count(v) > 1})
    if duplicates:
        problems.append(f"{key}: listed twice: {', '.join(map(repr, duplicates))}")
    return value
