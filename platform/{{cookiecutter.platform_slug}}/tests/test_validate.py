"""`gitops validate`: everything renders, validates strictly and stays inside its project."""

from __future__ import annotations

import json

import pytest
import yaml

from gitops import validate

from .overlays import RUNTIMES, SERVER_FILES, write_kafka, write_overlay


def problems(root) -> list[str]:
    return validate.check_repo(root).problems


def test_the_platform_as_generated_is_valid(platform):
    report = validate.check_repo(platform)
    assert report.problems == []
    assert "root" in report.applications and "mlflow" in report.applications
    assert report.checked >= 30


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_a_model_environment_becomes_a_valid_application(platform, runtime):
    write_overlay(platform, "iris", "staging", "1", runtime=runtime)
    report = validate.check_repo(platform)
    assert report.problems == []
    assert "iris-staging" in report.applications


@pytest.mark.parametrize("runtime", sorted(set(SERVER_FILES) - set(RUNTIMES)))
def test_a_model_on_a_runtime_this_platform_lacks_is_refused(platform, runtime):
    write_overlay(platform, "iris", "staging", "1", runtime=runtime)
    kind = {"seldon-core": "SeldonDeployment", "kserve": "InferenceService"}[runtime]
    problems = validate.check_repo(platform).problems
    assert any(kind in problem and "models" in problem for problem in problems), problems
{%- if "seldon-core" in cookiecutter.serving_runtimes.split("+") %}


def test_a_rollout_with_two_predictors_is_valid(platform):
    write_overlay(platform, "iris", "production", "1", candidate="2", runtime="seldon-core")
    assert validate.check_repo(platform).problems == []
{%- endif %}
{%- if "kserve" in cookiecutter.serving_runtimes.split("+") %}


def test_a_kserve_rollout_with_a_canary_entry_is_valid_and_checked(platform):
    overlay = write_overlay(platform, "iris", "production", "1", candidate="2", runtime="kserve")
    assert validate.check_repo(platform).problems == []

    def autoscaled(documents):  # KServe gives a canary entry fixed replicas only
        documents[0]["spec"]["canary"][0]["predictor"]["maxReplicas"] = 3

    edit_yaml(overlay / "rollout.yaml", autoscaled)
    found = validate.check_repo(platform).problems
    assert len(found) == 1 and "InferenceService models-production/iris" in found[0], found
    assert "spec/canary/0/predictor" in found[0], found

    def misspelt(documents):
        entry = documents[0]["spec"]["canary"][0]["predictor"]
        entry.pop("maxReplicas")
        entry["model"]["imag"] = entry["model"].pop("image")

    edit_yaml(overlay / "rollout.yaml", misspelt)
    found = validate.check_repo(platform).problems
    assert len(found) == 1 and "canary[candidate] pod spec" in found[0], found


def before_kserve_0_21(documents):
    """An overlay a model repo rendered before the ServingRuntime: its container inline."""
    service, runtime = documents
    service["spec"]["predictor"].pop("model")
    service["spec"]["predictor"]["containers"] = runtime["spec"]["containers"]
    documents.pop()


def test_an_overlay_rendered_before_the_kserve_upgrade_still_validates(platform):
    """The platform's upgrade merges before the model repos re-render (docs/upgrades.md):
    their running overlays must not fail its validation meanwhile."""
    overlay = write_overlay(platform, "iris", "production", "1", runtime="kserve")
    server = overlay / "base" / SERVER_FILES["kserve"]
    edit_yaml(server, before_kserve_0_21)
    config = overlay / "base" / "kustomizeconfig.yaml"  # where its ConfigMap's name was then
    entry = "      - kind: InferenceService\n        path: {}\n"
    config.write_text(config.read_text() + entry.format("spec/predictor/containers/envFrom/"
                                                        "configMapRef/name"))  # fmt: skip
    assert "containers:" in server.read_text() and "ServingRuntime" not in server.read_text()
    assert validate.check_repo(platform).problems == []

    def misspelt(documents):
        container = documents[0]["spec"]["predictor"]["containers"][0]
        container["imag"] = container.pop("image")

    edit_yaml(server, misspelt)
    found = validate.check_repo(platform).problems
    assert any("predictor pod spec" in p and "'imag'" in p for p in found), found

    def both(documents):  # a container inline beside a model: which one runs is unclear
        predictor = documents[0]["spec"]["predictor"]
        predictor["containers"][0]["image"] = predictor["containers"][0].pop("imag")
        predictor["model"] = {"modelFormat": {"name": "mlflow"}, "runtime": "iris"}

    edit_yaml(server, both)
    found = validate.check_repo(platform).problems
    assert any("iris: spec/predictor: " in p for p in found), found
{%- endif %}


def add_resource(directory, name: str, text: str) -> None:
    """A manifest added to a Kustomize directory and listed in its resources."""
    (directory / name).write_text(text)
    edit_yaml(directory / "kustomization.yaml", lambda docs: docs[0]["resources"].append(name))


def edit_yaml(path, change) -> None:
    documents = list(yaml.safe_load_all(path.read_text()))
    change(documents)
    path.write_text(yaml.safe_dump_all(documents, sort_keys=False))


def misspell_sync_policy(documents):
    documents[0]["spec"]["syncPolicy"]["automatic"] = documents[0]["spec"]["syncPolicy"].pop(
        "automated"
    )


def test_a_misspelt_field_of_an_application_fails(platform):
    edit_yaml(platform / "apps" / "mlflow.yaml", misspell_sync_policy)
    assert any("Application" in p and "automatic" in p for p in problems(platform))


def test_a_misspelt_field_of_a_builtin_kind_in_a_model_overlay_fails(platform):
    overlay = write_overlay(platform, "iris", "staging", "1")
    account = overlay / "base" / "serviceaccount.yaml"
    account.write_text(account.read_text().replace("automountServiceAccountToken", "automount"))
    assert any("ServiceAccount" in p and "automount" in p for p in problems(platform))


def test_a_model_may_not_deploy_cluster_wide_objects(platform):
    overlay = write_overlay(platform, "iris", "staging", "1")
    add_resource(
        overlay / "base",
        "clusterrole.yaml",
        (
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\n"
            "metadata:\n  name: iris-everything\nrules: []\n"
        ),
    )
    found = problems(platform)
    assert any("iris-staging" in p and "ClusterRole" in p and "models" in p for p in found)


def test_a_model_may_not_deploy_kinds_outside_its_project(platform):
    overlay = write_overlay(platform, "iris", "staging", "1")
    add_resource(
        overlay / "base",
        "secret.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: leaked\nstringData:\n  k: v\n",
    )
    assert any("Secret" in p and "namespaceResourceWhitelist" in p for p in problems(platform))


def test_a_secret_committed_to_git_is_refused(platform):
    add_resource(
        platform / "infrastructure" / "secrets",
        "leak.yaml",
        (
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: mlflow-s3\n  namespace: mlflow\n"
            "stringData:\n  AWS_SECRET_ACCESS_KEY: hunter2\n"
        ),
    )
    assert any("Secret mlflow/mlflow-s3: a Secret in git" in p for p in problems(platform))


def test_a_directory_no_application_deploys_is_reported(platform):
    write_overlay(platform, "iris", "qa", "1")  # not an environment: the ApplicationSet skips it
    assert any(p.startswith("models/iris/qa:") for p in problems(platform))


def test_custom_resources_sync_after_their_operator(platform):
    edit_yaml(
        platform / "apps" / "kafka.yaml",
        lambda docs: docs[0]["metadata"]["annotations"].update(
            {"argocd.argoproj.io/sync-wave": "0"}
        ),
    )
    assert any("kafka" in p and "strimzi" in p and "wave" in p for p in problems(platform))


def test_a_missing_values_file_is_reported(platform):
    (platform / "values" / "mlflow.yaml").unlink()
    assert any("values/mlflow.yaml" in p and "does not exist" in p for p in problems(platform))


@pytest.mark.parametrize("kind", ["ExternalSecret", "Kafka", "Cluster"])
def test_our_own_schemas_reject_unknown_fields(platform, kind):
    files = {
        "ExternalSecret": "infrastructure/secrets/grafana.yaml",
        "Kafka": "infrastructure/kafka/kafka.yaml",
        "Cluster": "infrastructure/databases/mlflow-db.yaml",
    }

    def add_field(documents):
        for document in documents:
            if document["kind"] == kind:
                document["spec"]["replicaz"] = 3

    edit_yaml(platform / files[kind], add_field)
    assert any(kind in p and "replicaz" in p for p in problems(platform))


def test_a_kind_without_a_schema_or_an_operator_is_reported(platform):
    overlay = write_overlay(platform, "iris", "staging", "1")
    add_resource(
        overlay / "base",
        "widget.yaml",
        "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\nspec: {}\n",
    )
    found = problems(platform)
    assert any("no schema for example.com/Widget" in p for p in found)
    assert any("uses example.com, which no Application of this repo installs" in p for p in found)


# -- the cluster contract: what the cluster does with what renders ------------------------------
def edit_base(platform, model: str, environment: str, name: str, change) -> None:
    overlay = write_overlay(platform, model, environment, "1", runtime=RUNTIMES[0])
    edit_yaml(overlay / "base" / name, change)


def server_pod(documents: list[dict]) -> dict:
    """The model server's pod-level fields, in place."""
    if documents[0]["kind"] == "SeldonDeployment":
        return documents[0]["spec"]["predictors"][0]["componentSpecs"][0]["spec"]
    return documents[0]["spec"]["predictor"]


def server_container(documents: list[dict]) -> dict:
    """The model server's container, in place (a ServingRuntime's, beside the
    InferenceService)."""
    if documents[0]["kind"] == "SeldonDeployment":
        return server_pod(documents)["containers"][0]
    return next(d for d in documents if d["kind"] == "ServingRuntime")["spec"]["containers"][0]


def test_an_address_of_a_service_that_does_not_exist_is_named(platform):
    overlay = write_overlay(platform, "iris", "staging", "1", runtime=RUNTIMES[0])
    kustomization = overlay / "base" / "kustomization.yaml"
    kustomization.write_text(kustomization.read_text().replace(
        "mlflow.mlflow.svc.cluster.local:5000", "mlflow.mlops.svc.cluster.local:5000"))  # fmt: skip
    found = problems(platform)
    # The address names no Service, and the model's policy does not let it go there either.
    assert len(found) == 2, found
    assert found[0].startswith("ConfigMap models-staging/iris-config-")
    assert "data.MLFLOW_TRACKING_URI: mlflow.mlops.svc.cluster.local:5000 names no Service " \
        "mlflow in namespace mlops" in found[0]  # fmt: skip
    assert "egress to mlflow.mlops:5000: no NetworkPolicy of this pod allows it" in found[1]


def test_a_port_the_service_does_not_have_is_named(platform):
    overlay = write_overlay(platform, "iris", "staging", "1", runtime=RUNTIMES[0])
    kustomization = overlay / "base" / "kustomization.yaml"
    kustomization.write_text(kustomization.read_text().replace(":5000", ":8080"))
    found = problems(platform)
    assert len(found) == 2 and "Service mlflow/mlflow has no port 8080 (it has 5000)" in found[0]
    assert "egress to mlflow.mlflow:8080: no NetworkPolicy of this pod allows it" in found[1]


def test_a_model_without_its_network_policy_is_cut_off(platform):
    overlay = write_overlay(platform, "iris", "production", "1", runtime=RUNTIMES[0])
    network = overlay / "base" / "network.yaml"
    network.write_text(network.read_text().split("---")[1])  # the budget only
    found = problems(platform)
    # The platform's allow-dns policy selects every pod, and allows nothing else.
    assert len(found) == 1 and "egress to mlflow.mlflow:5000: no NetworkPolicy of this pod " \
        "allows it" in found[0], found  # fmt: skip


def test_a_model_policy_that_selects_other_models_pods_is_named(platform):
    overlay = write_overlay(platform, "iris", "production", "1", runtime=RUNTIMES[0])
    network = overlay / "base" / "network.yaml"
    text = network.read_text()
    network.write_text(text + "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
                       "metadata: {name: iris-open}\nspec:\n  podSelector: {}\n"
                       "  policyTypes: [Egress]\n  egress: [{}]\n")  # fmt: skip
    found = problems(platform)
    assert len(found) == 1 and "NetworkPolicy models-production/iris-open: must select only " \
        "model iris's pods" in found[0], found  # fmt: skip


def test_model_namespaces_without_the_platform_default_deny_are_named(platform):
    write_overlay(platform, "iris", "production", "1", runtime=RUNTIMES[0])
    policies = platform / "infrastructure" / "namespaces" / "network-policies.yaml"
    policies.write_text("\n".join(line for line in policies.read_text().splitlines()
                                  if "policyTypes: [Ingress, Egress]" not in line))  # fmt: skip
    found = problems(platform)
    assert [p for p in found if "no default-deny NetworkPolicy" in p] == [
        "namespace models-production: no default-deny NetworkPolicy (podSelector {}, both policy "
        "types, no rules) is deployed there"
    ], found


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda pod, container: container["securityContext"].update(privileged=True),
         "containers[model].securityContext.privileged: must not be true"),
        (lambda pod, container: pod["securityContext"].update(runAsUser=0),
         "securityContext.runAsUser: must not be 0"),
        (lambda pod, container: container["securityContext"].pop("allowPrivilegeEscalation"),
         "containers[model].securityContext.allowPrivilegeEscalation: must be false"),
        (lambda pod, container: pod.update(serviceAccountName="nobody"),
         "serviceAccountName: no ServiceAccount nobody in models-production"),
    ],
    ids=["privileged", "root", "escalation", "service-account"],
)  # fmt: skip
def test_a_pod_the_namespace_would_refuse_is_named(platform, change, expected):
    containers = []

    def edit(docs):
        containers.append(server_container(docs)["name"])
        change(server_pod(docs), server_container(docs))

    edit_base(platform, "iris", "production", SERVER_FILES[RUNTIMES[0]], edit)
    # The model server's container: "model" in a SeldonDeployment, KServe's own name in an
    # InferenceService's ServingRuntime.
    expected = expected.replace("containers[model]", f"containers[{containers[0]}]")
    found = problems(platform)
    assert len(found) == 1, found
    assert expected in found[0], found
    assert found[0].startswith(("SeldonDeployment models-production/iris: ",
                                "InferenceService models-production/iris: "))  # fmt: skip
{%- if "seldon-core" in cookiecutter.serving_runtimes.split("+") %}


def test_seldons_injected_executor_is_checked_too(platform):
    """Without seldon.io/no-engine the operator adds a container restricted refuses."""
    edit_base(platform, "iris", "staging", SERVER_FILES["seldon-core"],
              lambda docs: docs[0]["spec"]["predictors"][0].pop("annotations"))  # fmt: skip
    found = problems(platform)
    assert found and all("containers[seldon-container-engine]" in p for p in found), found
    assert any("capabilities.drop: must include ALL" in p for p in found), found
{%- endif %}


def test_the_work_pools_job_template_must_pass_pod_security(platform):
    values = platform / "values" / "prefect-worker.yaml"
    text = values.read_text()
    values.write_text(text.replace('"readOnlyRootFilesystem": true,', "").replace(
        '"allowPrivilegeEscalation": false,', '"allowPrivilegeEscalation": true,'))  # fmt: skip
    found = problems(platform)
    assert found == [
        "work pool kubernetes (values/prefect-worker.yaml): job_manifest.spec.template.spec."
        "containers[prefect-job].securityContext.allowPrivilegeEscalation: must be false "
        "(Pod Security restricted)"
    ]
    values.write_text(text.replace("    baseJobTemplate:", "    unusedJobTemplate:"))
    found = problems(platform)
    assert len(found) == 1 and "baseJobTemplate.configuration is not set" in found[0], found
    values.write_text(text.replace('"job_configuration": {', '"job_settings": {'))
    found = problems(platform)
    assert len(found) == 1 and "needs a 'job_configuration' object" in found[0], found


def test_the_job_template_runs_a_model_repos_training_job():
    """A deployment's job variables, as a model repo's prefect.yaml sets them, fill the
    template into a Job the staging namespace admits."""
    from gitops import contract
    from gitops.settings import ROOT

    values = yaml.safe_load((ROOT / "values" / "prefect-worker.yaml").read_text())
    template = json.loads(values["worker"]["config"]["baseJobTemplate"]["configuration"])
    variables = {"image": "ghcr.io/acme/iris-train:abc", "namespace": "models-staging",
                 "service_account_name": "iris-training",
                 "env": {"HOME": "/tmp", "MLFLOW_TRACKING_URI": "http://mlflow:5000"}}  # fmt: skip
    job = contract.render_job_template(template, variables)
    pod = job["spec"]["template"]["spec"]
    assert job["metadata"]["namespace"] == "models-staging"
    assert pod["serviceAccountName"] == "iris-training"
    assert pod["automountServiceAccountToken"] is False
    assert pod["containers"][0]["image"] == "ghcr.io/acme/iris-train:abc"
    assert {"name": "HOME", "value": "/tmp"} in pod["containers"][0]["env"]
    assert pod["containers"][0]["resources"]["limits"]["memory"] == "2Gi"
    assert contract.pod_security(pod, "restricted") == []
    assert set(variables) <= contract.job_template_variables(template)
    # What Prefect's Kubernetes worker requires of a job manifest is there.
    assert pod["restartPolicy"] == "Never" and pod["containers"][0]["name"] == "prefect-job"


# -- Kafka: each model environment's topic, users and logins are its own ----------------------
def test_a_model_environments_kafka_part_becomes_its_own_application(platform):
    write_overlay(platform, "iris", "production", "1", runtime=RUNTIMES[0])
    write_kafka(platform, "iris", "production")
    report = validate.check_repo(platform)
    assert report.problems == []
    assert "iris-production-kafka" in report.applications


@pytest.mark.parametrize(("change", "expected"), [
    # A user granted another model's topic: that model's request log (possibly personal data).
    ({"topic": "fraud-production-requests"}, "'fraud-production-requests' is not this model "
     "environment's (one of iris-production-drift, iris-production-drift-candidate, "
     "iris-production-labels, iris-production-quality, iris-production-quality-candidate, "
     "iris-production-requests, iris-production-server)"),
    # A login read from the platform's own store: the database passwords, the S3 keys.
    ({"store": "vault"}, "may only read its Kafka users' logins from kafka-users"),
    # Another model's user's password, through the kafka-users store.
    ({"user": "fraud-production-server"}, "spec.data[0].remoteRef.key: "
     "'fraud-production-server' is not this model environment's"),
    # A model named "iris-production-eu" owns names that start like iris's: names are exact.
    ({"user": "iris-production-eu-production-server"}, "'iris-production-eu-production-server'"
     " is not this model environment's"),
])  # fmt: skip
def test_a_model_reaching_beyond_its_own_kafka_part_is_named(platform, change, expected):
    write_overlay(platform, "iris", "production", "1", runtime=RUNTIMES[0])
    write_kafka(platform, "iris", "production", **change)
    found = problems(platform)
    assert any(expected in problem for problem in found), found


def test_a_kafka_topic_in_a_model_namespace_is_outside_the_models_project(platform):
    overlay = write_overlay(platform, "iris", "production", "1", runtime=RUNTIMES[0])
    write_kafka(platform, "iris", "production")
    (overlay / "base" / "topic.yaml").write_text((overlay / "kafka" / "kafka.yaml").read_text())
    kustomization = overlay / "base" / "kustomization.yaml"
    base = yaml.safe_load(kustomization.read_text())
    kustomization.write_text(yaml.safe_dump({**base, "resources": [*base["resources"],
                                                                  "topic.yaml"]}))  # fmt: skip
    found = problems(platform)
    assert any("KafkaTopic" in p and "namespaceResourceWhitelist" in p for p in found), found


@pytest.mark.parametrize(("edit", "expected"), [
    (("auto.create.topics.enable: false", "auto.create.topics.enable: true"),
     "auto.create.topics.enable must be false"),
    (("        authentication:\n          type: scram-sha-512\n", ""),
     "listener scram: no authentication"),
    (("    authorization:\n      type: simple\n", ""), "spec.kafka.authorization: must be simple"),
])  # fmt: skip
def test_a_kafka_cluster_that_trusts_its_clients_is_named(platform, edit, expected):
    cluster = platform / "infrastructure" / "kafka" / "kafka.yaml"
    text = cluster.read_text()
    assert edit[0] in text
    cluster.write_text(text.replace(edit[0], edit[1]))
    found = problems(platform)
    assert any(expected in problem for problem in found), found


def test_a_kafka_user_whose_password_is_another_secret_is_refused(platform):
    """Strimzi would copy the named Secret (another user's, the cluster CA's key) into the
    user's own, which the model's login then copies into its namespace."""
    write_overlay(platform, "iris", "production", "1", runtime=RUNTIMES[0])
    overlay = write_kafka(platform, "iris", "production")
    part = overlay / "kafka" / "kafka.yaml"
    part.write_text(part.read_text().replace(
        "    type: scram-sha-512\n",
        "    type: scram-sha-512\n    password:\n      valueFrom:\n        secretKeyRef:\n"
        "          name: mlops-cluster-ca\n          key: ca.key\n",
    ))  # fmt: skip
    found = problems(platform)
    assert any("KafkaUser" in p and "'password' was unexpected" in p for p in found), found


def test_a_login_that_writes_a_secret_other_pods_read_is_named(platform):
    """With creationPolicy Merge a model's ExternalSecret would overwrite mlflow-login (or
    another model's retrain token) for every pod of the namespace."""
    write_overlay(platform, "iris", "production", "1", runtime=RUNTIMES[0])
    overlay = write_kafka(platform, "iris", "production")
    login = overlay / "kafka-logins.yaml"
    login.write_text(login.read_text().replace(
        "    name: iris-kafka-server\n", "    name: mlflow-login\n    creationPolicy: Merge\n"
    ))  # fmt: skip
    found = problems(platform)
    assert any("writes Secret 'mlflow-login'" in p for p in found), found
    assert any("spec.target.creationPolicy: a model's login Secret is created and owned by "
               "its ExternalSecret alone" in p for p in found), found  # fmt: skip


def test_a_pod_reading_another_models_secret_is_named(platform):
    """The model namespaces are shared: another model's Kafka login is in reach of a name."""
    overlay = write_overlay(platform, "iris", "production", "1", runtime=RUNTIMES[0])

    def read_fraud_login(documents):
        server_container(documents).setdefault("env", []).append({
            "name": "KAFKA_PASSWORD",
            "valueFrom": {"secretKeyRef": {"name": "fraud-kafka-server", "key": "password"}},
        })  # fmt: skip

    edit_yaml(overlay / "base" / SERVER_FILES[RUNTIMES[0]], read_fraud_login)
    found = problems(platform)
    assert any("Secret 'fraud-kafka-server' is not model iris's" in p for p in found), found
{%- if "kserve" in cookiecutter.serving_runtimes.split("+") %}


@pytest.mark.parametrize("asked", ["RawDeployment", "Serverless", "Knative"])
def test_an_inference_service_in_another_kserve_mode_is_named(platform, asked):
    """KServe runs Standard mode here: no Knative would ever serve another mode."""
    overlay = write_overlay(platform, "iris", "staging", "1", runtime="kserve")
    edit_yaml(overlay / "base" / SERVER_FILES["kserve"], lambda docs: docs[0]["metadata"][
        "annotations"].update({"serving.kserve.io/deploymentMode": asked}))  # fmt: skip
    expected = (f"InferenceService models-staging/iris: serving.kserve.io/deploymentMode "
                f"{asked!r}: KServe here runs Standard mode only (no Knative; RawDeployment is "
                "its old name, which KServe's canary entries do not accept)")  # fmt: skip
    assert problems(platform) == [expected]


def test_a_kserve_controller_in_knative_mode_is_named(platform):
    values = platform / "values" / "kserve.yaml"
    values.write_text(values.read_text().replace("deploymentMode: Standard",
                                                 "deploymentMode: Knative"))  # fmt: skip
    assert problems(platform) == ["values/kserve.yaml: kserve.controller.deploymentMode "
                                  "'Knative': must be Standard (this platform installs no "
                                  "Knative)"]  # fmt: skip


GATEWAY = "infrastructure/gateway/gateway.yaml"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda docs: docs[1]["metadata"].update(name="other"),
         "values/kserve.yaml: kserve.controller.gateway.ingressGateway.kserveGateway "
         "'kserve/kserve-ingress-gateway': no such Gateway is deployed"),
        (lambda docs: docs[1]["spec"].update(gatewayClassName="istio"),
         "Gateway kserve/kserve-ingress-gateway: gatewayClassName 'istio': no such "
         "GatewayClass is deployed"),
        (lambda docs: docs[1]["spec"]["listeners"][0]["allowedRoutes"]["namespaces"]["selector"][
            "matchExpressions"][0]["values"].pop(),
         "Gateway kserve/kserve-ingress-gateway: no listener admits HTTPRoutes from "
         "models-production"),
        (lambda docs: docs[1]["spec"]["listeners"][0]["allowedRoutes"].update(
            namespaces={"from": "Same"}),
         "Gateway kserve/kserve-ingress-gateway: no listener admits HTTPRoutes from "
         "models-production"),
        (lambda docs: docs[1]["spec"]["listeners"][0]["allowedRoutes"].update(
            kinds=[{"group": "gateway.networking.k8s.io", "kind": "GRPCRoute"}]),
         "no listener admits HTTPRoutes from models-production"),
    ],
    ids=["no-gateway", "no-class", "one-namespace", "same-namespace", "no-httproute"],
)  # fmt: skip
def test_the_models_gateway_is_checked_as_the_cluster_would_use_it(platform, change, expected):
    """KServe attaches each model's HTTPRoute to the Gateway its values name: it must exist,
    have its class, and admit routes from both model namespaces."""
    edit_yaml(platform / GATEWAY, change)
    found = problems(platform)
    assert any(expected in problem for problem in found), found
    assert all("Gateway" in problem for problem in found), found


def test_a_gateway_class_no_controller_claims_is_named(platform):
    edit_yaml(platform / GATEWAY, lambda docs: docs[0]["spec"].update(
        controllerName="example.com/other-controller"))  # fmt: skip
    assert problems(platform) == [
        "GatewayClass envoy: controllerName 'example.com/other-controller', but Envoy Gateway "
        "claims 'gateway.envoyproxy.io/gatewayclass-controller' (values/envoy-gateway.yaml): "
        "nothing would program the Gateway"
    ]


def test_the_models_gateway_admits_the_model_namespaces_only(platform):
    documents = list(yaml.safe_load_all((platform / GATEWAY).read_text()))
    namespaces = documents[1]["spec"]["listeners"][0]["allowedRoutes"]["namespaces"]
    assert namespaces["from"] == "Selector"
    assert namespaces["selector"]["matchExpressions"][0]["values"] == [
        "models-staging", "models-production"]  # fmt: skip
{%- endif %}
