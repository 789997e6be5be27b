"""The task this repo was made for offers the whole ModelTask interface, and its outputs fit
everything that carries them (serving answers, metrics, batch scoring)."""

from __future__ import annotations

import inspect
import typing

import numpy as np
import pyarrow as pa
import pytest

from {{ cookiecutter.package_name }}.data import FEATURES, TARGET, load_dataset
from {{ cookiecutter.package_name }}.evaluation import evaluate
from {{ cookiecutter.package_name }}.model import build_model
from {{ cookiecutter.package_name }}.settings import DEFAULT_PROMOTION_METRIC, PROMOTION_METRICS, TASK
from {{ cookiecutter.package_name }}.tasks import ModelTask, task
from {{ cookiecutter.package_name }}.validation import predict


@pytest.fixture(scope="module")
def fitted():
    frame = load_dataset()
    features, target = frame[list(FEATURES)].to_numpy(), frame[TARGET].to_numpy()
    return build_model(seed=0).fit(features, target), features, target


def test_the_task_module_is_the_one_the_settings_name():
    assert task.__name__.endswith(f".tasks.{TASK}") and task.NAME == TASK


def test_every_name_of_the_interface_exists_with_its_signature():
    assert isinstance(task, ModelTask)
    for name, declared in vars(ModelTask).items():
        if name.startswith("_") or not inspect.isfunction(declared):
            continue
        wanted = list(inspect.signature(declared).parameters)[1:]  # without self
        offered = list(inspect.signature(getattr(task, name)).parameters)
        assert offered == wanted, f"{name}{tuple(offered)}: the interface says {tuple(wanted)}"
    for name in typing.get_type_hints(ModelTask, include_extras=False):
        assert hasattr(task, name), name


def test_outputs_have_one_column_per_output_name(fitted):
    model, features, _ = fitted
    outputs = predict(model, features[:7])
    assert outputs.shape == (7, len(task.output_names(model))) and outputs.dtype == float
    np.testing.assert_array_equal(outputs, task.outputs(model, features[:7]))


def test_the_evaluation_has_every_promotion_metric_and_plots(fitted):
    model, features, target = fitted
    evaluation = evaluate(model, features, target)
    assert DEFAULT_PROMOTION_METRIC in PROMOTION_METRICS
    assert set(PROMOTION_METRICS) <= set(evaluation.metrics)
    assert all(np.isfinite(v) for v in evaluation.metrics.values())
    assert evaluation.figures and all(name.endswith(".png") for name in evaluation.figures)


def test_prediction_counts_use_only_the_label_values_a_served_model_declares(fitted):
    model, features, target = fitted
    metadata = task.model_metadata(model, target)
    declared = task.prediction_label_values(task.output_names(model), metadata)
    for rows in (features[:1], features):
        counts = task.prediction_counts(task.outputs(model, rows), task.output_names(model),
                                        metadata)  # fmt: skip
        assert set(counts) <= set(declared), set(counts) - set(declared)
        assert all(isinstance(n, int) and 0 <= n <= len(rows) for n in counts.values())


def test_scoring_columns_have_the_declared_types(fitted):
    model, features, _ = fitted
    names = task.output_names(model)
    columns = task.scoring_columns(task.outputs(model, features), names)
    types = task.scoring_types(names)
    assert list(columns) == list(types) and next(iter(columns)) == "prediction"
    for name, column in columns.items():
        assert column.type == types[name] and len(column) == len(features), name
        assert isinstance(column, pa.Array)


def test_a_distribution_is_at_distance_zero_from_itself_and_at_most_one_from_another(fitted):
    model, features, target = fitted
    metadata = task.model_metadata(model, target)
    names = task.output_names(model)
    counts = task.prediction_counts(task.outputs(model, features), names, metadata)
    half = task.prediction_counts(task.outputs(model, features[::2]), names, metadata)
    mine, other = task.distribution(counts), task.distribution(half)
    assert task.distribution_distance(mine, mine) == 0
    assert 0 <= task.distribution_distance(mine, other) <= 1
    assert task.distribution({}) == {}
    rows = task.distribution_rows(mine, other)
    assert rows and all(0 <= a <= 1 and 0 <= b <= 1 for _, a, b in rows)
