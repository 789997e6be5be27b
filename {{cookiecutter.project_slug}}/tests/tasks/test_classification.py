"""Classification: the target's checks, the split, probabilities as outputs, metrics and the
counts of predicted classes."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from {{ cookiecutter.package_name }}.data import TARGET, DataValidationError, load_dataset, validate_dataset
from {{ cookiecutter.package_name }}.tasks import task
from {{ cookiecutter.package_name }}.validation import predict


@pytest.mark.parametrize(
    ("corrupt", "message"),
    [
        (lambda f: f.assign(**{TARGET: f[TARGET].iloc[0]}), "at least two classes"),
        (lambda f: f.assign(**{TARGET: None}), "missing label"),
    ],
)
def test_a_target_without_two_classes_or_with_missing_labels_is_rejected(corrupt, message):
    with pytest.raises(DataValidationError, match=f"column '{TARGET}'.*{message}"):
        validate_dataset(corrupt(load_dataset()))


def test_the_split_keeps_the_class_shares():
    target = load_dataset()[TARGET]
    assert task.stratify(target) is target


def test_outputs_are_each_class_probability_in_class_order():
    frame = load_dataset()
    model = make_pipeline(LogisticRegression(max_iter=1000)).fit(
        frame.drop(columns=[TARGET]).to_numpy(), frame[TARGET]
    )
    rows = frame.drop(columns=[TARGET]).to_numpy()[:5]
    outputs = predict(model, rows)
    assert task.output_names(model) == [str(c) for c in model.classes_]
    np.testing.assert_allclose(outputs.sum(axis=1), 1.0)
    winners = np.asarray(task.output_names(model))[outputs.argmax(axis=1)]
    assert winners.tolist() == model.predict(rows).tolist()
    features = frame.drop(columns=[TARGET]).to_numpy()
    metrics = task.score(model, features, frame[TARGET])
    predicted = model.predict(features)
    assert metrics["accuracy"] == accuracy_score(frame[TARGET], predicted)
    assert metrics["f1_macro"] == pytest.approx(f1_score(frame[TARGET], predicted, average="macro"))


def test_probabilities_that_are_not_finite_are_an_error_not_an_answer():
    # A real pipeline whose own step fails numerically: log of a negative value is NaN.
    model = make_pipeline(FunctionTransformer(np.log), LogisticRegression())
    model.fit(np.array([[1.0], [2.0], [3.0], [4.0]]), [0, 0, 1, 1])
    np.testing.assert_array_equal(
        predict(model, np.array([[2.5]])), model.predict_proba(np.array([[2.5]]))
    )
    with pytest.raises(ValueError, match="NaN or infinite"), np.errstate(invalid="ignore"):
        predict(model, np.array([[-1.0]]))


def test_predictions_are_counted_by_most_probable_class():
    outputs = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.6, 0.3, 0.1]])
    assert task.prediction_counts(outputs, ["a", "b", "c"], {}) == {"a": 2, "b": 1}
    assert task.prediction_counts(outputs[1:2], ["a", "b", "c"], {}) == {"b": 1}
    shares = task.distribution({"a": 30.0, "b": 10.0})
    assert shares == {"a": 0.75, "b": 0.25}
    assert task.distribution_distance(shares, {"a": 0.25, "b": 0.25, "c": 0.5}) == 0.5
