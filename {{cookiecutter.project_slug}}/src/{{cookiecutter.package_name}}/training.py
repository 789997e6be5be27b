"""The training flow (Prefect): data, split, optional tuning, fit, evaluate, register.

Run it with `make train` (or `{{ cookiecutter.project_slug }} train`). Every model version it
registers can be traced to its data digest, code commit, parameters and evaluation.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from importlib.metadata import version as installed_version
from typing import Any

import mlflow
import pandas as pd
from mlflow.data.code_dataset_source import CodeDatasetSource
from mlflow.models import infer_signature
from prefect import flow, get_run_logger, task
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline

from . import registry
from .data import DATA_SOURCE, FEATURES, TARGET, load_dataset, validate_dataset
from .model import build_model
from .settings import MODEL_NAME, STAGING_ALIAS, TEMPLATE_VERSION, Settings, load_settings
from .tuning import search

# Recorded with the model so its environment is explicit (and logging skips ~6 s of inference).
MODEL_REQUIREMENTS = ("scikit-learn", "numpy", "pandas")


@dataclass(frozen=True)
class Split:
    train: pd.DataFrame
    test: pd.DataFrame


@dataclass(frozen=True)
class TrainingResult:
    version: str
    run_id: str
    metrics: dict[str, float]


@task
def load_data() -> pd.DataFrame:
    return validate_dataset(load_dataset())


@task
def split_data(frame: pd.DataFrame, seed: int, test_size: float) -> Split:
    train, test = train_test_split(
        frame, test_size=test_size, random_state=seed, stratify=frame[TARGET]
    )
    return Split(train=train, test=test)


@task
def fit(split: Split, seed: int, trials: int) -> Pipeline:
    # Plain arrays, as the server sees them; column names live in the MLflow signature.
    features, labels = split.train[list(FEATURES)].to_numpy(), split.train[TARGET].to_numpy()
    params = search(features, labels, trials=trials, seed=seed) if trials else {}
    return build_model(seed).set_params(**params).fit(features, labels)


@task
def evaluate(model: Pipeline, split: Split) -> dict[str, float]:
    predicted = model.predict(split.test[list(FEATURES)].to_numpy())
    return {
        "accuracy": float(accuracy_score(split.test[TARGET], predicted)),
        "f1_macro": float(f1_score(split.test[TARGET], predicted, average="macro")),
    }


@task
def register(model: Pipeline, split: Split, metrics: dict[str, float]) -> tuple[str, str]:
    """Log the model with its data and signature, register it, point `staging` at it."""
    example = split.test[list(FEATURES)].head(3)
    model_info = mlflow.sklearn.log_model(
        model,
        name="model",
        signature=infer_signature(example, model.predict_proba(example.to_numpy())),
        input_example=example,
        pip_requirements=[f"{p}=={installed_version(p)}" for p in MODEL_REQUIREMENTS],
        registered_model_name=MODEL_NAME,
    )
    version = str(model_info.registered_model_version)
    client = mlflow.MlflowClient()
    client.set_registered_model_alias(MODEL_NAME, STAGING_ALIAS, version)
    for name, value in metrics.items():
        client.set_model_version_tag(MODEL_NAME, version, f"metric.{name}", f"{value:.6f}")
    return version, mlflow.active_run().info.run_id


def _git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=False
        )
    except OSError:
        return "unknown"
    return out.stdout.strip() if out.returncode == 0 else "unknown"


def _log_dataset(frame: pd.DataFrame, context: str) -> str:
    source = CodeDatasetSource({"loader": DATA_SOURCE})
    dataset = mlflow.data.from_pandas(frame, source=source, targets=TARGET, name=context)
    mlflow.log_input(dataset, context=context)
    return dataset.digest


@flow(name=f"train-{MODEL_NAME}")
def training_flow(reason: str = "manual", test_size: float = 0.25) -> TrainingResult:
    """Train, evaluate and register a new version; `reason` is recorded on the run."""
    settings: Settings = load_settings()
    logger = get_run_logger()
    client = registry.connect(settings)
    experiment_id = registry.ensure_experiment(client, settings)

    frame = load_data()
    split = split_data(frame, settings.random_seed, test_size)
    with mlflow.start_run(experiment_id=experiment_id, run_name=f"train-{reason}"):
        params: dict[str, Any] = {
            "seed": settings.random_seed,
            "test_size": test_size,
            "tuning_trials": settings.tuning_trials,
        }
        mlflow.log_params(params)
        digest = _log_dataset(split.train, "training")
        _log_dataset(split.test, "evaluation")
        mlflow.set_tags(
            {
                "git_commit": _git_commit(),
                "template_version": TEMPLATE_VERSION,
                "data_digest": digest,
                "training_reason": reason,
            }
        )
        model = fit(split, settings.random_seed, settings.tuning_trials)
        mlflow.log_params(model.named_steps["classifier"].get_params())
        metrics = evaluate(model, split)
        mlflow.log_metrics(metrics)
        version, run_id = register(model, split, metrics)
    logger.info("registered %s version %s with %s", MODEL_NAME, version, metrics)
    return TrainingResult(version=version, run_id=run_id, metrics=metrics)
