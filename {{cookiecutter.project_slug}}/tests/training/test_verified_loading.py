"""Whoever can write to the registry cannot make the server run their code: the real MLflow
server holds versions in other formats, with untrusted types, or changed after CI pinned
their digest, and `load_served_model` (what both runtimes load with) refuses each, naming
the check, before anything is unpickled."""

from __future__ import annotations

import uuid
from dataclasses import replace
from pathlib import Path

import mlflow
import numpy as np
import pytest
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.pipeline import make_pipeline

from {{ cookiecutter.package_name }}.data import FEATURES, TARGET, load_dataset
from {{ cookiecutter.package_name }}.model import build_model
from {{ cookiecutter.package_name }}.registry import (
    RegistryError,
    artifact_digest,
    download_version,
    load_served_model,
)
from {{ cookiecutter.package_name }}.settings import load_settings

pytestmark = pytest.mark.slow
MARKER = Path(__file__).with_name(".unpickled-marker")


class Trap(BaseEstimator):
    """A model whose unpickling leaves a mark: what arbitrary code could do instead."""

    def fit(self, X, y):
        self.classes_ = np.unique(y)
        return self

    def __setstate__(self, state):
        MARKER.write_text("unpickled")
        self.__dict__.update(state)


class Rescale(BaseEstimator, TransformerMixin):
    """A transformer of this module: skops trusts it only if the loading code says so."""

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        return X / 10


def fitted(estimator):
    data = load_dataset()
    return estimator.fit(data[list(FEATURES)].to_numpy(), data[TARGET].to_numpy())


def registered(model, serialization_format: str, **logged) -> tuple:
    """A version of a registered model of its own (the session's model stays untouched), and
    the settings that serve it."""
    name = f"verify-{uuid.uuid4().hex[:8]}"
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(model, name="model", registered_model_name=name,
                                        serialization_format=serialization_format,
                                        **logged)  # fmt: skip
    version = str(info.registered_model_version)
    settings = replace(load_settings(), model_name=name, pinned_model_version=int(version))
    return settings, version, info.model_id


def test_a_version_changed_after_ci_pinned_its_digest_is_refused(mlflow_server, state_dir):
    settings, version, model_id = registered(fitted(build_model(seed=0)), "skops")
    digest = artifact_digest(download_version(settings, version))  # what `register` writes
    pinned = replace(settings, pinned_model_digest=digest)
    assert load_served_model(pinned).version == version

    # Someone with write access to the artifact store swaps a byte of the model.
    stored = next((state_dir / "server-artifacts").rglob(f"{model_id}/artifacts/model.skops"))
    stored.write_bytes(stored.read_bytes() + b"\0")
    with pytest.raises(RegistryError) as refused:
        load_served_model(pinned)
    assert f"version {version}: its artifacts hash to sha256:" in str(refused.value)
    assert f"but MODEL_DIGEST pins {digest}" in str(refused.value)


@pytest.mark.parametrize("serialization_format", ["cloudpickle", "pickle"])
def test_a_pickled_version_is_refused_before_it_is_unpickled(mlflow_server,
                                                             serialization_format):  # fmt: skip
    settings, version, _ = registered(fitted(Trap()), serialization_format)
    MARKER.unlink(missing_ok=True)  # saving copies the model (a copy calls __setstate__ too)
    try:
        with pytest.raises(RegistryError) as refused:
            load_served_model(settings)
        assert f"version {version}: saved as {serialization_format}; only skops" in str(
            refused.value
        )
        assert not MARKER.exists(), "the artifact was unpickled"
    finally:
        MARKER.unlink(missing_ok=True)


def test_a_type_the_code_does_not_trust_is_refused(mlflow_server):
    """The artifact itself lists the type as trusted (MLmodel's skops_trusted_types, what
    MLflow's own loader would follow): only this code's list counts."""
    model = make_pipeline(Rescale(), build_model(seed=0)[-1])
    settings, version, _ = registered(fitted(model), "skops",
                                      skops_trusted_types=[f"{__name__}.Rescale"])  # fmt: skip
    with pytest.raises(RegistryError) as refused:
        load_served_model(settings)
    assert f"version {version}: the model contains types this code does not trust: " in str(
        refused.value
    )
    assert f"{__name__}.Rescale" in str(refused.value)
