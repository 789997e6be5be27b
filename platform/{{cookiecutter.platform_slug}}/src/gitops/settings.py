"""Every name and path of this platform repo, defined once."""

from __future__ import annotations

from pathlib import Path

PLATFORM_NAME = "{{ cookiecutter.platform_slug }}"
# The URL Argo CD syncs; model repos push their overlays here (their platform_repo_url).
REPO_URL = "{{ cookiecutter.repo_url }}"
CI_PROVIDER = "{{ cookiecutter.ci_provider }}"
ARGOCD_NAMESPACE = "{{ cookiecutter.argocd_namespace }}"
TEMPLATE_VERSION = "{{ cookiecutter.__template_version }}"

ROOT = Path(__file__).resolve().parents[2]
# Model repos' CI writes models/<model>/<environment>/ (a kustomization.yaml and base/).
MODELS_DIR = "models"
ENVIRONMENTS = ("staging", "production")
# The namespaces the model environments run in: "<prefix>-<environment>".
MODEL_NAMESPACES = tuple(f"{{ cookiecutter.models_namespace }}-{e}" for e in ENVIRONMENTS)
# The admission policy that admits into MODEL_NAMESPACES only the images the model repos' CI
# built and signed (generated from model-repos.yaml by `gitops policy`).
IMAGE_POLICY_FILE = "infrastructure/policies/model-images.yaml"
PRODUCTION = "production"
# The ApplicationSet that turns each model environment into one Argo CD Application.
MODELS_APPLICATION_SET = "apps/models.yaml"
# MLflow aliases that follow what production runs once Argo CD reports it synced and
# healthy (the model repos' settings use the same names).
PRODUCTION_ALIASES = ("production", "champion")
# While a rollout runs in production (a `candidate` predictor beside the default one), this
# alias names the candidate's version; it is removed when the rollout ends.
CANDIDATE_ALIAS = "candidate"
# The labels the model repos' rollouts put on their SeldonDeployment predictors.
PREDICTOR_ROLE_LABEL = "mlops/predictor-role"
PREDICTOR_VERSION_LABEL = "mlops/model-version"
# The Kubernetes version whose API schemas the built-in kinds are validated against.
KUBERNETES_VERSION = "1.32"
# Argo CD's in-cluster destination.
IN_CLUSTER = "https://kubernetes.default.svc"
# Which Application installs the CRDs of an API group: an Application whose manifests use
# that group must sync in a later wave (checked by `gitops validate`).
CRD_PROVIDERS = {
    "argoproj.io": None,  # Argo CD itself, installed before the root application
    "external-secrets.io": "external-secrets",
    "postgresql.cnpg.io": "cloudnative-pg",
    "kafka.strimzi.io": "strimzi",
    "machinelearning.seldon.io": "seldon-core",
    "serving.kserve.io": "kserve-crd",
    "cert-manager.io": "cert-manager",
    "monitoring.coreos.com": "monitoring",
    "kyverno.io": "kyverno",
    "gateway.networking.k8s.io": "envoy-gateway",  # its chart brings the Gateway API CRDs
}
# Services the pinned Helm charts create, by Application: (Service name, ports), in the
# Application's destination namespace. `gitops validate` resolves in-cluster addresses
# against these and every rendered Service; `make render-charts` shows the charts' own.
CHART_SERVICES = {
    "mlflow": ("mlflow", {5000}),
    "prefect-server": ("prefect-server", {4200}),
}
# The label of a model's Applications (the models ApplicationSet sets it), and the pod labels
# that name a model: its own, and those Seldon's operator and KServe's controller set to the
# name of the model server (a model repo names it after the model).
MODEL_LABEL = "mlops/model"
# The ClusterSecretStore a model namespace reads its Kafka users' logins through
# (infrastructure/kafka/user-logins.yaml), the only store a model's overlay may use.
KAFKA_USERS_STORE = "kafka-users"
# What a model environment owns in Kafka, "<model>-<environment>-<suffix>" (the model repos'
# settings.kafka_names): its request and labels topics, its two users, its drift and quality
# groups.
KAFKA_NAME_SUFFIXES = ("requests", "labels", "server", "drift", "drift-candidate", "quality",
                       "quality-candidate")  # fmt: skip
# The Secrets of a model in its namespaces, "<model>-<suffix>": its Kafka logins and its
# retrain token; and those the platform gives every model there (infrastructure/secrets).
MODEL_KAFKA_LOGINS = ("kafka-server", "kafka-drift")
MODEL_SECRET_SUFFIXES = (*MODEL_KAFKA_LOGINS, "retrain-token")
SHARED_SECRETS = ("mlflow-login", "prefect-credentials")
OWN_POD_LABELS = ("app.kubernetes.io/name", "seldon-deployment-id",
                  "serving.kserve.io/inferenceservice")  # fmt: skip
# The Pod Security label a namespace enforces (unlabelled namespaces are "privileged").
POD_SECURITY_LABEL = "pod-security.kubernetes.io/enforce"
# The Prefect worker's values file and the work pool its base job template configures.
PREFECT_WORKER_VALUES = "values/prefect-worker.yaml"
