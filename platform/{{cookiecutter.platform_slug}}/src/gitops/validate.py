"""`gitops validate`: everything Argo CD would deploy from this repo renders and is allowed.

- every Kustomize directory an Application points at (and every model overlay, with the
  namespace the ApplicationSet gives it) renders;
- built-in kinds validate strictly against the Kubernetes API schemas (unknown fields
  fail), every other kind against a strict schema of our own in schemas/;
- every Application passes its AppProject: source repos, destinations, and the kinds and
  namespaces of what it renders;
- Helm value files exist and parse; no Kustomize directory is left out of every Application;
- an Application using a custom resource syncs after the one that installs its CRDs;
- no Secret is committed: credentials come from the secret store (docs/secrets.md);
- the cluster contract (contract.py) over everything rendered, each object in the namespace
  it lands in: every in-cluster address, service account, ConfigMap and Secret resolves, and
  every pod (the Prefect work pool's job template too) meets its namespace's Pod Security.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate

from . import PlatformError, admission, charts, contract, inventory
from .inventory import Inventory, sync_wave
from .settings import (
    CHART_SERVICES,
    CRD_PROVIDERS,
    KAFKA_NAME_SUFFIXES,
    KAFKA_USERS_STORE,
    KUBERNETES_VERSION,
    MODEL_KAFKA_LOGINS,
    MODEL_LABEL,
    MODEL_SECRET_SUFFIXES,
    MODELS_DIR,
    OWN_POD_LABELS,
    POD_SECURITY_LABEL,
    PREFECT_WORKER_VALUES,
    ROOT,
    SHARED_SECRETS,
)

SCHEMAS = ROOT / "schemas"
# Kinds our own schemas cover, by "group/kind".
CUSTOM_KINDS = {
    "argoproj.io/Application": "application.schema.json",
    "argoproj.io/ApplicationSet": "applicationset.schema.json",
    "argoproj.io/AppProject": "appproject.schema.json",
    "external-secrets.io/ExternalSecret": "externalsecret.schema.json",
    "postgresql.cnpg.io/Cluster": "cnpg-cluster.schema.json",
    "kafka.strimzi.io/Kafka": "kafka.schema.json",
    "kafka.strimzi.io/KafkaNodePool": "kafkanodepool.schema.json",
    "kafka.strimzi.io/KafkaTopic": "kafkatopic.schema.json",
    "kafka.strimzi.io/KafkaUser": "kafkauser.schema.json",
    "external-secrets.io/ClusterSecretStore": "clustersecretstore.schema.json",
    "machinelearning.seldon.io/SeldonDeployment": "seldondeployment.schema.json",
    "serving.kserve.io/InferenceService": "inferenceservice.schema.json",
    "serving.kserve.io/ServingRuntime": "servingruntime.schema.json",
    "monitoring.coreos.com/ServiceMonitor": "servicemonitor.schema.json",
    "monitoring.coreos.com/PodMonitor": "podmonitor.schema.json",
    "monitoring.coreos.com/PrometheusRule": "prometheusrule.schema.json",
    "monitoring.coreos.com/AlertmanagerConfig": "alertmanagerconfig.schema.json",
    "kyverno.io/ClusterPolicy": "clusterpolicy.schema.json",
    "gateway.networking.k8s.io/GatewayClass": "gatewayclass.schema.json",
    "gateway.networking.k8s.io/Gateway": "gateway.schema.json",
}
CLUSTER_SCOPED = {
    "Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition",
    "ClusterSecretStore", "PriorityClass", "StorageClass", "PersistentVolume", "ClusterPolicy",
    "GatewayClass",
}  # fmt: skip


@dataclass
class Report:
    problems: list[str] = field(default_factory=list)
    checked: int = 0  # documents validated
    applications: list[str] = field(default_factory=list)


KSERVE_VALUES = "values/kserve.yaml"
GATEWAY_GROUP = "gateway.networking.k8s.io"
GATEWAY_VALUES = "values/envoy-gateway.yaml"
KSERVE_MODE_ANNOTATION = "serving.kserve.io/deploymentMode"
KSERVE_MODE = "Standard"  # Deployments, Services and HPAs (formerly RawDeployment)


def group_kind(document: dict) -> str:
    group = document.get("apiVersion", "").rpartition("/")[0]
    return f"{group}/{document.get('kind')}"


@cache
def _schema(name: str) -> dict:
    return json.loads((SCHEMAS / name).read_text())


def check_document(document: dict) -> str | None:
    """Why `document` is invalid, or None."""
    key = group_kind(document)
    if key in CUSTOM_KINDS:
        validator = jsonschema.Draft202012Validator(_schema(CUSTOM_KINDS[key]))
        errors = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
        if errors:
            where = "/".join(str(p) for p in errors[0].absolute_path) or "(top)"
            return f"{where}: {errors[0].message}"
        if key == "machinelearning.seldon.io/SeldonDeployment":
            return _check_seldon_pods(document)
        if key in ("serving.kserve.io/InferenceService", "serving.kserve.io/ServingRuntime"):
            return _check_kserve_pods(document)
        return None
    try:
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.SchemaNotFoundError:
        return f"no schema for {key}: add one to schemas/ and CUSTOM_KINDS"
    except kubernetes_validate.ValidationError as error:
        where = "/".join(str(p) for p in error.path) or "(top)"
        return f"{where}: {error.message}"
    return None


def _check_seldon_pods(document: dict) -> str | None:
    for predictor in document["spec"]["predictors"]:
        for component in predictor.get("componentSpecs", []):
            pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x"}}
            try:
                kubernetes_validate.validate(
                    {**pod, "spec": component["spec"]}, KUBERNETES_VERSION, strict=True
                )
            except kubernetes_validate.ValidationError as error:
                where = "/".join(str(p) for p in error.path)
                return f"predictor {predictor['name']} pod spec {where}: {error.message}"
    return None


def _check_kserve_pods(document: dict) -> str | None:
    """A predictor (and each canary entry) inlines a PodSpec, and its model a Container,
    beside KServe's own fields; a ServingRuntime carries pod fields beside its own. The
    schemas list KServe's fields; the rest must be valid Kubernetes."""
    service = _schema(CUSTOM_KINDS["serving.kserve.io/InferenceService"])
    runtime = _schema(CUSTOM_KINDS["serving.kserve.io/ServingRuntime"])
    specs = []
    if document["kind"] == "ServingRuntime":
        own = {*runtime["x-runtime-extension"], "supportedModelFormats"}
        specs.append(("spec", {k: v for k, v in document["spec"].items() if k not in own}))
    else:
        entries = [("predictor", document["spec"]["predictor"])]
        entries += [(f"canary[{c['predictor']['name']}]", c["predictor"])
                    for c in document["spec"].get("canary") or []]  # fmt: skip
        for where, predictor in entries:
            spec = {k: v for k, v in predictor.items()
                    if k not in service["x-component-extension"]}  # fmt: skip
            if "model" in predictor:  # else the shape before KServe 0.21: containers inline
                model = {k: v for k, v in predictor["model"].items()
                         if k not in service["x-model-extension"]}  # fmt: skip
                spec["containers"] = [{"name": "kserve-container", **model}]
            specs.append((where, spec))
    for where, spec in specs:
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x"}, "spec": spec}
        try:
            kubernetes_validate.validate(pod, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            path = "/".join(str(p) for p in error.path)
            return f"{where} pod spec {path}: {error.message}"
    return None


def _describe(document: dict) -> str:
    metadata = document.get("metadata", {})
    namespace = f"{metadata['namespace']}/" if metadata.get("namespace") else ""
    return f"{document.get('kind')} {namespace}{metadata.get('name')}"


def _allowed(rules: list[dict], group: str, kind: str) -> bool:
    return any(
        fnmatch.fnmatchcase(group, r.get("group", "")) and fnmatch.fnmatchcase(kind, r["kind"])
        for r in rules
    )


def check_project(application: dict, inv: Inventory) -> list[str]:
    """What `application` does that its AppProject does not allow."""
    name = application["metadata"]["name"]
    project_name = application["spec"]["project"]
    project = inv.projects.get(project_name)
    if project is None:
        return [f"Application {name}: project {project_name!r} is not defined in this repo"]
    spec = project["spec"]
    problems = []
    destination = application["spec"]["destination"]
    namespaces = [
        d.get("namespace", "")
        for d in spec.get("destinations", [])
        if fnmatch.fnmatchcase(destination.get("server", ""), d.get("server", ""))
    ]
    for source in inv.sources(application):
        if not any(fnmatch.fnmatchcase(source.repo_url, r) for r in spec.get("sourceRepos", [])):
            problems.append(
                f"Application {name}: source {source.repo_url} is not in the sourceRepos "
                f"of project {project_name}"
            )
    wanted = {destination.get("namespace", "")}
    for source in inv.sources(application):
        if not source.local:
            continue
        for document in inv.documents[source.path]:
            group = document["apiVersion"].rpartition("/")[0]
            kind = document["kind"]
            if kind in CLUSTER_SCOPED:
                if not _allowed(spec.get("clusterResourceWhitelist", []), group, kind):
                    problems.append(
                        f"Application {name}: {_describe(document)} is a cluster-scoped kind "
                        f"project {project_name} does not allow"
                    )
                continue
            wanted.add(document.get("metadata", {}).get("namespace") or destination["namespace"])
            whitelist = spec.get("namespaceResourceWhitelist")
            if whitelist is not None and not _allowed(whitelist, group, kind):
                problems.append(
                    f"Application {name}: {_describe(document)}: kind not in the "
                    f"namespaceResourceWhitelist of project {project_name}"
                )
    for namespace in sorted(n for n in wanted if n):
        if not any(fnmatch.fnmatchcase(namespace, pattern) for pattern in namespaces):
            problems.append(
                f"Application {name}: namespace {namespace} is not a destination of "
                f"project {project_name}"
            )
    return problems


def check_waves(inv: Inventory) -> list[str]:
    """Custom resources sync after the Application that installs their CRDs."""
    problems = []
    waves = {a["metadata"]["name"]: sync_wave(a) for a in inv.applications}
    for application in inv.applications:
        name = application["metadata"]["name"]
        wave = waves[name]
        if application in inv.generated:
            wave = max(waves.values()) + 1  # the ApplicationSet itself syncs in the last wave
        for source in inv.sources(application):
            if not source.local:
                continue
            for document in inv.documents[source.path]:
                group = document["apiVersion"].rpartition("/")[0]
                if "." not in group or group.endswith(".k8s.io"):
                    continue  # built into Kubernetes
                if group not in CRD_PROVIDERS:
                    problems.append(
                        f"Application {name}: {_describe(document)} uses {group}, which no "
                        "Application of this repo installs (settings.CRD_PROVIDERS)"
                    )
                    continue
                provider = CRD_PROVIDERS[group]
                if provider is None:
                    continue
                if provider not in waves:
                    problems.append(f"Application {name}: {group} needs Application {provider}")
                elif waves[provider] >= wave:
                    problems.append(
                        f"Application {name} (wave {wave}) uses {group} but {provider}, which "
                        f"installs it, syncs in wave {waves[provider]}: give it a later wave"
                    )
    return problems


def orphan_directories(inv: Inventory) -> list[str]:
    """Kustomize directories no Application (nor the bootstrap) renders."""
    rendered = set(inv.documents)
    problems = []
    for kustomization in sorted(inv.root.rglob("kustomization.yaml")):
        relative = kustomization.parent.relative_to(inv.root).as_posix()
        parts = relative.split("/")
        if any(part.startswith(".") for part in parts):
            continue
        if parts[0] == MODELS_DIR and (len(parts) != 3 or relative in rendered):
            continue  # overlays' bases, rendered through their overlay
        if relative not in rendered:
            problems.append(
                f"{relative}: a Kustomize directory no Application deploys "
                "(a model environment must be models/<model>/<environment>)"
            )
    return problems


def cluster_documents(inv: Inventory) -> list[dict]:
    """Everything the Applications deploy, each namespaced object in the namespace it lands
    in (its own, else the Application's destination, as Argo CD applies it)."""
    documents = []
    for application in inv.applications:
        destination = application["spec"]["destination"].get("namespace") or ""
        for source in inv.sources(application):
            if not source.local:
                continue
            for document in inv.documents[source.path]:
                metadata = dict(document.get("metadata") or {})
                if document.get("kind") not in CLUSTER_SCOPED and not metadata.get("namespace"):
                    metadata["namespace"] = destination
                documents.append({**document, "metadata": metadata})
    return documents


def cluster_contract(inv: Inventory, documents: list[dict]) -> contract.Contract:
    services: dict[tuple[str, str], set[int]] = {}
    for application in inv.applications:
        if application["metadata"]["name"] in CHART_SERVICES:
            name, ports = CHART_SERVICES[application["metadata"]["name"]]
            services[(application["spec"]["destination"]["namespace"], name)] = set(ports)
    levels = {
        d["metadata"]["name"]: d["metadata"].get("labels", {}).get(POD_SECURITY_LABEL, "privileged")
        for d in documents
        if d.get("kind") == "Namespace"
    }
    # Each model's retrain token (the bearer token Alertmanager sends to its retrain receiver)
    # is created once in production by the model's owner, never in git (docs/secrets.md).
    secrets = {
        (application["spec"]["destination"]["namespace"], f"{labels[MODEL_LABEL]}-retrain-token")
        for application in inv.applications
        if (labels := application["metadata"].get("labels") or {}).get("mlops/environment")
        == "production"
        and application["spec"].get("project") == "models"
    }
    model_namespaces = {application["spec"]["destination"]["namespace"]
                        for application in inv.applications
                        if application["spec"].get("project") == "models"}  # fmt: skip
    return contract.Contract(services=services, pod_security=levels, secrets=secrets,
                             model_namespaces=model_namespaces)  # fmt: skip


def work_pool_pods(root: Path) -> tuple[list[contract.Pod], list[str]]:
    """The Job pod the Prefect worker's base job template makes (with its defaults)."""
    values = inventory.read_values(root, f"$values/{PREFECT_WORKER_VALUES}")
    configuration = values.get("worker", {}).get("config", {}).get("baseJobTemplate", {})
    text = configuration.get("configuration")
    if not text:
        return [], [f"{PREFECT_WORKER_VALUES}: worker.config.baseJobTemplate.configuration is "
                    "not set: the work pool would run Prefect's default job template, whose "
                    "pods Pod Security restricted refuses"]  # fmt: skip
    try:
        template = json.loads(text)
    except json.JSONDecodeError as error:
        return [], [f"{PREFECT_WORKER_VALUES}: the base job template is not JSON: {error}"]
    if not isinstance(template, dict) or not isinstance(template.get("job_configuration"), dict):
        return [], [f"{PREFECT_WORKER_VALUES}: the base job template needs a "
                    "'job_configuration' object (Prefect's base job template format)"]  # fmt: skip
    job = contract.render_job_template(template, {})
    pod_template = job.get("spec", {}).get("template", {})
    owner = f"work pool {values['worker']['config'].get('workPool')} ({PREFECT_WORKER_VALUES})"
    namespace = job.get("metadata", {}).get("namespace") or ""
    labels = (pod_template.get("metadata") or {}).get("labels") or {}
    return [contract.Pod(owner, "job_manifest.spec.template.spec", namespace,
                         pod_template.get("spec", {}), labels)], []  # fmt: skip


def check_cluster(inv: Inventory) -> list[str]:
    documents = cluster_documents(inv)
    pods, problems = work_pool_pods(inv.root)
    the_contract = cluster_contract(inv, documents)
    problems += check_model_isolation(inv, documents, the_contract.model_namespaces)
    problems += check_kafka_cluster(documents) + check_model_kafka(inv) + check_model_secrets(inv)
    problems += admission.load_and_check(inv.root, inv, documents)
    problems += check_kserve(inv, documents)
    return problems + contract.check(documents, the_contract, pods)


def check_kserve(inv: Inventory, documents: list[dict]) -> list[str]:
    """KServe as the cluster will run it: in Standard mode (no Knative here), no
    InferenceService asking for another mode, and the Gateway its HTTPRoutes attach to exists,
    has a GatewayClass and admits routes from every model namespace."""
    services = [d for d in documents if group_kind(d) == "serving.kserve.io/InferenceService"]
    if not (inv.root / KSERVE_VALUES).exists():
        return [f"{_describe(d)}: KServe is not installed here (no {KSERVE_VALUES})"
                for d in services]  # fmt: skip
    values = inventory.read_values(inv.root, f"$values/{KSERVE_VALUES}")
    controller = (values.get("kserve") or {}).get("controller") or {}
    mode = controller.get("deploymentMode")
    problems = []
    if mode != KSERVE_MODE:
        problems.append(f"{KSERVE_VALUES}: kserve.controller.deploymentMode {mode!r}: must be "
                        "Standard (this platform installs no Knative)")  # fmt: skip
    for document in services:
        asked = (document["metadata"].get("annotations") or {}).get(KSERVE_MODE_ANNOTATION)
        if asked is not None and asked != KSERVE_MODE:
            problems.append(f"{_describe(document)}: {KSERVE_MODE_ANNOTATION} {asked!r}: KServe "
                            "here runs Standard mode only (no Knative; RawDeployment is its "
                            "old name, which KServe's canary entries do not accept)")  # fmt: skip
    ingress = (controller.get("gateway") or {}).get("ingressGateway") or {}
    # Every namespace a model may be deployed to (the models project's), deployed yet or not.
    model_namespaces = {destination["namespace"]
                        for file_documents in inv.documents.values() for d in file_documents
                        if d.get("kind") == "AppProject" and d["metadata"]["name"] == "models"
                        for destination in d["spec"].get("destinations", [])}  # fmt: skip
    if ingress.get("enableGatewayApi"):
        problems += _check_model_gateway(str(ingress.get("kserveGateway", "")), documents,
                                         model_namespaces, inv.root)  # fmt: skip
    return problems


def _check_model_gateway(reference: str, documents: list[dict], model_namespaces: set[str],
                         root: Path | None = None) -> list[str]:  # fmt: skip
    where = f"{KSERVE_VALUES}: kserve.controller.gateway.ingressGateway.kserveGateway"
    namespace, _, name = reference.partition("/")
    gateway = next((d for d in documents if group_kind(d) == "gateway.networking.k8s.io/Gateway"
                    and d["metadata"]["name"] == name
                    and d["metadata"].get("namespace") == namespace), None)  # fmt: skip
    if gateway is None:
        return [f"{where} {reference!r}: no such Gateway is deployed (namespace/name); the "
                "models' HTTPRoutes would attach to nothing"]  # fmt: skip
    problems = []
    classes = {d["metadata"]["name"]: d["spec"]["controllerName"] for d in documents
               if group_kind(d) == "gateway.networking.k8s.io/GatewayClass"}  # fmt: skip
    if gateway["spec"]["gatewayClassName"] not in classes:
        problems.append(f"{_describe(gateway)}: gatewayClassName "
                        f"{gateway['spec']['gatewayClassName']!r}: no such GatewayClass is "
                        "deployed")  # fmt: skip
    elif root is not None and (root / GATEWAY_VALUES).exists():
        values = inventory.read_values(root, f"$values/{GATEWAY_VALUES}")
        claimed = (((values.get("config") or {}).get("envoyGateway") or {}).get("gateway")
                   or {}).get("controllerName")  # fmt: skip
        controller = classes[gateway["spec"]["gatewayClassName"]]
        if controller != claimed:
            problems.append(f"GatewayClass {gateway['spec']['gatewayClassName']}: "
                            f"controllerName {controller!r}, but Envoy Gateway claims "
                            f"{claimed!r} ({GATEWAY_VALUES}): nothing would program the "
                            "Gateway")  # fmt: skip
    labels = {d["metadata"]["name"]: {**(d["metadata"].get("labels") or {}),
                                      "kubernetes.io/metadata.name": d["metadata"]["name"]}
              for d in documents if d.get("kind") == "Namespace"}  # fmt: skip
    for model_namespace in sorted(model_namespaces):
        if not any(_admits(listener, model_namespace, namespace,
                           labels.get(model_namespace, {}))
                   for listener in gateway["spec"]["listeners"]):  # fmt: skip
            problems.append(f"{_describe(gateway)}: no listener admits HTTPRoutes from "
                            f"{model_namespace} (allowedRoutes): its models would be "
                            "unreachable")  # fmt: skip
    return problems


def _admits(listener: dict, namespace: str, gateway_namespace: str, labels: dict) -> bool:
    """Whether `listener` accepts an HTTPRoute from `namespace` (Gateway API's rules)."""
    allowed = listener.get("allowedRoutes") or {}
    kinds = [(k.get("group", GATEWAY_GROUP), k.get("kind")) for k in allowed.get("kinds") or []]
    if kinds and (GATEWAY_GROUP, "HTTPRoute") not in kinds:
        return False
    namespaces = allowed.get("namespaces") or {}
    origin = namespaces.get("from", "Same")
    if origin == "All":
        return True
    if origin == "Same":
        return namespace == gateway_namespace
    if origin != "Selector":
        return False
    selector = namespaces.get("selector") or {}
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expression in selector.get("matchExpressions") or []:
        value, values = labels.get(expression["key"]), expression.get("values") or []
        matched = {
            "In": value in values,
            "NotIn": value not in values,
            "Exists": value is not None,
            "DoesNotExist": value is None,
        }
        if not matched[expression["operator"]]:
            return False
    return True


def check_model_isolation(inv: Inventory, documents: list[dict],
                          namespaces: set[str]) -> list[str]:  # fmt: skip
    """Each model namespace denies all traffic by default, and a model's policies and budgets
    select only its own pods: NetworkPolicies add up, so one that selected every pod of the
    namespace would open the other models' traffic too."""
    problems = []
    for namespace in sorted(namespaces):
        if not any(d.get("kind") == "NetworkPolicy" and d["metadata"].get("namespace") == namespace
                   and d.get("spec", {}).get("podSelector") == {}
                   and set(d["spec"].get("policyTypes") or []) == {"Ingress", "Egress"}
                   and not d["spec"].get("ingress") and not d["spec"].get("egress")
                   for d in documents):  # fmt: skip
            problems.append(f"namespace {namespace}: no default-deny NetworkPolicy (podSelector "
                            "{}, both policy types, no rules) is deployed there")  # fmt: skip
    for application in inv.generated:
        model = (application["metadata"].get("labels") or {}).get(MODEL_LABEL)
        for source in inv.sources(application):
            for document in inv.documents.get(source.path, []) if source.local else []:
                kind = document.get("kind")
                if kind not in ("NetworkPolicy", "PodDisruptionBudget"):
                    continue
                spec = document.get("spec") or {}
                selector = spec.get("podSelector" if kind == "NetworkPolicy" else "selector")
                pinned = (selector or {}).get("matchLabels") or {}
                if not any(pinned.get(key) == model for key in OWN_POD_LABELS):
                    problems.append(
                        f"{source.path}: {_describe(document)}: must select only model {model}'s "
                        f"pods (matchLabels with one of {', '.join(OWN_POD_LABELS)}: {model})"
                    )
    return problems


def check_kafka_cluster(documents: list[dict]) -> list[str]:
    """Every Kafka cluster refuses clients that do not log in, enforces its ACLs and creates
    no topic because a client wrote to it (each is a KafkaTopic a model declares)."""
    problems = []
    for document in documents:
        if document.get("kind") != "Kafka":
            continue
        spec = document.get("spec", {}).get("kafka", {})
        for listener in spec.get("listeners") or []:
            if not (listener.get("authentication") or {}).get("type"):
                problems.append(f"{_describe(document)}: listener {listener.get('name')}: no "
                                "authentication (scram-sha-512 or tls)")  # fmt: skip
        if (spec.get("authorization") or {}).get("type") != "simple":
            problems.append(f"{_describe(document)}: spec.kafka.authorization: must be simple "
                            "(the KafkaUsers' ACLs)")  # fmt: skip
        if (spec.get("config") or {}).get("auto.create.topics.enable") is not False:
            problems.append(f"{_describe(document)}: spec.kafka.config: auto.create.topics.enable "
                            "must be false (topics are KafkaTopics)")  # fmt: skip
    return problems


def check_model_kafka(inv: Inventory) -> list[str]:
    """A model environment's topic, users, groups and logins are its own: each name is one of
    "<model>-<environment>-<suffix>" (settings.KAFKA_NAME_SUFFIXES, exactly: a prefix would
    also cover a model named "<model>-<environment>-..."). An ExternalSecret in a model's
    overlay reads only its own Kafka users' logins (the kafka-users store may read any Secret of
    the kafka namespace) into a Secret of its own, created and owned by that ExternalSecret
    alone (with Merge it could overwrite a Secret another model's pods read)."""
    problems = []
    for application in inv.generated:
        labels = application["metadata"].get("labels") or {}
        model, environment = labels.get(MODEL_LABEL), labels.get("mlops/environment")
        own = sorted(f"{model}-{environment}-{suffix}" for suffix in KAFKA_NAME_SUFFIXES)
        logins = sorted(f"{model}-{suffix}" for suffix in MODEL_KAFKA_LOGINS)
        project = application["spec"].get("project")
        for source in inv.sources(application):
            for document in inv.documents.get(source.path, []) if source.local else []:
                kind, spec = document.get("kind"), document.get("spec") or {}
                where = f"{source.path}: {_describe(document)}"
                names = []
                if project == "model-kafka" and kind in ("KafkaTopic", "KafkaUser"):
                    names.append(("metadata.name", document["metadata"].get("name")))
                    names.append(("spec.topicName", spec.get("topicName")))
                    acls = (spec.get("authorization") or {}).get("acls") or []
                    names += [(f"spec.authorization.acls[{index}].resource.name",
                               (acl.get("resource") or {}).get("name"))
                              for index, acl in enumerate(acls)]  # fmt: skip
                elif project == "models" and kind == "ExternalSecret":
                    login_problems = _model_login_problems(document, logins)
                    problems += [f"{where}: {problem}" for problem in login_problems]
                    names += [(f"spec.data[{index}].remoteRef.key",
                               (item.get("remoteRef") or {}).get("key"))
                              for index, item in enumerate(spec.get("data") or [])]  # fmt: skip
                problems += [f"{where}: {field}: {name!r} is not this model environment's "
                             f"(one of {', '.join(own)})"
                             for field, name in names
                             if name is not None and name not in own]  # fmt: skip
    return problems


def _model_login_problems(document: dict, logins: list[str]) -> list[str]:
    spec = document.get("spec") or {}
    target = spec.get("target") or {}
    name = document["metadata"].get("name")
    problems = []
    if (spec.get("secretStoreRef") or {}).get("name") != KAFKA_USERS_STORE or spec.get("dataFrom"):
        problems.append(f"a model's ExternalSecret may only read its Kafka users' logins from "
                        f"{KAFKA_USERS_STORE} (data, not dataFrom)")  # fmt: skip
    if name not in logins or target.get("name", name) != name:
        problems.append(f"writes Secret {target.get('name', name)!r}: a model's ExternalSecret "
                        f"may write only its own Kafka logins ({', '.join(logins)}), each "
                        "named like the ExternalSecret")  # fmt: skip
    if extra := sorted(set(target) - {"name", "template"}):
        problems.append(f"spec.target.{', '.join(extra)}: a model's login Secret is created "
                        "and owned by its ExternalSecret alone (External Secrets' "
                        "defaults)")  # fmt: skip
    keys = set((target.get("template") or {}).get("data") or {})
    if keys != {"username"}:
        problems.append("spec.target.template.data: must hold exactly the username (the "
                        "password comes from data)")  # fmt: skip
    return problems


def check_model_secrets(inv: Inventory) -> list[str]:
    """A model's objects refer only to its own Secrets and those the platform gives every
    model: the model namespaces are shared, and another model's Secret is another model's
    Kafka login or retrain token."""
    problems = []
    for application in inv.generated:
        if application["spec"].get("project") != "models":
            continue
        model = (application["metadata"].get("labels") or {}).get(MODEL_LABEL)
        allowed = {*SHARED_SECRETS, *(f"{model}-{suffix}" for suffix in MODEL_SECRET_SUFFIXES)}
        for source in inv.sources(application):
            for document in inv.documents.get(source.path, []) if source.local else []:
                problems += [
                    f"{source.path}: {_describe(document)}: {field}: Secret {name!r} is not "
                    f"model {model}'s (its own: {', '.join(sorted(allowed))})"
                    for field, name in _secret_references(document.get("spec") or {}, "spec")
                    if name not in allowed
                ]
    return problems


def _secret_references(value: Any, path: str) -> Iterator[tuple[str, str]]:
    """(field, Secret name) of every reference to a Secret in `value`: env and envFrom, volumes
    (projected ones too), and credentials (AlertmanagerConfig's)."""
    if isinstance(value, dict):
        for key, item in value.items():
            here = f"{path}.{key}"
            if key in ("secretKeyRef", "secretRef", "credentials", "secret") and isinstance(
                item, dict
            ):
                name = item.get("secretName") or item.get("name")
                if name:
                    yield here, name
            elif key == "secretName" and isinstance(item, str):
                yield here, item
            else:
                yield from _secret_references(item, here)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _secret_references(item, f"{path}[{index}]")


def check_repo(root: Path) -> Report:
    report = Report()
    try:
        inv = inventory.load(root)
    except PlatformError as error:
        report.problems.append(str(error))
        return report
    report.applications = [a["metadata"]["name"] for a in inv.applications]
    for path, documents in inv.documents.items():
        for document in documents:
            report.checked += 1
            if document.get("kind") == "Secret" and document.get("apiVersion") == "v1":
                report.problems.append(
                    f"{path}: {_describe(document)}: a Secret in git; reference it through an "
                    "ExternalSecret instead (docs/secrets.md)"
                )
                continue
            problem = check_document(document)
            if problem:
                report.problems.append(f"{path}: {_describe(document)}: {problem}")
    for application in inv.generated:
        report.checked += 1
        problem = check_document(application)
        if problem:
            report.problems.append(f"generated {_describe(application)}: {problem}")
    for application in inv.applications:
        report.problems.extend(check_project(application, inv))
        for source in inv.sources(application):
            for value_file in source.value_files:
                try:
                    inventory.read_values(root, value_file)
                except PlatformError as error:
                    report.problems.append(f"Application {source.application}: {error}")
    report.problems.extend(check_waves(inv))
    report.problems.extend(orphan_directories(inv))
    report.problems.extend(charts.stale_versions(root))
    try:
        report.problems.extend(check_cluster(inv))
    except PlatformError as error:
        report.problems.append(str(error))
    return report
