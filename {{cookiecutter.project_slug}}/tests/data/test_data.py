"""The dataset and its schema checks: bad data fails before training, naming the problem."""

from __future__ import annotations

import numpy as np
import pytest

from {{ cookiecutter.package_name }}.data import (
    FEATURES,
    TARGET,
    DataValidationError,
    load_dataset,
    validate_dataset,
)


def test_the_default_dataset_is_valid():
    frame = validate_dataset(load_dataset())
    assert list(frame.columns) == [*FEATURES, TARGET]
    assert len(frame) > 100


def _first_feature() -> str:
    return next(iter(FEATURES))


@pytest.mark.parametrize(
    ("corrupt", "message"),
    [
        (lambda f: f.drop(columns=[_first_feature()]), "missing column"),
        (lambda f: f.assign(extra=1.0), "unexpected column.*extra"),
        (lambda f: f.assign(**{_first_feature(): "x"}), "expected a number"),
        (lambda f: f.assign(**{_first_feature(): np.nan}), "missing or infinite"),
        (lambda f: f.assign(**{_first_feature(): np.inf}), "missing or infinite"),
        (lambda f: f.iloc[0:0], "no rows"),
    ],
)
def test_bad_data_is_rejected_with_the_column_named(corrupt, message):
    with pytest.raises(DataValidationError, match=message):
        validate_dataset(corrupt(load_dataset()))
