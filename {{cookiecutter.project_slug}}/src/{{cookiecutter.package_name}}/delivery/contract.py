"""The cluster contract: what a cluster does with rendered manifests, checked before it does.

Schema-valid is not cluster-valid. For documents rendered as Argo CD applies them (each in
its destination namespace), this checks what the API server and the workloads would find:

- references resolve in their namespace: every in-cluster address (`<service>.<namespace>.svc`
  in a ConfigMap, an env value, an argument, a webhook URL) names a Service, and its port,
  that is rendered or that the platform provides; every serviceAccountName, ConfigMap and
  Secret a pod uses exists there (a Secret may come from an ExternalSecret, or be one of the
  contract's Secrets a person creates once, never in git); every Service selects some pod;
- every pod the cluster would create meets the Pod Security level its namespace enforces, as
  the Pod Security Standards define "baseline" and "restricted": Deployments, Jobs and the
  other workload kinds, a SeldonDeployment's predictors together with the executor container
  Seldon Core's operator injects, an InferenceService's predictor and canary entries composed
  with the ServingRuntime they name (as KServe's controller composes them), and Prefect's job
  template;
- in a model namespace, where the platform denies all traffic by default, every pod is
  selected by a NetworkPolicy that lets it reach each in-cluster address its configuration
  names (the namespace and the port), and every model server's pods are kept up through a node
  drain by a PodDisruptionBudget;
- Kafka: every pod that logs in to Kafka does so as a KafkaUser that is rendered, through a
  Secret an ExternalSecret of the Kafka users' store fills with that user's own password; the
  user's ACLs name only rendered topics (literally, never by prefix or wildcard) and grant
  what the pod needs: a model server writes its REQUEST_TOPIC (and LABELS_TOPIC, where it
  names one), a drift service reads it in its DRIFT_CONSUMER_GROUP (and both topics in its
  QUALITY_CONSUMER_GROUP, where it names one); nothing more than reading, writing and
  describing.

Each problem is one line: the object, the field, the rule. This file is the same in the
platform repo (`gitops validate`) and in every model repo (its tests of its overlays).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

# A Service's cluster DNS name, with an optional port: name.namespace.svc[.cluster.local][:port]
ADDRESS = re.compile(
    r"(?<![\w.-])([a-z0-9](?:[-a-z0-9]*[a-z0-9])?)\.([a-z0-9](?:[-a-z0-9]*[a-z0-9])?)"
    r"\.svc(?:\.cluster\.local)?\.?(?::(\d+))?(?![\w-])"
)
# A Prefect job-template placeholder (a variable name in double braces): a whole value, or
# part of a string.
PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")

POD_TEMPLATE_KINDS = {
    "Deployment": ("spec", "template"),
    "StatefulSet": ("spec", "template"),
    "DaemonSet": ("spec", "template"),
    "ReplicaSet": ("spec", "template"),
    "Job": ("spec", "template"),
}
LEVELS = ("privileged", "baseline", "restricted")
# Pod Security Standards (Kubernetes 1.32), baseline profile.
BASELINE_CAPABILITIES = {
    "AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
    "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT",
}  # fmt: skip
SAFE_SYSCTLS = {
    "kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
}  # fmt: skip
SELINUX_TYPES = {"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"}
# ... and the restricted profile.
RESTRICTED_VOLUMES = {
    "configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim",
    "projected", "secret",
}  # fmt: skip
VOLUME_FIELDS = RESTRICTED_VOLUMES | {
    "awsElasticBlockStore", "azureDisk", "azureFile", "cephfs", "cinder", "fc", "flexVolume",
    "flocker", "gcePersistentDisk", "gitRepo", "glusterfs", "hostPath", "image", "iscsi", "nfs",
    "photonPersistentDisk", "portworxVolume", "quobyte", "rbd", "scaleIO", "storageos",
    "vsphereVolume",
}  # fmt: skip

# The container Seldon Core 1.19's operator adds to every predictor pod that runs with its
# executor: its securityContext sets only these two fields.
SELDON_EXECUTOR = {
    "name": "seldon-container-engine",
    "securityContext": {"runAsUser": 8888, "allowPrivilegeEscalation": False},
}
SELDON_NO_ENGINE = "seldon.io/no-engine"
# The label each operator puts on the pods of a model server, with the resource's name.
SELDON_DEPLOYMENT_LABEL = "seldon-deployment-id"
KSERVE_LABEL = "serving.kserve.io/inferenceservice"
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"  # every namespace has it


@dataclass
class Pod:
    """A pod the cluster would create: where it comes from, and its spec."""

    owner: str  # "Deployment models-staging/iris-drift"
    path: str  # the field path of the pod spec in the owner
    namespace: str
    spec: dict[str, Any]
    labels: dict[str, str] = field(default_factory=dict)  # the pod's, operators' included
    server: bool = False  # a model server (a SeldonDeployment's or InferenceService's pods)


@dataclass
class Contract:
    """What the rendered documents may rely on beyond themselves."""

    # Services that exist though nothing here renders them (Helm charts, operators):
    # (namespace, name) -> ports.
    services: dict[tuple[str, str], set[int]] = field(default_factory=dict)
    # Namespace -> the Pod Security level it enforces ("privileged" if not listed).
    pod_security: dict[str, str] = field(default_factory=dict)
    # Secrets a person creates once in the cluster (each documented where it is used) and
    # that no file renders: (namespace, name).
    secrets: set[tuple[str, str]] = field(default_factory=set)
    # The model environments' namespaces: the platform denies all traffic there by default,
    # and a model server there needs a PodDisruptionBudget.
    model_namespaces: set[str] = field(default_factory=set)
    # The ClusterSecretStore that reads Kafka users' Secrets (Strimzi's) for model namespaces.
    kafka_users_store: str = "kafka-users"


def describe(document: dict) -> str:
    metadata = document.get("metadata") or {}
    namespace = metadata.get("namespace") or ""
    return f"{document.get('kind')} {namespace}/{metadata.get('name')}".replace(" /", " ")


def check(documents: list[dict], contract: Contract, pods: Iterable[Pod] = ()) -> list[str]:
    """Every broken reference and every pod its namespace's Pod Security would refuse."""
    all_pods = [*pods_of(documents), *pods]
    problems = check_references(documents, contract, all_pods)
    problems += check_network(documents, contract, all_pods)
    problems += check_kafka(documents, contract, all_pods)
    for pod in all_pods:
        level = contract.pod_security.get(pod.namespace, "privileged")
        problems += [f"{pod.owner}: {pod.path}.{where}: {rule} (Pod Security {level})"
                     for where, rule in pod_security(pod.spec, level)]  # fmt: skip
    return problems


# -- pods ---------------------------------------------------------------------------------------
def pods_of(documents: list[dict]) -> Iterator[Pod]:
    """The pods the cluster would create from `documents`, operators' injections included."""
    for document in documents:
        kind, owner = document.get("kind"), describe(document)
        namespace = (document.get("metadata") or {}).get("namespace") or ""
        spec = document.get("spec") or {}
        name = (document.get("metadata") or {}).get("name") or ""
        if kind in POD_TEMPLATE_KINDS:
            template = spec.get("template") or {}
            yield Pod(owner, "spec.template.spec", namespace, template.get("spec", {}),
                      _labels(template))  # fmt: skip
        elif kind == "CronJob":
            template = spec.get("jobTemplate", {}).get("spec", {}).get("template", {})
            yield Pod(owner, "spec.jobTemplate.spec.template.spec", namespace,
                      template.get("spec", {}), _labels(template))  # fmt: skip
        elif kind == "Pod":
            yield Pod(owner, "spec", namespace, spec, _labels(document))
        elif kind == "SeldonDeployment":
            for i, predictor in enumerate(spec.get("predictors") or []):
                engine = str((predictor.get("annotations") or {}).get(SELDON_NO_ENGINE)).lower()
                for j, component in enumerate(predictor.get("componentSpecs") or []):
                    pod = dict(component.get("spec") or {})
                    if engine != "true" and j == 0:  # the operator adds its executor here
                        pod["containers"] = [*pod.get("containers", []), SELDON_EXECUTOR]
                    path = f"spec.predictors[{predictor.get('name', i)}].componentSpecs[{j}].spec"
                    # The operator labels each pod with its SeldonDeployment's name.
                    labels = {**_labels(component), SELDON_DEPLOYMENT_LABEL: name}
                    yield Pod(owner, path, namespace, pod, labels, server=True)
        elif kind == "InferenceService":
            runtimes = {
                ((d.get("metadata") or {}).get("namespace") or "", d["metadata"].get("name")): d
                for d in documents if d.get("kind") == "ServingRuntime"
            }  # fmt: skip
            for path, predictor in kserve_predictors(spec):
                # The controller labels each pod with the InferenceService's name, and gives
                # it the InferenceService's own labels beside the predictor's.
                labels = {**((document.get("metadata") or {}).get("labels") or {}),
                          **(predictor.get("labels") or {}), KSERVE_LABEL: name}  # fmt: skip
                pod = kserve_pod(predictor, runtimes.get((namespace, _runtime_name(predictor))))
                yield Pod(owner, path, namespace, pod, labels, server=True)


# An InferenceService predictor's own fields beside the PodSpec it inlines, and a predictor
# model's own fields beside the container it inlines (KServe v1beta1).
KSERVE_PREDICTOR_FIELDS = {
    "name", "minReplicas", "maxReplicas", "scaleMetric", "scaleTarget", "canaryTrafficPercent",
    "labels", "annotations", "model", "logger", "batcher", "timeout", "containerConcurrency",
    "deploymentStrategy", "autoScaling", "storageUris", "storageContainerName", "workerSpec",
    "sklearn", "xgboost", "tensorflow", "pytorch", "triton", "onnx", "huggingface", "pmml",
    "lightgbm", "paddle",
}  # fmt: skip
KSERVE_MODEL_FIELDS = {"modelFormat", "runtime", "storageUri", "runtimeVersion",
                       "protocolVersion", "storage", "confidential"}  # fmt: skip
KSERVE_CONTAINER = "kserve-container"  # the predictor's container, in a ServingRuntime too
# The pod fields KServe takes from a ServingRuntime (its MergePodSpec); the predictor's own
# values are merged over them. Any other pod field of a runtime is not used.
KSERVE_RUNTIME_POD_FIELDS = {"nodeSelector", "affinity", "tolerations", "volumes",
                             "imagePullSecrets", "schedulerName", "resourceClaims"}  # fmt: skip
# Strategic-merge keys of a pod's and a container's lists, as KServe merges a runtime's pod and
# container with a predictor's and a model's (lists without a key are replaced).
CONTAINER_MERGE_KEYS = {"env": "name", "ports": "containerPort", "volumeMounts": "mountPath"}
POD_MERGE_KEYS = {"volumes": "name", "imagePullSecrets": "name", "resourceClaims": "name"}


def kserve_predictors(spec: dict) -> Iterator[tuple[str, dict]]:
    """(path, predictor) of the stable predictor and of each `canary` entry, the entry merged
    over a copy of the stable one as KServe's controller does (its maps key by key, its
    non-empty lists and values replacing the stable's)."""
    stable = spec.get("predictor") or {}
    yield "spec.predictor", stable
    for i, canary in enumerate(spec.get("canary") or []):
        override = canary.get("predictor") or {}
        yield f"spec.canary[{override.get('name', i)}].predictor", _override(stable, override)


def _override(base: Any, override: Any) -> Any:
    # mergo keeps the stable value where the entry's is empty. False and 0 override here:
    # KServe's optional fields are pointers, which mergo copies whatever they point at.
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for key, value in override.items():
            merged[key] = _override(base.get(key), value) if key in base else value
        return merged
    return base if override is None or (isinstance(override, (list, dict, str))
                                        and not override) else override  # fmt: skip


def _runtime_name(predictor: dict) -> str | None:
    return (predictor.get("model") or {}).get("runtime")


def kserve_pod(predictor: dict, runtime: dict | None) -> dict:
    """The pod spec a predictor gives: its PodSpec fields, and with a `model`, its
    ServingRuntime's pod fields and container, the model's container fields merged in."""
    pod = {k: v for k, v in predictor.items() if k not in KSERVE_PREDICTOR_FIELDS}
    model = predictor.get("model")
    if model is None:
        return pod
    runtime_spec = (runtime or {}).get("spec") or {}
    containers = [dict(c) for c in runtime_spec.get("containers") or []]
    own = {k: v for k, v in model.items() if k not in KSERVE_MODEL_FIELDS}
    main = next((c for c in containers if c.get("name") == KSERVE_CONTAINER), None)
    if main is None:
        main = {"name": KSERVE_CONTAINER}
        containers.insert(0, main)
    main.update(_merge_container(main, own))
    from_runtime = {k: v for k, v in runtime_spec.items() if k in KSERVE_RUNTIME_POD_FIELDS}
    pod = _strategic_merge(from_runtime, pod, POD_MERGE_KEYS)
    pod["containers"] = [*containers, *(pod.get("containers") or [])]
    return pod


def _merge_container(base: dict, override: dict) -> dict:
    return _strategic_merge(base, override, CONTAINER_MERGE_KEYS)


def _strategic_merge(base: dict, override: dict, merge_keys: dict[str, str]) -> dict:
    """`override` over `base` as a strategic merge patch does it: maps key by key at every
    depth, the lists of `merge_keys` item by item (by their key), other lists and values
    replaced."""
    merged = dict(base)
    for key, value in override.items():
        if key in merge_keys and isinstance(value, list):
            merge_key = merge_keys[key]
            by_key = {item.get(merge_key): item for item in base.get(key) or []}
            by_key.update({item.get(merge_key): item for item in value})
            merged[key] = list(by_key.values())
        elif isinstance(value, dict) and isinstance(base.get(key), dict):
            merged[key] = _strategic_merge(base[key], value, {})
        else:
            merged[key] = value
    return merged


def _labels(template: dict) -> dict[str, str]:
    return dict((template.get("metadata") or {}).get("labels") or {})


def _containers(spec: dict) -> Iterator[tuple[str, dict]]:
    for group in ("initContainers", "containers", "ephemeralContainers"):
        for container in spec.get(group) or []:
            yield f"{group}[{container.get('name')}]", container


def pod_security(spec: dict, level: str) -> list[tuple[str, str]]:
    """(field, rule) for everything in a pod spec that the Pod Security level refuses."""
    if level not in LEVELS:
        return [("", f"unknown Pod Security level {level!r}")]
    if level == "privileged":
        return []
    found = _baseline(spec)
    if level == "restricted":
        found += _restricted(spec)
    return found


def _baseline(spec: dict) -> list[tuple[str, str]]:
    found = []
    pod_context = spec.get("securityContext") or {}
    for host in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(host):
            found.append((host, "host namespaces must not be shared"))
    if (pod_context.get("windowsOptions") or {}).get("hostProcess"):
        found.append(("securityContext.windowsOptions.hostProcess", "must not be true"))
    for volume in spec.get("volumes") or []:
        if "hostPath" in volume:
            found.append(
                (f"volumes[{volume.get('name')}].hostPath", "hostPath volumes are forbidden")
            )
    for sysctl in pod_context.get("sysctls") or []:
        if sysctl.get("name") not in SAFE_SYSCTLS:
            found.append(("securityContext.sysctls", f"{sysctl.get('name')} is not a safe sysctl"))
    found += [(f"securityContext.{w}", r) for w, r in _context_baseline(pod_context)]
    for where, container in _containers(spec):
        context = container.get("securityContext") or {}
        if context.get("privileged"):
            found.append((f"{where}.securityContext.privileged", "must not be true"))
        if (context.get("windowsOptions") or {}).get("hostProcess"):
            found.append(
                (f"{where}.securityContext.windowsOptions.hostProcess", "must not be true")
            )
        added = set((context.get("capabilities") or {}).get("add") or [])
        if added - BASELINE_CAPABILITIES:
            extra = ", ".join(sorted(added - BASELINE_CAPABILITIES))
            found.append((f"{where}.securityContext.capabilities.add", f"{extra} not allowed"))
        if context.get("procMount") not in (None, "Default"):
            found.append((f"{where}.securityContext.procMount", "must be Default"))
        for port in container.get("ports") or []:
            if port.get("hostPort"):
                found.append((f"{where}.ports", "hostPort must not be set"))
        found += [(f"{where}.securityContext.{w}", r) for w, r in _context_baseline(context)]
    return found


def _context_baseline(context: dict) -> list[tuple[str, str]]:
    found = []
    if (context.get("seccompProfile") or {}).get("type") == "Unconfined":
        found.append(("seccompProfile.type", "must not be Unconfined"))
    if (context.get("appArmorProfile") or {}).get("type") not in (
        None,
        "RuntimeDefault",
        "Localhost",
    ):
        found.append(("appArmorProfile.type", "must be RuntimeDefault or Localhost"))
    selinux = context.get("seLinuxOptions") or {}
    if selinux.get("type", "") not in SELINUX_TYPES:
        found.append(("seLinuxOptions.type", f"{selinux['type']} is not allowed"))
    if selinux.get("user") or selinux.get("role"):
        found.append(("seLinuxOptions", "user and role must not be set"))
    return found


def _restricted(spec: dict) -> list[tuple[str, str]]:
    found = []
    pod_context = spec.get("securityContext") or {}
    for volume in spec.get("volumes") or []:
        kinds = set(volume) & VOLUME_FIELDS
        if kinds - RESTRICTED_VOLUMES:
            kind = ", ".join(sorted(kinds - RESTRICTED_VOLUMES))
            found.append((f"volumes[{volume.get('name')}]", f"{kind} volumes are not allowed"))
    if pod_context.get("runAsUser") == 0:
        found.append(("securityContext.runAsUser", "must not be 0"))
    if pod_context.get("runAsNonRoot") is False:
        found.append(("securityContext.runAsNonRoot", "must not be false"))
    pod_seccomp = (pod_context.get("seccompProfile") or {}).get("type")
    for where, container in _containers(spec):
        context = container.get("securityContext") or {}
        if context.get("allowPrivilegeEscalation") is not False:
            found.append((f"{where}.securityContext.allowPrivilegeEscalation", "must be false"))
        non_root = context.get("runAsNonRoot", pod_context.get("runAsNonRoot"))
        if non_root is not True:
            found.append(
                (f"{where}.securityContext.runAsNonRoot", "must be true (here or for the pod)")
            )
        if context.get("runAsUser") == 0:
            found.append((f"{where}.securityContext.runAsUser", "must not be 0"))
        seccomp = (context.get("seccompProfile") or {}).get("type", pod_seccomp)
        if seccomp not in ("RuntimeDefault", "Localhost"):
            found.append((f"{where}.securityContext.seccompProfile.type",
                          "must be RuntimeDefault or Localhost (here or for the pod)"))  # fmt: skip
        capabilities = context.get("capabilities") or {}
        if "ALL" not in (capabilities.get("drop") or []):
            found.append((f"{where}.securityContext.capabilities.drop", "must include ALL"))
        if set(capabilities.get("add") or []) - {"NET_BIND_SERVICE"}:
            found.append(
                (f"{where}.securityContext.capabilities.add", "only NET_BIND_SERVICE may be added")
            )
    return found


# -- references ---------------------------------------------------------------------------------
def services_of(documents: list[dict]) -> dict[tuple[str, str], set[int]]:
    """(namespace, name) -> ports of every Service the documents make, the ones operators
    create for their custom resources included (Strimzi's Kafka bootstrap Service,
    CloudNativePG's read-write, read-only and any-instance Services, KServe's Service of each
    predictor), and the API server's."""
    services: dict[tuple[str, str], set[int]] = {("default", "kubernetes"): {443}}
    for namespace, name, port in service_targets(documents):
        services.setdefault((namespace, name), set()).add(port)
    for document in documents:
        metadata = document.get("metadata") or {}
        key = (metadata.get("namespace") or "", metadata.get("name") or "")
        spec = document.get("spec") or {}
        if document.get("kind") == "Service":
            services[key] = {int(p["port"]) for p in spec.get("ports") or [] if "port" in p}
        elif document.get("kind") == "Kafka" and document.get("apiVersion", "").startswith(
            "kafka.strimzi.io/"
        ):
            listeners = (spec.get("kafka") or {}).get("listeners") or []
            services[(key[0], f"{key[1]}-kafka-bootstrap")] = {int(x["port"]) for x in listeners}
        elif document.get("kind") == "Cluster" and document.get("apiVersion", "").startswith(
            "postgresql.cnpg.io/"
        ):
            for suffix in ("rw", "ro", "r"):
                services[(key[0], f"{key[1]}-{suffix}")] = {5432}
    return services


def service_targets(documents: list[dict]) -> dict[tuple[str, str, int], int]:
    """(namespace, Service, port) -> the pods' port behind it, where the documents say it
    differs: a rendered Service's numeric targetPort, and KServe's Service of each predictor
    (`<name>-predictor`, `<name>-<predictor name>-predictor` for a named one or a canary),
    whose port 80 leads to the first port of the model server's container and whose other
    ports are the container's own."""
    targets = {}
    for document in documents:
        metadata = document.get("metadata") or {}
        namespace, name = metadata.get("namespace") or "", metadata.get("name") or ""
        spec = document.get("spec") or {}
        if document.get("kind") == "Service":
            for port in spec.get("ports") or []:
                if isinstance(port.get("targetPort"), int) and "port" in port:
                    targets[(namespace, name, int(port["port"]))] = port["targetPort"]
        elif document.get("kind") == "InferenceService":
            runtimes = [d for d in documents if d.get("kind") == "ServingRuntime"]
            servers = list(pods_of([document, *runtimes]))
            for (_, predictor), pod in zip(kserve_predictors(spec), servers, strict=True):
                service = "-".join(filter(None, (name, predictor.get("name"), "predictor")))
                containers = pod.spec.get("containers") or []
                ports = [int(p["containerPort"]) for p in (containers[0].get("ports") or [])
                         if "containerPort" in p] if containers else []  # fmt: skip
                for index, port in enumerate(ports):
                    targets[(namespace, service, 80 if index == 0 else port)] = port
    return targets


def _strings(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, f"{path}[{index}]")


def check_references(documents: list[dict], contract: Contract, pods: list[Pod]) -> list[str]:
    problems = []
    services = {**contract.services, **services_of(documents)}
    present: dict[str, set[tuple[str, str]]] = {"ServiceAccount": set(), "ConfigMap": set(),
                                                "Secret": set(contract.secrets)}  # fmt: skip
    for document in documents:
        metadata = document.get("metadata") or {}
        namespace = metadata.get("namespace") or ""
        if document.get("kind") in present:
            present[document["kind"]].add((namespace, metadata.get("name")))
        if document.get("kind") == "ExternalSecret":
            target = (document.get("spec") or {}).get("target") or {}
            present["Secret"].add((namespace, target.get("name") or metadata.get("name")))
        # In-cluster addresses anywhere in the document.
        for path, text in _strings(document):
            if path.startswith("metadata.") or path == "apiVersion":
                continue
            for match in ADDRESS.finditer(text):
                name, target_namespace, port = match.group(1), match.group(2), match.group(3)
                ports = services.get((target_namespace, name))
                if ports is None:
                    problems.append(f"{describe(document)}: {path}: {match.group(0)} names no "
                                    f"Service {name} in namespace {target_namespace}")  # fmt: skip
                elif port and int(port) not in ports:
                    known = ", ".join(map(str, sorted(ports))) or "none"
                    problems.append(f"{describe(document)}: {path}: Service {target_namespace}/"
                                    f"{name} has no port {port} (it has {known})")  # fmt: skip
    for pod in pods:
        problems += [f"{pod.owner}: {pod.path}.{where}: {rule}"
                     for where, rule in _pod_references(pod, present)]  # fmt: skip
    problems += _selectors(documents, pods)
    problems += _serving_runtimes(documents)
    return problems


def _serving_runtimes(documents: list[dict]) -> list[str]:
    """Each predictor's `model` names a ServingRuntime of its namespace that serves its
    format and protocol, as KServe's controller requires before it creates any pod."""
    runtimes = {
        ((d.get("metadata") or {}).get("namespace") or "", d["metadata"].get("name")): d["spec"]
        for d in documents if d.get("kind") == "ServingRuntime"
    }  # fmt: skip
    problems = []
    for document in documents:
        if document.get("kind") != "InferenceService":
            continue
        namespace = (document.get("metadata") or {}).get("namespace") or ""
        for path, predictor in kserve_predictors(document.get("spec") or {}):
            model = predictor.get("model")
            if model is None:
                continue
            where = f"{describe(document)}: {path}.model"
            name = model.get("runtime")
            runtime = runtimes.get((namespace, name))
            if runtime is None:
                problems.append(f"{where}.runtime: no ServingRuntime {name} in {namespace}")
                continue
            wanted = model.get("modelFormat") or {}
            formats = [(f.get("name"), f.get("version")) for f in
                       runtime.get("supportedModelFormats") or []]  # fmt: skip
            if not any(n == wanted.get("name") and (wanted.get("version") in (None, v))
                       for n, v in formats):  # fmt: skip
                problems.append(f"{where}.modelFormat: ServingRuntime {name} does not serve "
                                f"{wanted} (it serves {formats})")  # fmt: skip
            protocol = model.get("protocolVersion")
            if protocol and protocol not in (runtime.get("protocolVersions") or []):
                problems.append(f"{where}.protocolVersion: ServingRuntime {name} does not speak "
                                f"{protocol}")  # fmt: skip
    return problems


def _pod_references(pod: Pod, present: dict[str, set]) -> list[tuple[str, str]]:
    found = []
    account = pod.spec.get("serviceAccountName")
    if (
        account
        and account != "default"
        and (pod.namespace, account) not in present["ServiceAccount"]
    ):
        found.append(("serviceAccountName", f"no ServiceAccount {account} in {pod.namespace}"))

    def need(kind: str, ref: dict, where: str, name_field: str = "name") -> None:
        name = ref.get(name_field)
        if name and ref.get("optional") is not True and (pod.namespace, name) not in present[kind]:
            found.append((where, f"no {kind} {name} in {pod.namespace}"))

    for volume in pod.spec.get("volumes") or []:
        where = f"volumes[{volume.get('name')}]"
        if "configMap" in volume:
            need("ConfigMap", volume["configMap"], where)
        if "secret" in volume:
            need("Secret", volume["secret"], where, name_field="secretName")
        for source in (volume.get("projected") or {}).get("sources") or []:
            for kind, key in (("ConfigMap", "configMap"), ("Secret", "secret")):
                if key in source:
                    need(kind, source[key], where)
    for where, container in _containers(pod.spec):
        for source in container.get("envFrom") or []:
            for kind, key in (("ConfigMap", "configMapRef"), ("Secret", "secretRef")):
                if key in source:
                    need(kind, source[key], f"{where}.envFrom")
        for variable in container.get("env") or []:
            if not isinstance(variable, dict):
                found.append((f"{where}.env", f"{variable!r} is not a name/value object"))
                continue
            value_from = variable.get("valueFrom") or {}
            for kind, key in (("ConfigMap", "configMapKeyRef"), ("Secret", "secretKeyRef")):
                if key in value_from:
                    need(kind, value_from[key], f"{where}.env[{variable.get('name')}]")
    return found


def _selectors(documents: list[dict], pods: list[Pod]) -> list[str]:
    """Every Service selects the pods of some workload in its namespace."""
    labelled = []
    for document in documents:
        kind = document.get("kind")
        namespace = (document.get("metadata") or {}).get("namespace") or ""
        if kind in POD_TEMPLATE_KINDS:
            labels = ((document.get("spec") or {}).get("template") or {}).get("metadata") or {}
            labelled.append((namespace, labels.get("labels") or {}))
        elif kind in ("SeldonDeployment", "InferenceService"):
            labelled.append((namespace, None))  # the operator labels its pods: anything goes
    problems = []
    for document in documents:
        if document.get("kind") != "Service":
            continue
        namespace = (document.get("metadata") or {}).get("namespace") or ""
        selector = (document.get("spec") or {}).get("selector")
        if not selector:
            continue
        if not any(ns == namespace and (labels is None or selector.items() <= labels.items())
                   for ns, labels in labelled):  # fmt: skip
            problems.append(f"{describe(document)}: spec.selector: selects no pod of any workload "
                            f"in {namespace} ({selector})")  # fmt: skip
    return problems


# -- network and disruption ----------------------------------------------------------------------
def check_network(documents: list[dict], contract: Contract, pods: list[Pod]) -> list[str]:
    """In a model namespace: each pod is selected by a NetworkPolicy that allows egress to
    every in-cluster address its configuration names; each model server has a
    PodDisruptionBudget. (A policy's port is the pod's port behind a Service: the shared
    services listen on the ports their Services expose.)"""
    by_kind: dict[str, list[dict]] = {"NetworkPolicy": [], "PodDisruptionBudget": []}
    config_maps: dict[tuple[str, str], dict] = {}
    for document in documents:
        metadata = document.get("metadata") or {}
        if document.get("kind") in by_kind:
            by_kind[document["kind"]].append(document)
        elif document.get("kind") == "ConfigMap":
            config_maps[(metadata.get("namespace") or "", metadata.get("name"))] = (
                document.get("data") or {}
            )
    targets = service_targets(documents)
    problems = []
    for pod in pods:
        if pod.namespace not in contract.model_namespaces:
            continue
        where = f"{pod.owner}: {pod.path}"
        policies = [p for p in _in(by_kind["NetworkPolicy"], pod.namespace)
                    if _selects((p.get("spec") or {}).get("podSelector"), pod.labels)]  # fmt: skip
        if not policies:
            problems.append(f"{where}: no NetworkPolicy selects this pod: {pod.namespace} denies "
                            "all its traffic")  # fmt: skip
        else:
            for namespace, service, port in sorted(_addresses(pod, config_maps)):
                target = targets.get((namespace, service, port), port)
                if not any(_allows_egress(p, namespace, target) for p in policies):
                    problems.append(f"{where}: egress to {service}.{namespace}:{port}: no "
                                    "NetworkPolicy of this pod allows it")  # fmt: skip
        if pod.server and not any(
            _selects((b.get("spec") or {}).get("selector"), pod.labels)
            for b in _in(by_kind["PodDisruptionBudget"], pod.namespace)
        ):
            problems.append(f"{where}: no PodDisruptionBudget keeps this model server up "
                            "through a node drain")  # fmt: skip
    return problems


def _in(documents: list[dict], namespace: str) -> list[dict]:
    return [d for d in documents if ((d.get("metadata") or {}).get("namespace") or "") == namespace]


def _selects(selector: dict | None, labels: dict[str, str]) -> bool:
    """A label selector (matchLabels and matchExpressions) against a pod's labels; None
    selects nothing, {} everything."""
    if selector is None:
        return False
    if not (selector.get("matchLabels") or {}).items() <= labels.items():
        return False
    for expression in selector.get("matchExpressions") or []:
        key, operator = expression.get("key"), expression.get("operator")
        values = expression.get("values") or []
        present = key in labels
        if (
            (operator == "Exists" and not present)
            or (operator == "DoesNotExist" and present)
            or (operator == "In" and labels.get(key) not in values)
            or (operator == "NotIn" and present and labels[key] in values)
        ):
            return False
    return True


def _addresses(pod: Pod, config_maps: dict) -> set[tuple[str, str, int]]:
    """(namespace, service, port) of every in-cluster address with a port in the pod's
    environment (its values and the ConfigMaps it reads)."""
    texts = []
    for _, container in _containers(pod.spec):
        texts += [str(v.get("value", "")) for v in container.get("env") or []
                  if isinstance(v, dict)]  # fmt: skip
        for source in container.get("envFrom") or []:
            name = (source.get("configMapRef") or {}).get("name")
            texts += [str(v) for v in config_maps.get((pod.namespace, name), {}).values()]
    return {(m.group(2), m.group(1), int(m.group(3)))
            for text in texts for m in ADDRESS.finditer(text) if m.group(3)}  # fmt: skip


def _allows_egress(policy: dict, namespace: str, port: int) -> bool:
    spec = policy.get("spec") or {}
    if "Egress" not in (spec.get("policyTypes") or []):
        return False  # it does not govern egress: the namespace's default denial stands
    for rule in spec.get("egress") or []:
        ports = [p.get("port") for p in rule.get("ports") or []]
        if ports and port not in ports:
            continue
        peers = rule.get("to")
        if not peers:  # no `to`: every destination
            return True
        for peer in peers:
            selector = peer.get("namespaceSelector")
            if selector is not None and _selects(selector, {NAMESPACE_NAME_LABEL: namespace}):
                return True
            # A pod selector alone: pods of the policy's own namespace.
            own = (policy.get("metadata") or {}).get("namespace") or ""
            if selector is None and "podSelector" in peer and own == namespace:
                return True
    return False


# -- Kafka -------------------------------------------------------------------------------------
# What a model's Kafka user may do: anything else (Create, Delete, Alter, All, ...) is the
# platform's.
KAFKA_MODEL_OPERATIONS = {"Read", "Write", "Describe"}
COMPONENT_LABEL = "app.kubernetes.io/component"


def check_kafka(documents: list[dict], contract: Contract, pods: list[Pod]) -> list[str]:
    problems = []
    topics = {(d.get("spec") or {}).get("topicName") or d["metadata"].get("name")
              for d in documents if d.get("kind") == "KafkaTopic"}  # fmt: skip
    users = {d["metadata"].get("name"): d for d in documents if d.get("kind") == "KafkaUser"}
    for _, user in sorted(users.items()):
        acls = ((user.get("spec") or {}).get("authorization") or {}).get("acls") or []
        for index, acl in enumerate(acls):
            where = f"{describe(user)}: spec.authorization.acls[{index}]"
            resource = acl.get("resource") or {}
            if resource.get("type") not in ("topic", "group"):
                problems.append(f"{where}: a model's user may name only topics and groups, "
                                f"not {resource.get('type')}")  # fmt: skip
            if resource.get("patternType", "literal") != "literal" or "*" in str(
                resource.get("name")
            ):
                problems.append(f"{where}: names {resource.get('name')!r} by prefix or "
                                "wildcard: name one topic or group literally")  # fmt: skip
            if resource.get("type") == "topic" and resource.get("name") not in topics:
                problems.append(f"{where}: no KafkaTopic {resource.get('name')} is rendered")
            if extra := sorted(set(acl.get("operations") or []) - KAFKA_MODEL_OPERATIONS):
                problems.append(f"{where}: {', '.join(extra)}: a model's user may only "
                                "Read, Write and Describe")  # fmt: skip
    logins: dict[tuple[str, str], str] = {}  # (namespace, Secret) -> the KafkaUser it holds
    for document in documents:
        spec = document.get("spec") or {}
        if (
            document.get("kind") != "ExternalSecret"
            or (spec.get("secretStoreRef") or {}).get("name") != contract.kafka_users_store
        ):
            continue  # fmt: skip
        where = describe(document)
        keys = {(item.get("remoteRef") or {}).get("key") for item in spec.get("data") or []}
        username = (((spec.get("target") or {}).get("template") or {}).get("data") or {}).get(
            "username"
        )
        if len(keys) != 1 or username not in keys or spec.get("dataFrom"):
            problems.append(f"{where}: must read one KafkaUser's password (data[].remoteRef.key) "
                            "and name the same user in target.template.data.username")  # fmt: skip
        elif username not in users:
            problems.append(f"{where}: no KafkaUser {username} is rendered")
        else:
            target = (spec.get("target") or {}).get("name") or document["metadata"].get("name")
            logins[(document["metadata"].get("namespace") or "", target)] = username
    config_maps = {
        (d["metadata"].get("namespace") or "", d["metadata"].get("name")): d.get("data") or {}
        for d in documents
        if d.get("kind") == "ConfigMap"
    }
    for pod in pods:
        problems += [f"{pod.owner}: {pod.path}: {problem}"
                     for problem in _kafka_login(pod, config_maps, logins, users)]  # fmt: skip
    return problems


def _kafka_login(pod: Pod, config_maps: dict, logins: dict, users: dict) -> list[str]:
    """What is wrong with how `pod` logs in to Kafka, if it does."""
    values: dict[str, str] = {}
    username_secret = None
    for _, container in _containers(pod.spec):
        for source in container.get("envFrom") or []:
            name = (source.get("configMapRef") or {}).get("name")
            values.update(config_maps.get((pod.namespace, name), {}))
        for variable in container.get("env") or []:
            if not isinstance(variable, dict):
                continue
            if "value" in variable:
                values[variable.get("name")] = str(variable["value"])
            reference = (variable.get("valueFrom") or {}).get("secretKeyRef") or {}
            if variable.get("name") == "KAFKA_USERNAME" and reference:
                username_secret = reference.get("name")
    # Who talks to Kafka: a model server (its request log), a drift service (a candidate's
    # too), any pod that names a Kafka user. Others share the configuration without a login.
    # A consumer: any pod but a server that names a Kafka user, or a drift service.
    drift = not pod.server and (
        bool(username_secret) or pod.labels.get(COMPONENT_LABEL, "").startswith("drift")
    )
    if not (pod.server or drift or username_secret):
        return []
    if not values.get("KAFKA_SECURITY_PROTOCOL", "").startswith("SASL_"):
        if values.get("KAFKA_BOOTSTRAP_SERVERS") and (pod.server or drift):
            return ["talks to Kafka without a login (KAFKA_SECURITY_PROTOCOL="
                    f"{values.get('KAFKA_SECURITY_PROTOCOL') or 'PLAINTEXT'}): the cluster's "
                    "listener refuses it"]  # fmt: skip
        return []
    user = logins.get((pod.namespace, username_secret))
    if user is None:
        return [
            f"logs in to Kafka (KAFKA_SECURITY_PROTOCOL="
            f"{values['KAFKA_SECURITY_PROTOCOL']}) but KAFKA_USERNAME does not come from "
            f"a Secret an ExternalSecret of the Kafka users' store fills in {pod.namespace}"
        ]
    acls = ((users[user].get("spec") or {}).get("authorization") or {}).get("acls") or []
    grants = {(acl.get("resource", {}).get("type"), acl.get("resource", {}).get("name"), op)
              for acl in acls for op in acl.get("operations") or []}  # fmt: skip
    topic, group = values.get("REQUEST_TOPIC"), values.get("DRIFT_CONSUMER_GROUP")
    labels, quality = values.get("LABELS_TOPIC"), values.get("QUALITY_CONSUMER_GROUP")
    if pod.server:
        needed = [("topic", topic, "Write")]
        needed += [("topic", labels, "Write")] if labels else []
    elif drift:
        needed = [("topic", topic, "Read"), ("group", group, "Read")]
        needed += [("topic", labels, "Read"), ("group", quality, "Read")] if labels else []
    else:
        needed = []
    return [f"KafkaUser {user} may not {op} {kind} {name} (REQUEST_TOPIC / "
            "DRIFT_CONSUMER_GROUP / LABELS_TOPIC / QUALITY_CONSUMER_GROUP of its configuration)"
            for kind, name, op in needed if (kind, name, op) not in grants]  # fmt: skip


# -- Prefect's job template ---------------------------------------------------------------------
def render_job_template(template: dict, variables: dict[str, Any]) -> dict:
    """The Job a Prefect Kubernetes worker would create from a work pool's base job template,
    for a deployment's job variables (the rest from the template's defaults)."""
    defaults = {name: spec.get("default") for name, spec in
                ((template.get("variables") or {}).get("properties") or {}).items()}  # fmt: skip
    values = {**defaults, **variables}
    manifest = (template.get("job_configuration") or {}).get("job_manifest") or {}
    job = _fill(manifest, values)
    # The worker hands the container its environment as a list of name/value pairs.
    pod = ((job.get("spec") or {}).get("template") or {}).get("spec") or {}
    for container in pod.get("containers") or []:
        if isinstance(container.get("env"), dict):
            container["env"] = [{"name": k, "value": str(v)} for k, v in container["env"].items()]
    return job


def _fill(value: Any, values: dict[str, Any]) -> Any:
    if isinstance(value, dict):
        filled = {key: _fill(item, values) for key, item in value.items()}
        return {key: item for key, item in filled.items() if item is not None}
    if isinstance(value, list):
        return [_fill(item, values) for item in value]
    if isinstance(value, str):
        whole = PLACEHOLDER.fullmatch(value.strip())
        if whole:
            return values.get(whole.group(1))
        return PLACEHOLDER.sub(lambda m: str(values.get(m.group(1), "")), value)
    return value


def job_template_variables(template: dict) -> set[str]:
    """The variables a base job template declares (a deployment may set only these)."""
    return set((template.get("variables") or {}).get("properties") or {})
