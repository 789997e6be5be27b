"""Training data: where it comes from and the schema it must have before any training.

`load_dataset` is the one function to replace with your own loader (a warehouse, a feature
store, ...); everything downstream only relies on FEATURES and TARGET. Files (CSV or Parquet,
local or in object storage) are read through `Table`, which batch scoring uses too.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .tasks import task

# Feature columns and their dtype kind ("f": float). Order matters: it is the model's input.
{%- if cookiecutter.task == "classification" %}
FEATURES: dict[str, str] = {
    "sepal_length_cm": "f",
    "sepal_width_cm": "f",
    "petal_length_cm": "f",
    "petal_width_cm": "f",
}
TARGET = "species"
DATA_SOURCE = "sklearn.datasets.load_iris"
{%- else %}
FEATURES: dict[str, str] = {
    "age": "f",
    "sex": "f",
    "bmi": "f",
    "blood_pressure": "f",
    "total_cholesterol": "f",
    "ldl": "f",
    "hdl": "f",
    "cholesterol_hdl_ratio": "f",
    "triglycerides_log": "f",
    "blood_sugar": "f",
}
# Disease progression one year after the baseline measurements.
TARGET = "progression"
DATA_SOURCE = "sklearn.datasets.load_diabetes"
{%- endif %}
# Tables read from files (DATA_URI, batch scoring's input), and the CSV reader's block: one
# block of text is parsed at a time.
TABLE_FORMATS = (".csv", ".parquet")
CSV_BLOCK_BYTES = 4 << 20
READ_BUFFER_BYTES = 1 << 20


class DataValidationError(ValueError):
    """The data does not have the schema the model is trained on."""


def load_dataset(uri: str | None = None) -> pd.DataFrame:
    """Return the full labelled dataset: one column per feature plus the TARGET column.

    With `uri` (the DATA_URI setting) read a CSV or Parquet table instead (`open_table`: a
    local path or object storage such as s3://bucket/key.parquet). Replace this function to
    read from anywhere else (a warehouse, a feature store); validation and training stay the
    same.
    """
    if uri:
        return open_table(uri, "DATA_URI").read_all()
{%- if cookiecutter.task == "classification" %}
    from sklearn.datasets import load_iris

    bunch = load_iris(as_frame=True)
    frame = bunch.frame.rename(
        columns=dict(zip(bunch.feature_names, FEATURES, strict=True)) | {"target": TARGET}
    )
    frame[TARGET] = pd.Categorical.from_codes(frame[TARGET], bunch.target_names).astype(str)
{%- else %}
    from sklearn.datasets import load_diabetes

    # The 442 patients of scikit-learn's copy, features mean-centred and scaled as shipped.
    bunch = load_diabetes(as_frame=True)
    frame = bunch.frame.rename(
        columns=dict(zip(bunch.feature_names, FEATURES, strict=True)) | {"target": TARGET}
    )
{%- endif %}
    return frame


class Table:
    """A CSV or Parquet table opened for reading in batches of at most `batch_rows` rows:
    training reads it whole, batch scoring (scoring.py) a batch at a time, so memory follows
    the batch, not the table. `setting` names where the address came from in every error."""

    def __init__(self, uri: str, setting: str, batch_rows: int = 65_536) -> None:
        import pyarrow.fs

        self.uri, self.setting, self.batch_rows = uri, setting, batch_rows
        self.format = next((s for s in TABLE_FORMATS if uri.lower().endswith(s)), None)
        if self.format is None:
            raise DataValidationError(f"{setting}={uri!r}: expected a .csv or .parquet file")
        try:
            self.filesystem, self.path = pyarrow.fs.FileSystem.from_uri(_absolute(uri))
            info = self.filesystem.get_file_info(self.path)
        except (OSError, ValueError) as error:  # pyarrow.ArrowException is both
            raise self.error(f"cannot be opened: {error}") from error
        if info.type != pyarrow.fs.FileType.File:
            raise self.error("no such file")
        reader = self._open()
        self.schema = reader.schema_arrow if self.format == ".parquet" else reader.schema

    def error(self, problem: str) -> DataValidationError:
        return DataValidationError(f"{self.setting}={self.uri!r}: {problem}")

    @property
    def columns(self) -> list[str]:
        return list(self.schema.names)

    def _open(self):
        """A new reader over the whole table: pyarrow's Parquet file or streaming CSV reader."""
        import pyarrow.csv
        import pyarrow.parquet

        try:
            if self.format == ".parquet":
                # No pre-buffering: pyarrow keeps every pre-buffered range until the reader
                # is gone, which made memory grow with the table (120 MB held at 3M rows).
                return pyarrow.parquet.ParquetFile(
                    self.filesystem.open_input_file(self.path), pre_buffer=False,
                    buffer_size=READ_BUFFER_BYTES,
                )  # fmt: skip
            # CSV types are inferred from the first block; a later value of another type
            # fails that batch with the column named (no silent conversion to text).
            return pyarrow.csv.open_csv(
                self.filesystem.open_input_stream(self.path),
                read_options=pyarrow.csv.ReadOptions(block_size=CSV_BLOCK_BYTES),
            )
        except (OSError, ValueError) as error:
            raise self.error(f"cannot be read: {error}") from error

    def record_batches(self) -> Iterator[Any]:
        """The table's rows in order, as pyarrow RecordBatches of at most `batch_rows` rows."""
        reader = self._open()
        source = (reader.iter_batches(batch_size=self.batch_rows)
                  if self.format == ".parquet" else reader)  # fmt: skip
        try:
            for batch in source:
                for start in range(0, batch.num_rows, self.batch_rows):
                    yield batch.slice(start, self.batch_rows)
        except (OSError, ValueError) as error:
            raise self.error(f"cannot be read: {error}") from error

    def read_all(self) -> pd.DataFrame:
        frames = [batch.to_pandas() for batch in self.record_batches()]
        if not frames:
            return pd.DataFrame({name: [] for name in self.columns})
        return pd.concat(frames, ignore_index=True)

    def digest(self) -> str:
        """sha256 of the file's bytes: which input a scoring run read."""
        digest = hashlib.sha256()
        with self.filesystem.open_input_stream(self.path) as stream:
            while block := stream.read(1 << 20):
                digest.update(block)
        return f"sha256:{digest.hexdigest()}"


def open_table(uri: str, setting: str, batch_rows: int = 65_536) -> Table:
    return Table(uri, setting, batch_rows)


def _absolute(uri: str) -> str:
    """pyarrow's filesystems take URIs or absolute paths; a relative path is the CWD's."""
    return uri if "://" in uri else str(Path(uri).resolve())


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
    validate_features(frame)
    task.check_target(frame[TARGET])
    return frame[expected]


def missing_features(columns: list[str]) -> list[str]:
    return [c for c in FEATURES if c not in columns]


def validate_features(frame: pd.DataFrame, rows: str = "") -> None:
    """Every feature column is there, numeric and finite (what the model is fed): training
    data and tables to score get the same errors. `rows` says which rows, for a batch."""
    missing = missing_features(list(frame.columns))
    if missing:
        raise DataValidationError(f"missing column(s): {', '.join(missing)}")
    for column in FEATURES:
        if frame[column].dtype.kind not in "fiu":
            raise DataValidationError(
                f"{rows}column {column!r} has dtype {frame[column].dtype}, expected a number"
            )
        bad = frame[column].isna() | ~np.isfinite(frame[column].astype(float))
        if bad.any():
            raise DataValidationError(
                f"{rows}column {column!r} has {int(bad.sum())} missing or infinite value(s)"
            )


def sample_rows(n: int = 1, seed: int = 0) -> pd.DataFrame:
    """A few real feature rows, e.g. for `make predict` and input examples."""
    return load_dataset()[list(FEATURES)].sample(n=n, random_state=seed)
