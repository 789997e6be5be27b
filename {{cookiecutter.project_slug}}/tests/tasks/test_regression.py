"""Regression: the target's checks, the split, the prediction as output, metrics, and the
cumulative buckets predictions are counted in."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LinearRegression
from sklearn.metrics import mean_absolute_error, r2_score, root_mean_squared_error
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from {{ cookiecutter.package_name }}.data import (
    FEATURES,
    TARGET,
    DataValidationError,
    load_dataset,
    validate_dataset,
)
from {{ cookiecutter.package_name }}.tasks import task
from {{ cookiecutter.package_name }}.validation import predict


@pytest.mark.parametrize(
    ("corrupt", "message"),
    [
        (lambda f: f.assign(**{TARGET: f[TARGET].iloc[0]}), "a single value"),
        (lambda f: f.assign(**{TARGET: np.nan}), "missing or infinite"),
        (lambda f: f.assign(**{TARGET: f[TARGET].where(f.index != 3, np.inf)}),
         "1 missing or infinite"),
        (lambda f: f.assign(**{TARGET: "high"}), "expected a number"),
    ],
)  # fmt: skip
def test_a_target_that_is_not_a_finite_varying_number_is_rejected(corrupt, message):
    with pytest.raises(DataValidationError, match=f"column '{TARGET}'.*{message}"):
        validate_dataset(corrupt(load_dataset()))


def test_the_split_is_a_plain_random_split():
    assert task.stratify(load_dataset()[TARGET]) is None


def test_the_output_is_the_prediction_and_the_metrics_are_the_errors():
    frame = load_dataset()
    features, target = frame[list(FEATURES)].to_numpy(), frame[TARGET].to_numpy()
    model = make_pipeline(LinearRegression()).fit(features, target)
    outputs = predict(model, features)
    assert task.output_names(model) == ["prediction"] and outputs.shape == (len(frame), 1)
    np.testing.assert_array_equal(outputs[:, 0], model.predict(features))
    metrics = task.score(model, features, target)
    assert metrics == pytest.approx({
        "rmse": root_mean_squared_error(target, outputs[:, 0]),
        "mae": mean_absolute_error(target, outputs[:, 0]),
        "r2": r2_score(target, outputs[:, 0]),
    })  # fmt: skip
    assert set(task.figures(model, features, target)) == {"residuals.png",
                                                           "predicted_vs_actual.png"}  # fmt: skip


def test_predictions_that_are_not_finite_are_an_error_not_an_answer():
    model = make_pipeline(FunctionTransformer(np.log), LinearRegression())
    model.fit(np.array([[1.0], [2.0], [3.0], [4.0]]), [0.0, 1.0, 2.0, 3.0])
    assert predict(model, np.array([[2.5]])).shape == (1, 1)
    with pytest.raises(ValueError, match="NaN or infinite"), np.errstate(invalid="ignore"):
        predict(model, np.array([[-1.0]]))


def test_bucket_bounds_are_quantiles_of_the_training_target():
    target = np.arange(1.0, 1001.0)
    bounds = task.model_metadata(None, target)[task.BUCKETS_KEY]
    assert bounds == sorted(bounds) and len(bounds) == len(task.BUCKET_QUANTILES)
    assert bounds[0] == pytest.approx(51, abs=1) and bounds[-1] == pytest.approx(950, abs=1)
    assert task.model_metadata(None, np.full(10, 3.0))[task.BUCKETS_KEY] == [3.0]


def test_predictions_are_counted_cumulatively_as_a_histogram():
    metadata = {task.BUCKETS_KEY: [100.0, 150.0, 200.0]}
    outputs = np.array([[90.0], [100.0], [160.0], [250.0]])
    counts = task.prediction_counts(outputs, ["prediction"], metadata)
    assert counts == {"100.0": 2, "150.0": 2, "200.0": 3, "+Inf": 4}
    assert task.prediction_label_values(["prediction"], metadata) == ["100.0", "150.0", "200.0",
                                                                      "+Inf"]  # fmt: skip
    # a model saved without bounds (or with broken ones) still counts, in +Inf alone
    assert task.prediction_counts(outputs, ["prediction"], {task.BUCKETS_KEY: ["x"]}) == {
        "+Inf": 4}  # fmt: skip


def test_the_distance_of_two_distributions_is_their_largest_cumulative_gap():
    even = task.distribution({"100.0": 25, "150.0": 50, "200.0": 75, "+Inf": 100})
    shifted = task.distribution({"100.0": 5, "150.0": 20, "200.0": 50, "+Inf": 100})
    assert even == {"100.0": 0.25, "150.0": 0.5, "200.0": 0.75}
    assert task.distribution_distance(even, shifted) == pytest.approx(0.3)
    # other bounds (another version's) are read where they fall, linearly in between
    other = task.distribution({"125.0": 30, "+Inf": 80})
    assert task.distribution_distance(even, other) == pytest.approx(0.375)
    rows = task.distribution_rows(even, shifted)
    assert rows[1] == ("predicted <= 150", 0.5, 0.2)
