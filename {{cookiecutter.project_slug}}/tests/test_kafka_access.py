"""How the model's processes reach Kafka: the settings that carry the login, and a real broker
that requires one (tansu with --authentication) refusing a client that does not log in.

tansu cannot log anyone in (its storage in this build keeps no SCRAM users), so the successful
SCRAM login is what these tests cannot show: they show that a login-less client gets nothing
through, and that a configured client asks the broker for a SCRAM-SHA-512 login with the
configured user.
"""

from __future__ import annotations

import logging
import time

import numpy as np
import pytest

from {{ cookiecutter.package_name }}.devstack import services
from {{ cookiecutter.package_name }}.devstack.processes import free_port
from {{ cookiecutter.package_name }}.request_log import RequestLogger
from {{ cookiecutter.package_name }}.settings import (
    KafkaAccess,
    SettingsError,
    kafka_names,
    load_settings,
)

LOGIN = {"KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT", "KAFKA_USERNAME": "model-server",
         "KAFKA_PASSWORD": "not-a-real-password"}  # fmt: skip


def test_a_sasl_protocol_needs_a_login_and_says_which_part_is_missing():
    # Only where a client is made: the retrain receiver shares the configuration, not Kafka.
    access = load_settings({"KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT"}).kafka
    with pytest.raises(SettingsError, match="KAFKA_USERNAME and KAFKA_PASSWORD not set"):
        access.librdkafka()
    with pytest.raises(SettingsError, match="KAFKA_PASSWORD not set"):
        KafkaAccess("k:9092", "SASL_SSL", username="u").kafka_python()
    with pytest.raises(SettingsError, match="KAFKA_SECURITY_PROTOCOL='SSL_ONLY'"):
        load_settings({"KAFKA_SECURITY_PROTOCOL": "ssl_only"})
    with pytest.raises(SettingsError, match="KAFKA_SASL_MECHANISM='GSSAPI'"):
        load_settings({**LOGIN, "KAFKA_SASL_MECHANISM": "GSSAPI"})
    with pytest.raises(SettingsError, match=r"KAFKA_SSL_CA_FILE='/nonexistent/ca\.crt'"):
        load_settings({**LOGIN, "KAFKA_SSL_CA_FILE": "/nonexistent/ca.crt"})


def test_the_login_reaches_both_client_libraries_and_child_processes_but_never_a_repr():
    access = load_settings({**LOGIN, "KAFKA_BOOTSTRAP_SERVERS": "kafka:9092"}).kafka
    assert access.librdkafka() == {
        "bootstrap.servers": "kafka:9092", "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanisms": "SCRAM-SHA-512", "sasl.username": "model-server",
        "sasl.password": "not-a-real-password",
    }  # fmt: skip
    python = access.kafka_python()
    assert python["sasl_mechanism"] == "SCRAM-SHA-512"
    assert python["sasl_plain_username"] == "model-server"
    assert load_settings(access.env).kafka == access  # a child process gets the same access
    assert "not-a-real-password" not in repr(access)
    plain = load_settings({"KAFKA_BOOTSTRAP_SERVERS": "kafka:9092"}).kafka
    assert not plain.authenticated and "sasl.username" not in plain.librdkafka()


def test_each_environment_has_its_own_topic_group_and_users():
    staging, production = kafka_names("staging"), kafka_names("production")
    assert staging.topic != production.topic and staging.group != production.group
    assert staging.server_user != staging.drift_user
    assert {staging.server_user, staging.drift_user}.isdisjoint(
        {production.server_user, production.drift_user}
    )


@pytest.fixture(scope="module")
def login_required_broker(tmp_path_factory) -> str:
    port = free_port()
    folder = tmp_path_factory.mktemp("kafka-login")
    server = services.kafka_broker(port, authentication=True).run(folder / "kafka.log")
    yield f"127.0.0.1:{port}"
    server.stop()


def _log_some(logger: RequestLogger, count: int) -> None:
    rows, outputs = np.array([[5.1, 3.5, 1.4, 0.2]]), np.array([[0.9, 0.07, 0.03]])
    for index in range(count):
        logger.log(f"r-{index}", "1", ["a", "b", "c", "d"], rows, ["x", "y", "z"], outputs)


def test_a_broker_that_requires_a_login_takes_nothing_from_a_client_without_one(
    login_required_broker,
):
    logger = RequestLogger(login_required_broker, "requests", "model")
    logger.start()
    _log_some(logger, 20)
    logger.close(timeout=5)
    assert logger.counts.total("sent") == 0
    assert logger.counts.total("dropped") == 20  # refused, and counted, not lost silently


def test_a_configured_client_asks_the_broker_for_a_scram_login_as_its_user(
    login_required_broker, caplog
):
    access = KafkaAccess(login_required_broker, "SASL_PLAINTEXT", "SCRAM-SHA-512",
                         "model-staging-server", "a-password")  # fmt: skip
    logger = RequestLogger(access, "requests", "model")
    with caplog.at_level(logging.WARNING):
        logger.start()
        _log_some(logger, 5)
        deadline = time.monotonic() + 10
        while "SCRAM" not in caplog.text and time.monotonic() < deadline:
            time.sleep(0.1)
        logger.close(timeout=5)
    # librdkafka ran the SCRAM exchange; tansu knows no user (see the module's docstring).
    assert "SASL SCRAM authentication failed" in caplog.text, caplog.text
    assert logger.counts.total("sent") == 0 and logger.counts.total("dropped") == 5
