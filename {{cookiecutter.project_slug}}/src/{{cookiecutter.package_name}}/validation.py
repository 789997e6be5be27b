"""Prediction input checks shared by every serving runtime: bad input is a 400, never a 500."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

import numpy as np

# Far beyond any real request; protects the server from a payload that would exhaust memory.
MAX_ROWS = 10_000
# Rows x features of one request, checked from a tensor's shape before anything is allocated.
MAX_VALUES = 1_000_000
# The largest request body either transport takes: gRPC's default message limit, so REST and
# gRPC refuse the same requests (413 over REST, RESOURCE_EXHAUSTED over gRPC). ~10,000 rows
# of a few features in the most verbose JSON form fit.
MAX_REQUEST_BYTES = 4 * 1024 * 1024
# Far beyond any real feature value; near float64's limit (1.8e308) preprocessing overflows
# ((x - mean) / std of a scaler gives inf) and the model would fail with a 500.
MAX_ABSOLUTE_VALUE = 1e15


# The value types a JSON number decodes to, and numpy's own; never bool (a JSON true/false).
NUMBER_TYPES = frozenset({float, int, np.float64, np.int64})


class InvalidInput(ValueError):
    """The request cannot be predicted on; the message names what is wrong."""


def check_dimensions(rows: int, columns: int) -> None:
    """Refuse a request's declared shape before anything of that shape is allocated (a
    60-byte tensor of shape [10000000, 0] would otherwise cost gigabytes of empty rows)."""
    if rows > MAX_ROWS:
        raise InvalidInput(f"the request has {rows} rows; at most {MAX_ROWS} are allowed")
    if rows * columns > MAX_VALUES:
        raise InvalidInput(
            f"the request has {rows} x {columns} values; at most {MAX_VALUES} are allowed"
        )


def too_large_message(size: int | None) -> str:
    """The reason of a 413: the limit, and the size when it is known."""
    of = f" of {size} bytes" if size is not None else ""
    return f"the request body{of} is larger than the limit of {MAX_REQUEST_BYTES} bytes"


def _from_json_shapes(rows: object, names: Sequence[str] | None):
    """Turn JSON records or columns into rows plus names."""
    if isinstance(rows, dict):
        columns = {str(k): v for k, v in rows.items()}
        if not all(isinstance(v, list) for v in columns.values()):
            raise InvalidInput("a mapping of columns must map each feature to a list of values")
        lengths = {len(v) for v in columns.values()}
        if len(lengths) > 1:
            raise InvalidInput("all columns must have the same number of values")
        check_dimensions(lengths.pop() if lengths else 0, len(columns))
        return [list(row) for row in zip(*columns.values(), strict=True)], list(columns)
    if isinstance(rows, list) and rows and all(isinstance(r, dict) for r in rows):
        keys = [str(k) for k in rows[0]]
        for index, record in enumerate(rows):
            if [str(k) for k in record] != keys:
                raise InvalidInput(f"record {index} has different fields from record 0")
        return [list(record.values()) for record in rows], keys
    return rows, names


def to_feature_matrix(
    rows: object, names: Sequence[str] | None, expected: Sequence[str]
) -> np.ndarray:
    """Return a float matrix with columns in model order, or raise InvalidInput.

    `rows` is a 2-D array or list of rows (names in `names`), a single flat row, a list of
    records ({feature: value}) or a mapping of columns ({feature: [values]}). A numeric numpy
    array (what the runtimes' decoders make of a well-formed request) skips the per-value type
    check: its values were checked as they were decoded.
    """
    if isinstance(rows, np.ndarray) and rows.dtype.kind in "fiu":
        array = rows
    else:
        if isinstance(rows, list) and len(rows) > MAX_ROWS:  # before any copy of them
            check_dimensions(len(rows), 0)
        rows, names = _from_json_shapes(rows, names)
        try:
            array = np.asarray(rows, dtype=object)
        except ValueError as error:  # ragged nested lists
            raise InvalidInput(f"rows must all have the same length: {error}") from None
    if array.ndim == 1 and array.size == 0:
        raise InvalidInput("the request has no rows")
    if array.ndim == 1:
        if array.dtype == object and any(
            isinstance(item, list | tuple | np.ndarray) for item in array
        ):
            raise InvalidInput("rows must all have the same length")
        array = array.reshape(1, -1)  # a single flat row
    if array.ndim != 2:
        raise InvalidInput(
            f"expected a 2-D array of rows x {len(expected)} features, "
            f"got {array.ndim} dimension(s)"
        )
    if array.shape[0] == 0:
        raise InvalidInput("the request has no rows")
    if array.shape[0] > MAX_ROWS:
        raise InvalidInput(f"the request has {array.shape[0]} rows; at most {MAX_ROWS} are allowed")
    if array.shape[1] != len(expected):
        raise InvalidInput(
            f"each row must have {len(expected)} values ({', '.join(expected)}), "
            f"got {array.shape[1]}"
        )
    if names:
        names = [str(n) for n in names]
        if names != list(expected):
            array = array[:, _column_order(names, expected)]
    if array.dtype == object:
        matrix = _numeric_fast_path(array)
        if matrix is None:
            matrix = _numeric_checked(array, expected)
    else:
        matrix = array.astype(float, copy=False)
    # One pass for both: NaN and infinities fail `<=` as well.
    in_range = np.abs(matrix) <= MAX_ABSOLUTE_VALUE
    if not in_range.all():
        row, column = np.argwhere(~in_range)[0]
        value = matrix[row, column]
        if not np.isfinite(value):
            raise InvalidInput(f"row {row}, feature {expected[column]!r}: NaN or infinite value")
        raise InvalidInput(
            f"row {row}, feature {expected[column]!r}: {value:g} is beyond "
            f"+/-{MAX_ABSOLUTE_VALUE:g}"
        )
    return matrix


def predict(model: Any, matrix: np.ndarray) -> np.ndarray:
    """The model's outputs (tasks/: rows x output names) for a matrix `to_feature_matrix`
    returned.

    That matrix is finite and bounded already, so scikit-learn is told not to check it again
    (its check is ~13 % of a single-row prediction); outputs that are not finite (a model's
    own numeric failure) raise ValueError, so they are never an answer.
    """
    from sklearn import config_context  # here: clients import this module without sklearn

    from .tasks import task

    with config_context(assume_finite=True):
        return task.outputs(model, matrix)


def _column_order(names: list[str], expected: Sequence[str]) -> list[int]:
    """The request's column index of each model feature, or InvalidInput."""
    if sorted(names) != sorted(expected) or len(set(names)) != len(names):
        unknown = sorted(set(names) - set(expected))
        missing = sorted(set(expected) - set(names))
        raise InvalidInput(
            f"feature names must be exactly {', '.join(expected)}"
            + (f"; unknown: {', '.join(unknown)}" if unknown else "")
            + (f"; missing: {', '.join(missing)}" if missing else "")
        )
    return [names.index(column) for column in expected]


def _numeric_fast_path(array: np.ndarray) -> np.ndarray | None:
    """The common case, all plain numbers: convert without a check per value."""
    if {type(value) for value in array.flat} <= NUMBER_TYPES:
        with contextlib.suppress(OverflowError):  # e.g. 2**2000: the checked path names it
            return array.astype(float)
    return None


def _numeric_checked(array: np.ndarray, expected: Sequence[str]) -> np.ndarray:
    matrix = np.empty(array.shape, dtype=float)
    for (row, column), value in np.ndenumerate(array):
        if isinstance(value, bool) or not isinstance(value, int | float | np.number):
            raise InvalidInput(
                f"row {row}, feature {expected[column]!r}: expected a number, got {value!r}"[:300]
            )
        try:
            matrix[row, column] = value
        except OverflowError:
            raise InvalidInput(
                f"row {row}, feature {expected[column]!r}: {value!r} is out of range"
            ) from None
    return matrix
