"""This model's part of the shared Kafka cluster, per environment, as CI writes it into the
platform repo beside the environment's overlay.

- `models/<model>/<environment>/kafka/`: a KafkaTopic for the request log (and one for the
  labels, with drift detection) and a KafkaUser per workload, for the platform's Strimzi
  operators in the Kafka namespace (the platform's `model-kafka` Applications deploy it). The
  model server's user may only write the topics; the drift service's may only read them, in
  its own consumer groups. Passwords are made by Strimzi's User Operator, never written
  anywhere in git.
- `models/<model>/<environment>/kafka-logins.yaml`: in the model namespace, one ExternalSecret
  per workload that copies its user's password out of the Kafka namespace (the platform's
  ClusterSecretStore KAFKA_USERS_STORE) into the Secret the pods read.
- the overlay's config literals name the environment's topic and consumer group, so staging
  and production never read each other's traffic.

The platform's `gitops validate` checks every model's users name only that model's topic
and group, and its ExternalSecrets only its own users.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..settings import (
    DRIFT_DETECTION,
    KAFKA_CLUSTER,
    KAFKA_LOGIN_SECRETS,
    KAFKA_NAMESPACE,
    KAFKA_USERS_STORE,
{%- if cookiecutter.include_drift_detection %}
    LABELS_TOPIC_PARTITIONS,
{%- endif %}
    MODEL_NAME,
    REQUEST_TOPIC_PARTITIONS,
    REQUEST_TOPIC_REPLICAS,
    REQUEST_TOPIC_RETENTION_HOURS,
    kafka_names,
)
from .release import dump, overlay_dir, yaml

KAFKA_DIR = "kafka"
LOGINS_FILE = "kafka-logins.yaml"
STRIMZI = "kafka.strimzi.io/v1"
CLUSTER_LABEL = {"strimzi.io/cluster": KAFKA_CLUSTER}


def config_literals(environment: str) -> dict[str, str]:
    """What the environment's pods read to find their topic and group."""
    names = kafka_names(environment)
    literals = {"REQUEST_TOPIC": names.topic}
    if DRIFT_DETECTION:
        literals["DRIFT_CONSUMER_GROUP"] = names.group
{%- if cookiecutter.include_drift_detection %}
    # The quality monitor's: the labels topic and its own group.
    literals["LABELS_TOPIC"] = names.labels_topic
    literals["QUALITY_CONSUMER_GROUP"] = names.quality_group
{%- endif %}
    return literals


def workloads(environment: str) -> dict[str, str]:
    """Workload -> its Kafka user in `environment`."""
    names = kafka_names(environment)
    users = {"server": names.server_user}
    if DRIFT_DETECTION:
        users["drift"] = names.drift_user
    return users


def cluster_documents(environment: str) -> list[dict[str, Any]]:
    """The KafkaTopic and the KafkaUsers, for the Kafka namespace."""
    names = kafka_names(environment)
    topics = {names.topic: REQUEST_TOPIC_PARTITIONS}
    groups = [names.group, names.candidate_group]
{%- if cookiecutter.include_drift_detection %}
    # The labels topic: the feedback call writes it, the quality monitor reads it.
    topics[names.labels_topic] = LABELS_TOPIC_PARTITIONS
    groups += [names.quality_group, names.candidate_quality_group]
{%- endif %}
    acls = {
        "server": [{"resource": _topic(t), "operations": ["Write", "Describe"]} for t in topics],
        # Its own groups, and those of a rollout candidate's drift service (the same user).
        "drift": [
            *({"resource": _topic(t), "operations": ["Read", "Describe"]} for t in topics),
            *({"resource": {"type": "group", "name": group, "patternType": "literal"},
               "operations": ["Read"]} for group in groups),
        ],
    }  # fmt: skip
    documents: list[dict[str, Any]] = [{
        "apiVersion": STRIMZI, "kind": "KafkaTopic",
        "metadata": {"name": name, "labels": dict(CLUSTER_LABEL)},
        "spec": {
            "partitions": partitions, "replicas": REQUEST_TOPIC_REPLICAS,
            "config": {"retention.ms": REQUEST_TOPIC_RETENTION_HOURS * 3_600_000,
                       "cleanup.policy": "delete", "min.insync.replicas": 2},
        },
    } for name, partitions in topics.items()]  # fmt: skip
    for workload, user in workloads(environment).items():
        documents.append({
            "apiVersion": STRIMZI, "kind": "KafkaUser",
            "metadata": {"name": user, "labels": dict(CLUSTER_LABEL)},
            "spec": {"authentication": {"type": "scram-sha-512"},
                     "authorization": {"type": "simple", "acls": acls[workload]}},
        })  # fmt: skip
    return documents


def _topic(name: str) -> dict[str, str]:
    return {"type": "topic", "name": name, "patternType": "literal"}


def login_documents(environment: str) -> list[dict[str, Any]]:
    """The ExternalSecrets that give each workload its user's login, for the model namespace."""
    documents = []
    for workload, user in workloads(environment).items():
        secret = KAFKA_LOGIN_SECRETS[workload]
        documents.append({
            "apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
            "metadata": {"name": secret},
            "spec": {
                "refreshInterval": "1h",
                "secretStoreRef": {"kind": "ClusterSecretStore", "name": KAFKA_USERS_STORE},
                # The password from the user's Secret (Strimzi's), and the user's name beside it.
                "target": {"name": secret, "template": {
                    "engineVersion": "v2", "mergePolicy": "Merge", "data": {"username": user}}},
                "data": [{"secretKey": "password",
                          "remoteRef": {"key": user, "property": "password"}}],
            },
        })  # fmt: skip
    return documents


KAFKA_KUSTOMIZATION = f"""\
# {MODEL_NAME}'s topic and Kafka users in %(environment)s, for the platform's Strimzi operators.
# Written by the model repo's CI (`render-overlay`, delivery/kafka.py): edits are replaced.
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: {KAFKA_NAMESPACE}
resources:
  - kafka.yaml
"""


def write(platform_root: Path, environment: str) -> bool:
    """Write the environment's Kafka part; True if anything changed on disk."""
    target = overlay_dir(platform_root, environment)
    files = {
        target / KAFKA_DIR / "kustomization.yaml": KAFKA_KUSTOMIZATION
        % {"environment": environment},
        target / KAFKA_DIR / "kafka.yaml": _documents(cluster_documents(environment)),
        target / LOGINS_FILE: _documents(login_documents(environment)),
    }
    changed = False
    for path, text in files.items():
        if not path.exists() or path.read_text() != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            changed = True
    return changed


def _documents(documents: list[dict[str, Any]]) -> str:
    writer = yaml()
    header = "# Written by the model repo's CI (delivery/kafka.py): edits are replaced.\n"
    return header + "---\n".join(dump(writer, document) for document in documents)
