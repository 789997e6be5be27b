"""Batch scoring in process: chunked output equals one prediction over the table, bad
input is refused naming the problem, and no failure leaves an output (or a part of one)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.parquet
import pytest

from {{ cookiecutter.package_name }}.data import FEATURES, TARGET, DataValidationError, load_dataset
from {{ cookiecutter.package_name }}.model import build_model
from {{ cookiecutter.package_name }}.scoring import (
    RUN_COLUMN,
    VERSION_COLUMN,
    AtomicParquet,
    LoadedModel,
    ScoringError,
    check_request,
    output_columns,
    output_location,
    score_table,
)
from {{ cookiecutter.package_name }}.tasks import task

NAMES = list(FEATURES)


@pytest.fixture(scope="module")
def model() -> LoadedModel:
    frame = load_dataset()
    fitted = build_model(seed=0).fit(frame[NAMES].to_numpy(), frame[TARGET].to_numpy())
    return LoadedModel(fitted, "7", task.output_names(fitted))


def table_of(rows: int, seed: int = 0) -> pd.DataFrame:
    """`rows` rows drawn from the dataset, with an id column the output must carry along."""
    frame = load_dataset().sample(n=rows, replace=True, random_state=seed)
    return frame[NAMES].assign(customer_id=np.arange(rows)).reset_index(drop=True)


def write(frame: pd.DataFrame, path) -> str:
    if str(path).endswith(".csv"):
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False)
    return str(path)


def leftovers(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".") or "out" in p.name)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_table_is_scored_in_chunks_exactly_as_one_prediction_over_it(tmp_path, model, suffix):
    frame = table_of(2_345)
    source = write(frame, tmp_path / f"in{suffix}")
    table = check_request(source, str(tmp_path / "out.parquet"), "champion", None, 500)
    rows = score_table(table, model, AtomicParquet(str(tmp_path / "out.parquet")), "run-1")
    assert rows == len(frame)

    scored = pyarrow.parquet.read_table(tmp_path / "out.parquet").to_pandas()
    assert len(scored) == len(frame)
    pd.testing.assert_series_equal(scored["customer_id"], frame["customer_id"])
    outputs = task.outputs(model.model, frame[NAMES].to_numpy())
    expected = task.scoring_columns(outputs, model.output_names)
    assert next(iter(expected)) == "prediction"
    for name, column in expected.items():
        if pyarrow.types.is_floating(column.type):
            np.testing.assert_allclose(scored[name], column.to_numpy(), rtol=0, atol=1e-12)
        else:
            assert scored[name].astype(str).tolist() == column.to_pylist(), name
    assert set(scored[VERSION_COLUMN].astype(str)) == {"7"}
    assert set(scored[RUN_COLUMN].astype(str)) == {"run-1"}
    assert leftovers(tmp_path) == ["out.parquet"]


def test_the_output_says_which_columns_are_never_null_and_keeps_the_nulls_of_the_others(
    tmp_path, model
):
    notes = pd.array([None if i % 3 else f"note {i}" for i in range(1_000)], dtype="string")
    source = write(table_of(1_000).assign(note=notes), tmp_path / "in.parquet")
    table = check_request(source, str(tmp_path / "out.parquet"), "champion", None, 300)
    score_table(table, model, AtomicParquet(str(tmp_path / "out.parquet")), "run-1")

    written = pyarrow.parquet.ParquetFile(tmp_path / "out.parquet")
    schema = written.schema_arrow
    added = output_columns(model.output_names)
    assert schema.names == [*NAMES, "customer_id", "note", *added]
    # Scoring refuses a missing feature and fills every added column: Parquet stores them
    # as required. The columns it only carries along keep their nulls.
    assert [n for n in schema.names if not schema.field(n).nullable] == [*NAMES, *added]
    assert written.read(columns=["note"]).column(0).null_count == 666
    # Floating-point columns are stored uncompressed (snappy finds little in them), the
    # others with snappy.
    chunk = written.metadata.row_group(0)
    for i, name in enumerate(schema.names):
        floating = pyarrow.types.is_floating(schema.field(name).type)
        assert chunk.column(i).compression == ("UNCOMPRESSED" if floating else "SNAPPY"), name


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_table_without_a_feature_is_refused_before_anything_is_written(tmp_path, suffix):
    source = write(table_of(10).drop(columns=[NAMES[1]]), tmp_path / f"in{suffix}")
    with pytest.raises(DataValidationError, match=f"input=.*missing column.*{NAMES[1]}"):
        check_request(source, str(tmp_path / "out.parquet"), "champion", None, 100)
    assert leftovers(tmp_path) == []


def test_a_feature_of_text_is_refused_naming_the_column(tmp_path):
    source = write(table_of(10).assign(**{NAMES[0]: "wide"}), tmp_path / "in.parquet")
    with pytest.raises(DataValidationError, match=f"column '{NAMES[0]}' has dtype string"):
        check_request(source, str(tmp_path / "out.parquet"), "champion", None, 100)


@pytest.mark.parametrize(
    ("corrupt", "message"),
    [
        (lambda f: f.assign(**{NAMES[2]: f[NAMES[2]].where(f.index != 1_700)}),
         "rows 1501-2000: column '{}' has 1 missing or infinite"),
        (lambda f: f.assign(**{NAMES[2]: f[NAMES[2]].where(f.index != 1_700, np.inf)}),
         "rows 1501-2000: column '{}' has 1 missing or infinite"),
    ],
)  # fmt: skip
def test_a_bad_value_mid_way_leaves_no_output_and_no_partial_file(tmp_path, model, corrupt,
                                                                  message):  # fmt: skip
    source = write(corrupt(table_of(3_000)), tmp_path / "in.parquet")
    table = check_request(source, str(tmp_path / "out.parquet"), "champion", None, 500)
    with pytest.raises(DataValidationError, match=message.format(NAMES[2])):
        score_table(table, model, AtomicParquet(str(tmp_path / "out.parquet")), "run-1")
    assert leftovers(tmp_path) == []


def test_text_in_a_later_block_of_a_csv_fails_that_batch_with_no_output(tmp_path, model):
    row = ",".join(str(v) for v in load_dataset()[NAMES].iloc[0])
    bad = ",".join(["oops", *row.split(",")[1:]])
    lines = [",".join([*NAMES, "customer_id"])]
    lines += [f"{row},{i}" for i in range(300_000)] + [f"{bad},9"]
    source = tmp_path / "in.csv"
    source.write_text("\n".join(lines) + "\n")
    table = check_request(str(source), str(tmp_path / "out.parquet"), "champion", None, 50_000)
    with pytest.raises(DataValidationError, match=r"input=.*cannot be read"):
        score_table(table, model, AtomicParquet(str(tmp_path / "out.parquet")), "run-1")
    assert leftovers(tmp_path) == []


def test_an_existing_output_is_never_overwritten(tmp_path, model):
    source = write(table_of(20), tmp_path / "in.parquet")
    (tmp_path / "out.parquet").write_bytes(b"yesterday's scores")
    with pytest.raises(ScoringError, match=r"out\.parquet' exists"):
        AtomicParquet(str(tmp_path / "out.parquet"))
    assert (tmp_path / "out.parquet").read_bytes() == b"yesterday's scores"
    del source


def test_an_input_column_named_like_an_output_column_is_refused(tmp_path, model):
    source = write(table_of(20).assign(prediction=1.0), tmp_path / "in.parquet")
    table = check_request(source, str(tmp_path / "out.parquet"), "champion", None, 100)
    with pytest.raises(DataValidationError, match="prediction would be overwritten"):
        score_table(table, model, AtomicParquet(str(tmp_path / "out.parquet")), "run-1")
    assert leftovers(tmp_path) == []


def test_an_empty_table_gets_an_empty_output_with_every_column(tmp_path, model):
    source = write(table_of(5).iloc[0:0], tmp_path / "in.parquet")
    table = check_request(source, str(tmp_path / "out.parquet"), "champion", None, 100)
    assert score_table(table, model, AtomicParquet(str(tmp_path / "out.parquet")), "r") == 0
    scored = pyarrow.parquet.read_table(tmp_path / "out.parquet")
    assert scored.num_rows == 0 and "prediction" in scored.column_names


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"alias": "no such/alias"}, "alias 'no such/alias'"),
        ({"version": 0}, "version 0: must be a positive"),
        ({"chunk_rows": 0}, "chunk_rows 0: must be from 1"),
        ({"output_uri": "out.csv"}, "written as .parquet"),
        ({"output_uri": " "}, "output: empty"),
        ({"input_uri": "in.json"}, "input='in.json': expected a .csv or .parquet"),
        ({"input_uri": "missing.parquet"}, "input='missing.parquet': no such file"),
    ],
)
def test_bad_arguments_are_refused_naming_the_argument(tmp_path, monkeypatch, change, message):
    monkeypatch.chdir(tmp_path)
    write(table_of(5), tmp_path / "in.parquet")
    request = {"input_uri": "in.parquet", "output_uri": "out.parquet", "alias": "champion",
               "version": None, "chunk_rows": 100} | change  # fmt: skip
    with pytest.raises((ScoringError, DataValidationError), match=message):
        check_request(**request)


def test_a_folder_output_gets_a_new_file_per_run(tmp_path):
    from datetime import UTC, datetime

    when = datetime(2026, 12, 3, 4, 5, 6, tzinfo=UTC)
    first = output_location("s3://scores/daily/", "3", "a" * 32, when)
    assert first.startswith("s3://scores/daily/") and first.endswith(".parquet")
    assert "-v3-20261203T040506Z-aaaaaaaa" in first
    assert output_location("s3://scores/daily", "3", "b" * 32, when) != first
    assert output_location(str(tmp_path / "x.parquet"), "3", "a", when) == str(
        tmp_path / "x.parquet"
    )
