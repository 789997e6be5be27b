"""The drift service loads only the detector the pinned version's training logged: the
version's digest (MODEL_DIGEST, which CI pins) covers its MLmodel, and the MLmodel records the
detector's digest. Against the real MLflow server and the real training flow's version."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from {{ cookiecutter.package_name }}.drift import detector as detectors
from {{ cookiecutter.package_name }}.drift.service import load_watched, verify_detector
from {{ cookiecutter.package_name }}.registry import artifact_digest, download_version
from {{ cookiecutter.package_name }}.settings import load_settings

pytestmark = pytest.mark.slow


@pytest.fixture()
def pinned(mlflow_server, trained):
    settings = replace(load_settings(), pinned_model_version=int(trained.version))
    digest = artifact_digest(download_version(settings, trained.version))  # what CI pins
    return replace(settings, pinned_model_digest=digest)


def test_the_pinned_versions_own_detector_loads(pinned, trained, tmp_path):
    watched, fitted, _ = load_watched(pinned, tmp_path)
    assert watched.version == trained.version and fitted.config.window_size > 0


def test_a_detector_changed_after_training_is_refused(pinned, trained, tmp_path):
    path = detectors.download(trained.run_id, trained.version, tmp_path)
    verify_detector(pinned, trained.version, path)  # as logged: accepted
    config = path / detectors.CONFIG_ARTIFACT
    document = json.loads(config.read_text())
    document["config"]["window_size"] = 1  # a poisoned detector would never alert
    config.write_text(json.dumps(document))
    with pytest.raises(detectors.DriftDetectorError) as refused:
        verify_detector(pinned, trained.version, path)
    assert f"version {trained.version}: its drift detector hashes to sha256:" in str(refused.value)
    assert "refusing to load" in str(refused.value)


def test_a_pin_of_other_artifacts_refuses_the_detector_too(pinned, trained, tmp_path):
    path = detectors.download(trained.run_id, trained.version, tmp_path)
    other = replace(pinned, pinned_model_digest="sha256:" + "0" * 64)
    with pytest.raises(detectors.DriftDetectorError, match="but MODEL_DIGEST pins sha256:0000"):
        verify_detector(other, trained.version, path)
