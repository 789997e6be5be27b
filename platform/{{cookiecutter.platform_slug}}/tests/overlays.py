"""Model environments shaped like the ones model repos' CI writes (`render-overlay`)."""

from __future__ import annotations

import copy
import hashlib
import subprocess
from pathlib import Path

import yaml

from gitops import admission, model_repos

# The serving runtimes this platform installs (its `serving_runtimes` answer).
RUNTIMES = {{ cookiecutter.serving_runtimes.split("+") | tojson }}
# The model server's manifest file of each runtime, as the model repos name it.
SERVER_FILES = {"seldon-core": "seldondeployment.yaml", "kserve": "inferenceservice.yaml"}

BASE_KUSTOMIZATION = """\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: models
configurations:
  - kustomizeconfig.yaml
resources:
  - serviceaccount.yaml
  - {server_file}
  - network.yaml
configMapGenerator:
  - name: {model}-config
    literals:
      - MLFLOW_TRACKING_URI=http://mlflow.mlflow.svc.cluster.local:5000
      - MODEL_ALIAS=staging
images:
  - name: {model}
    newName: ghcr.io/acme/{model}
    newTag: latest
"""
# Where the model servers refer to the generated ConfigMap (its hashed name goes there too).
KUSTOMIZE_CONFIG = """\
nameReference:
  - kind: ConfigMap
    version: v1
    fieldSpecs:
      - kind: SeldonDeployment
        path: spec/predictors/componentSpecs/spec/containers/envFrom/configMapRef/name
      - kind: ServingRuntime
        path: spec/containers/envFrom/configMapRef/name
"""
SERVICE_ACCOUNT = """\
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {model}
automountServiceAccountToken: false
"""
SELDON_DEPLOYMENT = """\
apiVersion: machinelearning.seldon.io/v1
kind: SeldonDeployment
metadata:
  name: {model}
spec:
  protocol: seldon
  predictors:
    - name: default
      annotations:
        seldon.io/no-engine: "true"
      replicas: 1
      graph:
        name: model
        type: MODEL
      componentSpecs:
        - spec:
            serviceAccountName: {model}
            automountServiceAccountToken: false
            securityContext:
              runAsNonRoot: true
              seccompProfile:
                type: RuntimeDefault
            containers:
              - name: model
                image: {model}
                envFrom:
                  - configMapRef:
                      name: {model}-config
                securityContext:
                  allowPrivilegeEscalation: false
                  readOnlyRootFilesystem: true
                  capabilities:
                    drop: ["ALL"]
                resources:
                  requests:
                    cpu: 100m
                    memory: 256Mi
                  limits:
                    memory: 512Mi
"""
INFERENCE_SERVICE = """\
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata:
  name: {model}
  annotations:
    serving.kserve.io/deploymentMode: Standard
spec:
  predictor:
    minReplicas: 1
    serviceAccountName: {model}
    automountServiceAccountToken: false
    securityContext:
      runAsNonRoot: true
      seccompProfile:
        type: RuntimeDefault
    model:
      modelFormat:
        name: mlflow
        version: "1"
      runtime: {model}
      protocolVersion: v2
---
apiVersion: serving.kserve.io/v1alpha1
kind: ServingRuntime
metadata:
  name: {model}
spec:
  supportedModelFormats:
    - name: mlflow
      version: "1"
      autoSelect: false
  protocolVersions: [v2]
  containers:
    - name: kserve-container
      image: {model}
      envFrom:
        - configMapRef:
            name: {model}-config
      securityContext:
        allowPrivilegeEscalation: false
        readOnlyRootFilesystem: true
        capabilities:
          drop: ["ALL"]
      resources:
        requests:
          cpu: 100m
          memory: 256Mi
        limits:
          memory: 512Mi
"""
SERVERS = {"seldon-core": SELDON_DEPLOYMENT, "kserve": INFERENCE_SERVICE}
# The label each runtime's operator puts on the model server's pods, with the server's name.
SERVER_LABELS = {"seldon-core": "seldon-deployment-id",
                 "kserve": "serving.kserve.io/inferenceservice"}  # fmt: skip
# What a model repo renders so that its server works in a namespace that denies by default.
NETWORK = """\
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: {model}-server
spec:
  podSelector:
    matchLabels:
      {server_label}: {model}
  policyTypes: [Ingress, Egress]
  ingress:
    - ports:
        - port: 9000
          protocol: TCP
  egress:
    - to:
        - namespaceSelector:
            matchLabels:
              kubernetes.io/metadata.name: mlflow
      ports:
        - port: 5000
          protocol: TCP
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {model}-server
spec:
  maxUnavailable: 1
  selector:
    matchLabels:
      {server_label}: {model}
"""
OVERLAY = """\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - base
images:
  - name: ghcr.io/acme/{model}
    newTag: {tag}
    digest: {digest}
configMapGenerator:
  - name: {model}-config
    behavior: merge
    literals:
      - MODEL_VERSION={version}
      - MODEL_ALIAS={environment}
"""


def write_overlay(
    root: Path,
    model: str,
    environment: str,
    version: str,
    tag: str = "abc1234",
    candidate: str | None = None,
    runtime: str = RUNTIMES[0],
):
    """Write models/<model>/<environment>/ for a model served by `runtime` and return its
    path; with `candidate`, a canary of that version runs beside `version` (the patch a
    model repo's rollout writes)."""
    overlay = root / "models" / model / environment
    base = overlay / "base"
    base.mkdir(parents=True, exist_ok=True)
    values = {"model": model, "environment": environment, "version": version, "tag": tag,
              "digest": digest_of(tag), "server_file": SERVER_FILES[runtime],
              "server_label": SERVER_LABELS[runtime]}  # fmt: skip
    (base / "kustomization.yaml").write_text(BASE_KUSTOMIZATION.format(**values))
    (base / "serviceaccount.yaml").write_text(SERVICE_ACCOUNT.format(**values))
    (base / "kustomizeconfig.yaml").write_text(KUSTOMIZE_CONFIG)
    (base / SERVER_FILES[runtime]).write_text(SERVERS[runtime].format(**values))
    (base / "network.yaml").write_text(NETWORK.format(**values))
    (overlay / "kustomization.yaml").write_text(OVERLAY.format(**values))
    if candidate is not None:
        write_rollout(overlay, model, version, candidate, tag, runtime)
    register(root, model)
    return overlay


def digest_of(tag: str) -> str:
    """The image digest CI would pin beside `tag` (one per tag, as a build gives)."""
    return "sha256:" + hashlib.sha256(tag.encode()).hexdigest()


def register(root: Path, model: str, images: str | None = None) -> None:
    """The model's entry in model-repos.yaml and the admission policy it gives, as the
    platform team adds them when a model repo is onboarded (a parked `_<model>` deploys
    nothing and needs none)."""
    if model.startswith("_"):
        return
    path = root / model_repos.FILE
    document = yaml.safe_load(path.read_text()) or {}
    entries = document.get("models") or []
    if not any(entry.get("name") == model for entry in entries):
        entries.append({"name": model, "repository": f"https://github.com/acme/{model}",
                        "provider": "github", "images": images or f"ghcr.io/acme/{model}",
                        "delivery_account": f"{model}-delivery[bot]"})  # fmt: skip
        path.write_text(yaml.safe_dump({"models": entries}, sort_keys=False))
    admission.write(root, model_repos.load(root))


def write_rollout(overlay: Path, model: str, version: str, candidate: str, tag: str = "abc1234",
                  runtime: str = "seldon-core") -> None:  # fmt: skip
    """The patch a model repo's rollout writes: a canary of `candidate` beside `version`."""
    candidate_tag = f"candidate-{candidate}"
    candidate_image = f"ghcr.io/acme/{model}:{candidate_tag}@{digest_of(candidate_tag)}"
    labels = {"mlops/predictor-role": "candidate", "mlops/model-version": candidate}
    if runtime == "kserve":
        service = next(yaml.safe_load_all(INFERENCE_SERVICE.format(model=model)))
        entry = {"name": "candidate", "minReplicas": 1, "labels": labels, "model": {
            **service["spec"]["predictor"]["model"], "image": candidate_image,
            "env": [{"name": "MODEL_VERSION", "value": candidate}],
        }}  # fmt: skip
        patch = {"apiVersion": service["apiVersion"], "kind": service["kind"],
                 "metadata": {"name": model},
                 "spec": {"canary": [{"trafficPercent": 10, "predictor": entry}]}}  # fmt: skip
    else:
        base = yaml.safe_load(SELDON_DEPLOYMENT.format(model=model))
        predictors = []
        for role, name, pinned, traffic, image in (
                ("stable", "default", version, 90, f"ghcr.io/acme/{model}:{tag}@{digest_of(tag)}"),
                ("candidate", "candidate", candidate, 10, candidate_image)):  # fmt: skip
            predictor = copy.deepcopy(base["spec"]["predictors"][0])
            # Each predictor pinned to its own build, as a model repo's rollout writes it.
            container = predictor["componentSpecs"][0]["spec"]["containers"][0]
            container["image"] = image
            container["env"] = [{"name": "MODEL_VERSION", "value": pinned}]
            predictor.update(name=name, traffic=traffic, labels={
                "mlops/predictor-role": role, "mlops/model-version": pinned,
            })  # fmt: skip
            predictors.append(predictor)
        patch = {**base, "spec": {**base["spec"], "predictors": predictors}}
    (overlay / "rollout.yaml").write_text(yaml.safe_dump(patch, sort_keys=False))
    kustomization = yaml.safe_load((overlay / "kustomization.yaml").read_text())
    kustomization["patches"] = [{"path": "rollout.yaml"}]
    (overlay / "kustomization.yaml").write_text(yaml.safe_dump(kustomization, sort_keys=False))


def git(root: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", "-C", str(root), *args], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, f"git {' '.join(args)}: {result.stderr}"
    return result.stdout.strip()


def commit_all(root: Path, message: str) -> str:
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", message)
    return git(root, "rev-parse", "HEAD")


KAFKA_PART = """\
apiVersion: kafka.strimzi.io/v1
kind: KafkaTopic
metadata:
  name: {model}-{environment}-requests
  labels:
    strimzi.io/cluster: mlops
spec:
  partitions: 3
  replicas: 3
  config:
    retention.ms: 604800000
    cleanup.policy: delete
    min.insync.replicas: 2
---
apiVersion: kafka.strimzi.io/v1
kind: KafkaUser
metadata:
  name: {model}-{environment}-server
  labels:
    strimzi.io/cluster: mlops
spec:
  authentication:
    type: scram-sha-512
  authorization:
    type: simple
    acls:
      - resource:
          type: topic
          name: {topic}
          patternType: literal
        operations: [Write, Describe]
"""
KAFKA_LOGIN = """\
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata:
  name: {model}-kafka-server
spec:
  refreshInterval: 1h
  secretStoreRef:
    kind: ClusterSecretStore
    name: {store}
  target:
    name: {model}-kafka-server
    template:
      engineVersion: v2
      mergePolicy: Merge
      data:
        username: {user}
  data:
    - secretKey: password
      remoteRef:
        key: {user}
        property: {property}
"""


def write_kafka(root: Path, model: str, environment: str, *, topic: str | None = None,
                store: str = "kafka-users", user: str | None = None) -> Path:  # fmt: skip
    """The environment's Kafka part (kafka/: its topic and the server's user) and the login
    ExternalSecret in its overlay, as the model repo's CI writes them (delivery/kafka.py);
    `topic`, `store` and `user` change what they name."""
    overlay = root / "models" / model / environment
    names = {"model": model, "environment": environment, "store": store, "property": "password",
             "topic": topic or f"{model}-{environment}-requests",
             "user": user or f"{model}-{environment}-server"}  # fmt: skip
    (overlay / "kafka").mkdir(parents=True, exist_ok=True)
    (overlay / "kafka" / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: kafka\n"
        "resources:\n  - kafka.yaml\n"
    )
    (overlay / "kafka" / "kafka.yaml").write_text(KAFKA_PART.format(**names))
    (overlay / "kafka-logins.yaml").write_text(KAFKA_LOGIN.format(**names))
    kustomization = overlay / "kustomization.yaml"
    document = yaml.safe_load(kustomization.read_text())
    document["resources"] = [*document["resources"], "kafka-logins.yaml"]
    kustomization.write_text(yaml.safe_dump(document, sort_keys=False))
    return overlay
