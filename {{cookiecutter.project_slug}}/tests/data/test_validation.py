"""Prediction input checks: every kind of bad payload is an InvalidInput with a clear message."""

from __future__ import annotations

import numpy as np
import pytest

from {{ cookiecutter.package_name }}.data import FEATURES
from {{ cookiecutter.package_name }}.validation import (
    MAX_ROWS,
    MAX_VALUES,
    InvalidInput,
    check_dimensions,
    to_feature_matrix,
)

NAMES = list(FEATURES)
ROW = [5.1, 3.5, 1.4, 0.2][: len(NAMES)] + [1.0] * max(0, len(NAMES) - 4)


def test_rows_are_reordered_by_feature_name():
    shuffled = list(reversed(NAMES))
    matrix = to_feature_matrix([list(reversed(ROW))], shuffled, NAMES)
    assert matrix.tolist() == [ROW]


def test_a_single_flat_row_is_accepted():
    assert to_feature_matrix(ROW, None, NAMES).shape == (1, len(NAMES))


@pytest.mark.parametrize(
    ("rows", "names", "message"),
    [
        ([], None, "no rows"),
        ([[]], None, "each row must have"),
        ([ROW[:-1]], None, "each row must have"),
        ([ROW, ROW[:-1]], None, "same length|each row must have"),
        ([[ROW]], None, "2-D"),
        ([ROW], [*NAMES[:-1], "bogus"], "unknown: bogus"),
        ([ROW], [NAMES[0]] * len(NAMES), "feature names must be exactly"),
        ([["a", *ROW[1:]]], None, "expected a number"),
        ([[None, *ROW[1:]]], None, "expected a number"),
        ([[True, *ROW[1:]]], None, "expected a number"),
        ([[float("nan"), *ROW[1:]]], None, "NaN or infinite"),
        ([ROW] * (MAX_ROWS + 1), None, "at most"),
        (7, None, "dimension"),
    ],
)
def test_bad_input_is_named(rows, names, message):
    with pytest.raises(InvalidInput, match=message):
        to_feature_matrix(rows, names, NAMES)


@pytest.mark.parametrize(
    ("rows", "columns", "message"),
    [
        (MAX_ROWS + 1, 0, f"{MAX_ROWS + 1} rows; at most {MAX_ROWS}"),
        (10**12, 10**12, "10000000000000 rows|at most"),
        (MAX_ROWS, MAX_VALUES // MAX_ROWS + 1, f"at most {MAX_VALUES} are allowed"),
    ],
)
def test_a_declared_shape_over_the_bounds_is_named(rows, columns, message):
    with pytest.raises(InvalidInput, match=message):
        check_dimensions(rows, columns)


def test_a_declared_shape_within_the_bounds_passes():
    check_dimensions(MAX_ROWS, MAX_VALUES // MAX_ROWS)
    check_dimensions(1, len(NAMES))


def test_many_rows_are_refused_before_they_are_copied():
    rows = [[]] * (MAX_ROWS + 1)  # what a small JSON body of empty rows decodes to
    with pytest.raises(InvalidInput, match=f"{MAX_ROWS + 1} rows"):
        to_feature_matrix(rows, None, NAMES)
    columns = {name: [1.0] * (MAX_ROWS + 1) for name in NAMES}
    with pytest.raises(InvalidInput, match=f"{MAX_ROWS + 1} rows"):
        to_feature_matrix(columns, None, NAMES)


def test_numpy_input_passes_through():
    matrix = to_feature_matrix(np.array([ROW, ROW]), NAMES, NAMES)
    assert matrix.dtype == float and matrix.shape == (2, len(NAMES))


def test_huge_integers_are_named_not_crashed():
    with pytest.raises(InvalidInput, match="out of range"):
        to_feature_matrix([[2**2000, *ROW[1:]]], None, NAMES)


def test_values_that_would_overflow_the_model_are_named():
    with pytest.raises(InvalidInput, match="beyond"):
        to_feature_matrix([[-1e308, *ROW[1:]]], None, NAMES)


def test_a_numeric_array_skips_the_value_check_but_not_the_others():
    assert to_feature_matrix(np.array([ROW], dtype=np.int64), None, NAMES).dtype == float
    with pytest.raises(InvalidInput, match="NaN or infinite"):
        to_feature_matrix(np.array([[np.inf, *ROW[1:]]]), None, NAMES)
    with pytest.raises(InvalidInput, match="each row must have"):
        to_feature_matrix(np.array([ROW[:-1]]), None, NAMES)
    with pytest.raises(InvalidInput, match="expected a number"):  # bools are not numbers
        to_feature_matrix(np.array([[True] * len(NAMES)]), None, NAMES)
