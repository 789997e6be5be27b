"""Settings: defaults, overrides, and a clear error for every bad value."""

from __future__ import annotations

import pytest

from {{ cookiecutter.package_name }}.runtimes import protocol
from {{ cookiecutter.package_name }}.settings import (
    MODEL_NAME,
    STAGING_ALIAS,
    SettingsError,
    load_settings,
)


def test_defaults_use_a_local_registry(tmp_path):
    settings = load_settings({"MLOPS_STATE_DIR": str(tmp_path)})
    assert settings.mlflow_tracking_uri == f"sqlite:///{tmp_path / 'mlflow.db'}"
    assert settings.uses_local_registry
    assert settings.serving_alias == STAGING_ALIAS
    assert settings.request_topic == f"{MODEL_NAME}-requests"
    assert settings.pinned_model_version is None


def test_environment_overrides():
    settings = load_settings(
        {
            "MLFLOW_TRACKING_URI": "http://127.0.0.1:5000",
            "MODEL_VERSION": "7",
            protocol.PORTS["http"][0]: "9100",
            "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9092",
        }
    )
    assert not settings.uses_local_registry
    assert settings.pinned_model_version == 7
    assert settings.served_model_reference == "version 7"
    assert settings.http_port == 9100
    assert settings.kafka.bootstrap_servers == "127.0.0.1:9092"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("MODEL_VERSION", "latest"),
        ("MODEL_VERSION", "0"),
        (protocol.PORTS["http"][0], "70000"),
        (protocol.PORTS["metrics"][0], "http"),
        ("RANDOM_SEED", "-1"),
        ("TUNING_TRIALS", "many"),
        ("MODEL_ALIAS", "my alias"),
{%- if cookiecutter.include_drift_detection %}
        ("RETRAIN_DEPLOYMENT", "local/../x"),
        ("RETRAIN_DEPLOYMENT", ""),
        ("QUALITY_HORIZON_SECONDS", "0"),
        ("QUALITY_WINDOW_ROWS", "0"),
        ("QUALITY_TOLERANCE", "1.5"),
        ("QUALITY_MAX_PENDING", "lots"),
        ("LABELS_TOPIC", "{{ cookiecutter.model_name }}-requests"),  # the request log's
{%- endif %}
    ],
)
def test_bad_values_name_the_variable(name, value):
    with pytest.raises(SettingsError, match=name):
        load_settings({name: value})
