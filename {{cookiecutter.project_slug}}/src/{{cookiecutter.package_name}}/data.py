"""Training data: where it comes from and the schema it must have before any training.

`load_dataset` is the one function to replace with your own loader (CSV or Parquet from an
S3 path, a feature store, ...); everything downstream only relies on FEATURES and TARGET.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# Feature columns and their dtype kind ("f": float). Order matters: it is the model's input.
FEATURES: dict[str, str] = {
    "sepal_length_cm": "f",
    "sepal_width_cm": "f",
    "petal_length_cm": "f",
    "petal_width_cm": "f",
}
TARGET = "species"
DATA_SOURCE = "sklearn.datasets.load_iris"


class DataValidationError(ValueError):
    """The data does not have the schema the model is trained on."""


def load_dataset(uri: str | None = None) -> pd.DataFrame:
    """Return the full labelled dataset: one column per feature plus the TARGET column.

    With `uri` (the DATA_URI setting) read a CSV or Parquet file instead: a local path, or
    s3://... once `s3fs` is added to the dependencies. Replace this function to read from
    anywhere else (a warehouse, a feature store); validation and training stay the same.
    """
    if uri:
        return _read_table(uri)
    from sklearn.datasets import load_iris

    bunch = load_iris(as_frame=True)
    frame = bunch.frame.rename(
        columns=dict(zip(bunch.feature_names, FEATURES, strict=True)) | {"target": TARGET}
    )
    frame[TARGET] = pd.Categorical.from_codes(frame[TARGET], bunch.target_names).astype(str)
    return frame


def _read_table(uri: str) -> pd.DataFrame:
    readers = {".csv": pd.read_csv, ".parquet": pd.read_parquet}
    suffix = next((s for s in readers if uri.lower().endswith(s)), None)
    if suffix is None:
        raise DataValidationError(f"DATA_URI={uri!r}: expected a .csv or .parquet file")
    try:
        return readers[suffix](uri)
    except (OSError, ValueError, ImportError) as error:
        raise DataValidationError(f"DATA_URI={uri!r}: cannot be read: {error}") from error


def validate_dataset(frame: pd.DataFrame) -> pd.DataFrame:
    """Fail before training, naming the column and the problem; return the checked frame."""
    if frame.empty:
        raise DataValidationError("the dataset has no rows")
    expected = [*FEATURES, TARGET]
    missing = [c for c in expected if c not in frame.columns]
    if missing:
        raise DataValidationError(f"missing column(s): {', '.join(missing)}")
    extra = [c for c in frame.columns if c not in expected]
    if extra:
        raise DataValidationError(f"unexpected column(s): {', '.join(map(str, extra))}")
    for column in FEATURES:
        if frame[column].dtype.kind not in "fiu":
            raise DataValidationError(
                f"column {column!r} has dtype {frame[column].dtype}, expected a number"
            )
        bad = frame[column].isna() | ~np.isfinite(frame[column].astype(float))
        if bad.any():
            raise DataValidationError(
                f"column {column!r} has {int(bad.sum())} missing or infinite value(s)"
            )
    if frame[TARGET].isna().any():
        missing_labels = int(frame[TARGET].isna().sum())
        raise DataValidationError(f"column {TARGET!r} has {missing_labels} missing label(s)")
    if frame[TARGET].nunique() < 2:
        raise DataValidationError(f"column {TARGET!r} needs at least two classes")
    return frame[expected]


def sample_rows(n: int = 1, seed: int = 0) -> pd.DataFrame:
    """A few real feature rows, e.g. for `make predict` and input examples."""
    return load_dataset()[list(FEATURES)].sample(n=n, random_state=seed)
