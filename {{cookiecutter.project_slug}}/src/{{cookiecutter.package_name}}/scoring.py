"""Batch scoring (the Prefect flow `score-<model>`): a table in, its predictions out.

The table (CSV or Parquet, a local path or object storage: data.Table, as training reads) is
scored a chunk at a time, so memory follows the chunk, not the table, with the version an
alias names (default: the champion) or a pinned version, loaded and verified as the model
server loads it. Every input row is written with its prediction, the model version and the
scoring run's MLflow id to Parquet. The output appears whole or not at all: it is written
under a temporary name beside its final one and moved there once complete. The run is logged
to MLflow (input digest, output, row count). With Kafka configured, the scored rows also go to
the request topic as request-log messages of the predictor "batch", read like served traffic
by whatever reads the request log.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import mlflow
import numpy as np
import pyarrow as pa
from prefect import flow, task
from prefect.cache_policies import NONE as NO_CACHE

from . import registry
from .data import FEATURES, DataValidationError, Table, missing_features, validate_features
from .request_log import encode_message
from .settings import (
    ALIAS_PATTERN,
    CHAMPION_ALIAS,
    MODEL_NAME,
    SCORING_CHUNK_ROWS,
    SCORING_FLOW_NAME,
    KafkaAccess,
    Settings,
    load_settings,
)
from .tasks import task as model_task

log = logging.getLogger(__name__)

MAX_CHUNK_ROWS = 1_000_000
# The columns scoring adds beside the input's: the task's (tasks/*.scoring_columns, the
# prediction first), then these two.
VERSION_COLUMN, RUN_COLUMN = "model_version", "scoring_run_id"
# Scored rows go to the request topic as request-log messages of this predictor, this many
# rows a message (well under the 1 MB a request-log reader takes).
BATCH_PREDICTOR = "batch"
MESSAGE_ROWS = 500
FLUSH_SECONDS = 60.0


class ScoringError(ValueError):
    """A scoring request this flow cannot carry out; nothing was written."""


@dataclass(frozen=True)
class ScoringResult:
    run_id: str
    model_version: str
    output_uri: str
    rows: int
    input_digest: str
    seconds: float
    messages: int  # request-log messages delivered to Kafka (0 without Kafka)


@dataclass(frozen=True)
class LoadedModel:
    model: Any
    version: str
    output_names: list[str]


def check_request(input_uri: str, output_uri: str, alias: str, version: int | None,
                  chunk_rows: int) -> Table:  # fmt: skip
    """The opened input, or ScoringError / DataValidationError naming the bad argument."""
    if not ALIAS_PATTERN.match(alias):
        raise ScoringError(f"alias {alias!r}: must be letters, digits, '-' or '_'")
    if version is not None and version < 1:
        raise ScoringError(f"version {version}: must be a positive integer")
    if not 1 <= chunk_rows <= MAX_CHUNK_ROWS:
        raise ScoringError(f"chunk_rows {chunk_rows}: must be from 1 to {MAX_CHUNK_ROWS}")
    if not output_uri.strip():
        raise ScoringError("output: empty (a .parquet file, or a folder for a new file)")
    if re.search(r"\.[A-Za-z0-9]+$", output_uri) and not output_uri.endswith(".parquet"):
        raise ScoringError(f"output {output_uri!r}: predictions are written as .parquet")
    table = Table(input_uri, "input", batch_rows=chunk_rows)
    missing = missing_features(table.columns)
    if missing:
        raise table.error(f"missing column(s): {', '.join(missing)}")
    for name in FEATURES:
        kind = table.schema.field(name).type
        if not (pa.types.is_integer(kind) or pa.types.is_floating(kind)):
            raise table.error(f"column {name!r} has dtype {kind}, expected a number")
    return table


def output_columns(output_names: list[str]) -> list[str]:
    return [*model_task.scoring_types(output_names), VERSION_COLUMN, RUN_COLUMN]


def output_schema(input_schema: pa.Schema, output_names: list[str]) -> pa.Schema:
    """The input's columns, then the ones scoring adds (the same for every chunk). The
    features (scoring refuses a missing one) and the added columns are marked as never null:
    Parquet then stores no definition levels for them, and readers know it."""
    label = pa.dictionary(pa.int32(), pa.string())
    added = [pa.field(n, kind, nullable=False)
             for n, kind in model_task.scoring_types(output_names).items()]  # fmt: skip
    added += [pa.field(VERSION_COLUMN, label, nullable=False),
              pa.field(RUN_COLUMN, label, nullable=False)]  # fmt: skip
    kept = [field.with_nullable(False) if field.name in FEATURES else field
            for field in input_schema]  # fmt: skip
    return pa.schema([*kept, *added])


def output_location(output_uri: str, version: str, run_id: str, started: datetime) -> str:
    """`output_uri` itself when it names a .parquet file; else a new file in that folder, named
    after the model, the version, the time and the run (a schedule never overwrites)."""
    if output_uri.endswith(".parquet"):
        return output_uri
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    return f"{output_uri.rstrip('/')}/{MODEL_NAME}-v{version}-{stamp}-{run_id[:8]}.parquet"


def predictions(model: LoadedModel, features: np.ndarray,
                run_id: str) -> tuple[dict[str, pa.Array], np.ndarray]:  # fmt: skip
    """The columns scoring adds to a chunk (the task's: what the model servers answer, then
    the version and the run), and the model's outputs."""
    outputs = model_task.outputs(model.model, features)
    columns = model_task.scoring_columns(outputs, model.output_names)
    constant = pa.array(np.zeros(len(features), dtype=np.int32))
    columns[VERSION_COLUMN] = pa.DictionaryArray.from_arrays(constant, pa.array([model.version]))
    columns[RUN_COLUMN] = pa.DictionaryArray.from_arrays(constant, pa.array([run_id]))
    return columns, outputs


class AtomicParquet:
    """A Parquet file written under a temporary name beside `uri` and moved to `uri` only by
    `commit()`; `abort()` (or an exception inside `with`) removes what was written."""

    def __init__(self, uri: str) -> None:
        import pyarrow.fs

        from .data import _absolute

        self.uri = uri
        self.filesystem, self.path = pyarrow.fs.FileSystem.from_uri(_absolute(uri))
        folder, _, name = self.path.rpartition("/")
        self.partial = f"{folder}/.{name}.{uuid.uuid4().hex[:12]}.partial"
        self.writer: Any = None
        if self.exists():
            raise ScoringError(f"output {uri!r} exists: choose another name or remove it")

    def exists(self) -> bool:
        import pyarrow.fs

        return self.filesystem.get_file_info(self.path).type != pyarrow.fs.FileType.NotFound

    def open(self, schema: pa.Schema) -> None:
        import pyarrow.parquet

        self.filesystem.create_dir(self.path.rpartition("/")[0], recursive=True)
        # Dictionary encoding only where it pays (labels, text): tried on every column, the
        # attempts on numbers (mostly distinct) took most of the write time. Floating-point
        # columns are not compressed: snappy finds next to nothing to shorten in measured
        # values and copying them through it was a fifth of the write time.
        labels = [f.name for f in schema if pa.types.is_dictionary(f.type)
                  or pa.types.is_string(f.type) or pa.types.is_large_string(f.type)]  # fmt: skip
        compression = {f.name: "none" if pa.types.is_floating(f.type) else "snappy"
                       for f in schema}  # fmt: skip
        self.writer = pyarrow.parquet.ParquetWriter(
            self.partial, schema, filesystem=self.filesystem, compression=compression,
            use_dictionary=labels,
        )  # fmt: skip

    def write(self, batch: pa.RecordBatch) -> None:
        self.writer.write_batch(batch)

    def commit(self) -> None:
        self.writer.close()
        if self.exists():
            raise ScoringError(f"output {self.uri!r} appeared while scoring: not overwritten")
        self.filesystem.move(self.partial, self.path)
        self.writer = None

    def abort(self) -> None:
        if self.writer is not None:
            try:
                self.writer.close()
            finally:
                self.writer = None
        with contextlib.suppress(OSError):  # nothing was written yet
            self.filesystem.delete_file(self.partial)

    def __enter__(self) -> AtomicParquet:
        return self

    def __exit__(self, kind, _value, _traceback) -> None:
        if kind is not None or self.writer is not None:
            self.abort()


class RequestTopicFeed:
    """Scored rows as request-log messages on the request topic, delivered or counted: the
    producer waits for the broker's acknowledgement and `close()` reports what failed."""

    def __init__(self, kafka: KafkaAccess, topic: str, model_name: str) -> None:
        from confluent_kafka import Producer

        self.topic, self.model_name = topic, model_name
        self.sent = self.failed = 0
        self._producer = Producer({
            **kafka.librdkafka(),
            "client.id": f"{model_name}-scoring",
            "acks": "all",
            "linger.ms": 50,
            "message.timeout.ms": int(FLUSH_SECONDS * 1000),
        })  # fmt: skip

    def send(self, run_id: str, chunk: int, version: str, output_names: list[str],
             rows: np.ndarray, outputs: np.ndarray) -> None:  # fmt: skip
        for start in range(0, len(rows), MESSAGE_ROWS):
            request_id = f"{run_id}-{chunk}-{start}"
            value = encode_message(
                request_id, self.model_name, version, BATCH_PREDICTOR, list(FEATURES),
                rows[start:start + MESSAGE_ROWS], output_names,
                outputs[start:start + MESSAGE_ROWS],
            )  # fmt: skip
            while True:
                try:
                    self._producer.produce(self.topic, key=request_id.encode(), value=value,
                                           on_delivery=self._delivered)  # fmt: skip
                    break
                except BufferError:  # librdkafka's queue is full: let it send, then retry
                    self._producer.poll(0.1)
            self._producer.poll(0)

    def _delivered(self, error: Any, _message: Any) -> None:
        if error is None:
            self.sent += 1
        else:
            self.failed += 1

    def close(self) -> None:
        self.failed += self._producer.flush(FLUSH_SECONDS)


@task(cache_policy=NO_CACHE)
def load_model(settings: Settings, alias: str, version: int | None) -> LoadedModel:
    """The version to score with, downloaded and verified as the model server verifies it."""
    client = registry.connect(settings)
    found = registry.resolve_version(client, settings, version, alias)
    local = registry.download_version(settings, str(found.version))
    model, _ = registry.load_verified(local, str(found.version), pinned_digest=None)
    return LoadedModel(model, str(found.version), model_task.output_names(model))


def score_table(
    table: Table,
    model: LoadedModel,
    output: AtomicParquet,
    run_id: str,
    feed: Callable[[int, np.ndarray, np.ndarray], None] | None = None,
) -> int:
    """Score every chunk of `table` into `output` (committed only when all succeeded); the
    rows scored. `feed(chunk, features, outputs)` sees each chunk (the request-topic feed)."""
    clash = set(table.columns) & set(output_columns(model.output_names))
    if clash:
        raise table.error(f"column(s) {', '.join(sorted(clash))} would be overwritten by the "
                          "predictions: rename them")  # fmt: skip
    schema = output_schema(table.schema, model.output_names)
    rows = 0
    # Reading the next chunk and writing the last one (pyarrow, without the interpreter lock)
    # overlap scoring this one; one chunk waits on each side, so memory stays at about three.
    with output, ThreadPoolExecutor(1, thread_name_prefix="parquet-writer") as writer:
        output.open(schema)
        waiting = None
        for chunk, batch in enumerate(read_ahead(table.record_batches())):
            matrix = feature_matrix(table, batch, first_row=rows + 1)
            added, outputs = predictions(model, matrix, run_id)
            scored = pa.RecordBatch.from_arrays([*batch.columns, *added.values()], schema=schema)
            if waiting is not None:
                waiting.result()
            waiting = writer.submit(output.write, scored)
            if feed is not None:
                feed(chunk, matrix, outputs)
            rows += batch.num_rows
        if waiting is not None:
            waiting.result()
        output.commit()
    return rows


def read_ahead(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """`batches` in order, the next one read by a thread while the caller works on this one.
    An error of the reader is raised here; leaving the loop early stops the reader."""
    handoff: queue.Queue = queue.Queue(maxsize=1)
    stop = threading.Event()
    done = object()

    def read() -> None:
        try:
            for batch in batches:
                while not stop.is_set():
                    try:
                        handoff.put((batch, None), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            item = (done, None)
        except Exception as error:  # handed to the caller's thread, raised there
            item = (done, error)
        while not stop.is_set():
            try:
                handoff.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    reader = threading.Thread(target=read, name="table-reader", daemon=True)
    reader.start()
    try:
        while True:
            batch, error = handoff.get()
            if error is not None:
                raise error
            if batch is done:
                return
            yield batch
    finally:
        stop.set()
        reader.join()


def feature_matrix(table: Table, batch: pa.RecordBatch, first_row: int) -> np.ndarray:
    """The model's input of one chunk; DataValidationError naming the rows and the column
    (the training data's errors) when a value is missing or not finite."""
    matrix = np.column_stack(
        [batch.column(name).to_numpy(zero_copy_only=False) for name in FEATURES]
    ).astype(np.float64, copy=False)
    # One sum is finite when every value is (nulls arrive as NaN), and needs no array of a
    # flag per value; a sum that overflows only sends the chunk to the exact check below.
    if not np.isfinite(matrix.sum()):
        label = f"rows {first_row}-{first_row + batch.num_rows - 1}: "
        try:
            validate_features(batch.select(list(FEATURES)).to_pandas(), rows=label)
        except DataValidationError as error:
            raise table.error(str(error)) from None
    return matrix


@flow(name=SCORING_FLOW_NAME)
def scoring_flow(
    input_uri: str,
    output_uri: str,
    alias: str = CHAMPION_ALIAS,
    version: int | None = None,
    chunk_rows: int = SCORING_CHUNK_ROWS,
) -> ScoringResult:
    """Score `input_uri` with `version` (else the version `alias` names) into `output_uri`:
    a .parquet file, or a folder where a new file is named after the version and the run."""
    settings = load_settings()
    # Bad arguments and an input without the model's columns stop here: nothing written.
    table = check_request(input_uri, output_uri, alias, version, chunk_rows)
    model = load_model(settings, alias, version)
    client = registry.connect(settings)
    experiment = registry.ensure_experiment(
        client, replace(settings, experiment_name=f"{settings.experiment_name}-scoring")
    )
    started = datetime.now(UTC)
    # A named file that exists is refused before the run; a folder gets a new file per run.
    output = AtomicParquet(output_uri) if output_uri.endswith(".parquet") else None
    with mlflow.start_run(experiment_id=experiment, run_name=f"score-v{model.version}") as run:
        run_id = run.info.run_id
        location = output_location(output_uri, model.version, run_id, started)
        output = output or AtomicParquet(location)
        digest = table.digest()
        reference = f"version {version}" if version is not None else f"alias {alias}"
        mlflow.log_params({"model_version": model.version, "model_reference": reference,
                           "chunk_rows": chunk_rows, "input_uri": input_uri})  # fmt: skip
        mlflow.set_tags({"input_digest": digest, "output_uri": location,
                         "model_name": settings.model_name})  # fmt: skip
        feed = _request_topic_feed(settings)
        clock = time.perf_counter()
        try:
            rows = score_table(table, model, output, run_id, feed=(
                None if feed is None else lambda chunk, features, outputs: feed.send(
                    run_id, chunk, model.version, model.output_names, features, outputs)
            ))  # fmt: skip
        finally:
            if feed is not None:
                feed.close()
        seconds = time.perf_counter() - clock
        mlflow.log_metrics({"rows": rows, "seconds": seconds,
                            "rows_per_second": rows / seconds if seconds else 0.0})  # fmt: skip
        if feed is not None:
            mlflow.log_metrics({"messages_sent": feed.sent,
                                "messages_failed": feed.failed})  # fmt: skip
            if feed.failed:
                log.warning("%d of %d request-log messages were not delivered to %s", feed.failed,
                            feed.sent + feed.failed, settings.request_topic)  # fmt: skip
    log.info("scored %d rows of %s with version %s into %s", rows, input_uri, model.version,
             location)  # fmt: skip
    return ScoringResult(run_id=run_id, model_version=model.version, output_uri=location,
                         rows=rows, input_digest=digest, seconds=seconds,
                         messages=feed.sent if feed else 0)  # fmt: skip


def _request_topic_feed(settings: Settings) -> RequestTopicFeed | None:
    if not settings.kafka.bootstrap_servers:
        return None
    return RequestTopicFeed(settings.kafka, settings.request_topic, settings.model_name)
