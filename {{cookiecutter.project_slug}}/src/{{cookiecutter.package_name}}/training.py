"""The training flow (Prefect): data, split, optional tuning, fit, evaluate, register.

Run it with `make train` (or `{{ cookiecutter.project_slug }} train --reason ...`); the Prefect
deployment in prefect.yaml runs the same flow on a schedule or when a drift alert asks.
Every version it registers can be traced to its data digest, code commit, parameters and
evaluation, and only a version that beats the champion moves forward.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from importlib.metadata import version as installed_version
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.data.code_dataset_source import CodeDatasetSource
from mlflow.models import infer_signature
from prefect import flow, get_run_logger, task
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline

from . import model as estimator
from . import registry
from .data import DATA_SOURCE, FEATURES, TARGET, load_dataset, validate_dataset
{%- if cookiecutter.include_drift_detection %}
from .drift.config import DriftConfig, load_config
{%- endif %}
from .evaluation import evaluate, score
from .model import build_model
from .settings import FLOW_NAME, MODEL_NAME, TEMPLATE_VERSION, Settings, load_settings
from .tasks import task as model_task
from .tuning import search

# Recorded with the model so its environment is explicit (and logging skips ~6 s of inference).
MODEL_REQUIREMENTS = ("scikit-learn", "numpy", "pandas")


@dataclass(frozen=True)
class Split:
    train: pd.DataFrame
    test: pd.DataFrame

    def features(self, part: str) -> np.ndarray:
        # Plain arrays, as the server sees them; column names live in the MLflow signature.
        return getattr(self, part)[list(FEATURES)].to_numpy()

    def target(self, part: str) -> np.ndarray:
        return getattr(self, part)[TARGET].to_numpy()


@dataclass(frozen=True)
class TrainingResult:
    version: str
    run_id: str
    metrics: dict[str, float]
    decision: str


@task
def load_data(data_uri: str | None) -> pd.DataFrame:
    return validate_dataset(load_dataset(data_uri))


@task
def split_data(frame: pd.DataFrame, seed: int, test_size: float) -> Split:
    train, test = train_test_split(
        frame, test_size=test_size, random_state=seed, stratify=model_task.stratify(frame[TARGET])
    )
    return Split(train=train, test=test)


@task
def fit(split: Split, seed: int, trials: int) -> Pipeline:
    features, target = split.features("train"), split.target("train")
    params = search(features, target, trials=trials, seed=seed) if trials else {}
    return build_model(seed).set_params(**params).fit(features, target)


@task
def score_champion(split: Split, settings: Settings) -> tuple[Any, float | None]:
    """Re-score the current champion on this run's evaluation data (same data, fair test)."""
    client = mlflow.MlflowClient()
    champion = registry.champion_version(client, settings.model_name)
    if champion is None:
        return None, None
    model = mlflow.sklearn.load_model(f"models:/{settings.model_name}/{champion.version}")
    metrics = score(model, split.features("test"), split.target("test"))
    return champion, metrics[settings.promotion_metric]


@task
def register(
    model: Pipeline,
    split: Split,
    metrics: dict[str, float],
    settings: Settings,
    detector_digest: str | None = None,
) -> tuple[str, registry.PromotionDecision]:
    """Register the version, then record the decision and move the aliases it earns. The
    drift detector's digest and the task's serving metadata go into the model's MLmodel,
    under the version's own digest.

    Registration is all or nothing: if anything after the version's creation fails, the
    version is deleted again so no half-registered version is left behind.
    """
    champion, champion_score = score_champion(split, settings)
    example = split.test[list(FEATURES)].head(3)
    # The signature's outputs are what the model servers answer: one column per output name.
    outputs = model_task.outputs(model, example.to_numpy())
    answer = pd.DataFrame(outputs, columns=model_task.output_names(model))
    metadata = model_task.model_metadata(model, split.target("train"))
    if detector_digest:
        metadata[registry.DETECTOR_DIGEST_KEY] = detector_digest
    model_info = mlflow.sklearn.log_model(
        model,
        name="model",
        signature=infer_signature(example, answer),
        input_example=example,
        pip_requirements=[f"{p}=={installed_version(p)}" for p in MODEL_REQUIREMENTS],
        registered_model_name=MODEL_NAME,
        metadata=metadata or None,
        skops_trusted_types=list(estimator.TRUSTED_TYPES) or None,
    )
    version = str(model_info.registered_model_version)
    client = mlflow.MlflowClient()
    try:
        for name, value in metrics.items():
            client.set_model_version_tag(MODEL_NAME, version, f"metric.{name}", f"{value:.6f}")
        decision = registry.decide(
            metrics[settings.promotion_metric], champion, champion_score, settings
        )
        registry.apply_decision(client, MODEL_NAME, version, decision)
    except Exception:
        client.delete_model_version(MODEL_NAME, version)
        raise
    return version, decision


{% if cookiecutter.include_drift_detection -%}
@task
def fit_drift_detector(split: Split, config: DriftConfig, seed: int, model: Pipeline) -> str:
    """Fit the drift detector on training rows and the model's outputs for them, and log it
    in this run, beside the model; the digest of what was logged."""
    from .drift import detector

    fitted = detector.fit(
        split.features("train"), config, seed,
        predict=lambda rows: model_task.outputs(model, rows),
        output_columns=model_task.output_columns(model_task.output_names(model)),
    )  # fmt: skip
    return detector.log_to_run(fitted, list(FEATURES))


{% endif -%}
def _git_commit() -> str:
    if os.environ.get("GIT_COMMIT"):  # set by CI, where the image has no .git
        return os.environ["GIT_COMMIT"]
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return out.stdout.strip() if out.returncode == 0 else "unknown"


def _log_dataset(frame: pd.DataFrame, context: str, source: str) -> str:
    dataset = mlflow.data.from_pandas(
        frame, source=CodeDatasetSource({"loader": source}), targets=TARGET, name=context
    )
    mlflow.log_input(dataset, context=context)
    return dataset.digest


@flow(name=FLOW_NAME)
def training_flow(reason: str = "manual") -> TrainingResult:
    """Train, evaluate and register a new version; `reason` is recorded on the run."""
    settings = load_settings()
    logger = get_run_logger()
    client = registry.connect(settings)  # fails fast when the registry is unreachable
    experiment_id = registry.ensure_experiment(client, settings)

{%- if cookiecutter.include_drift_detection %}
    # An invalid drift config stops here too, before any run exists.
    drift_config = load_config(settings.drift_config_path)
{%- endif %}
    frame = load_data(settings.data_uri)  # invalid data stops here, before any run exists
    split = split_data(frame, settings.random_seed, settings.test_size)
    with mlflow.start_run(experiment_id=experiment_id, run_name=f"train-{reason}") as run:
        mlflow.log_params(
            {
                "seed": settings.random_seed,
                "test_size": settings.test_size,
                "tuning_trials": settings.tuning_trials,
                "promotion_metric": settings.promotion_metric,
                "promotion_margin": settings.promotion_margin,
            }
        )
        source = settings.data_uri or DATA_SOURCE
        digest = _log_dataset(split.train, "training", source)
        _log_dataset(split.test, "evaluation", source)
        mlflow.set_tags(
            {
                "git_commit": _git_commit(),
                "template_version": TEMPLATE_VERSION,
                "data_digest": digest,
                "training_reason": reason,
            }
        )
        model = fit(split, settings.random_seed, settings.tuning_trials)
        mlflow.log_params({f"model.{k}": v for k, v in model[-1].get_params().items()})
        detector_digest = None
{%- if cookiecutter.include_drift_detection %}
        detector_digest = fit_drift_detector(split, drift_config, settings.random_seed, model)
{%- endif %}
        evaluation = evaluate(model, split.features("test"), split.target("test"))
        mlflow.log_metrics(evaluation.metrics)
        for filename, figure in evaluation.figures.items():
            mlflow.log_figure(figure, f"evaluation/{filename}")
        version, decision = register(model, split, evaluation.metrics, settings, detector_digest)
        mlflow.set_tags(decision.as_tags() | {"model_version": version})
    logger.info(
        "registered %s version %s (%s): %s", MODEL_NAME, version, decision.decision,
        evaluation.metrics,
    )  # fmt: skip
    return TrainingResult(
        version=version, run_id=run.info.run_id, metrics=evaluation.metrics,
        decision=decision.decision,
    )  # fmt: skip
