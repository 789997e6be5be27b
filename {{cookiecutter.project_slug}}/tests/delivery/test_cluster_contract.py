"""What the cluster does with this repo's overlays, as Argo CD applies them in each namespace:
every reference resolves there and Pod Security "restricted" admits every pod
(delivery/contract.py, the same check the platform's `gitops validate` runs).

The shared services (MLflow, Kafka, Prefect) are taken as this repo's configuration names
them; the platform's `gitops validate` checks those against what the platform deploys.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from {{ cookiecutter.package_name }}.delivery import contract, release
from {{ cookiecutter.package_name }}.settings import (
    KAFKA_LOGIN_SECRETS,
    KAFKA_NAMESPACE,
    MODEL_NAME,
{%- if cookiecutter.include_drift_detection %}
    RETRAIN_TOKEN_SECRET,
{%- endif %}
    kafka_names,
)

from .manifests import ENVIRONMENTS, RUNTIME, platform_contract, rendered_environments

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def environments(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict]]:
    rendered = rendered_environments(tmp_path_factory.mktemp("platform"))
    return {environment: rendered[environment] for environment in ENVIRONMENTS}


def problems_of(documents: list[dict]) -> list[str]:
    return contract.check(documents, platform_contract(documents))


def test_every_environment_lands_in_its_namespace_and_meets_the_contract(environments):
    for environment, documents in environments.items():
        # The model's own objects in its namespace; its topic and users where Strimzi is.
        assert {d["metadata"].get("namespace") for d in documents} == {
            release.namespace(environment),
            KAFKA_NAMESPACE,
        }
        assert {d["kind"] for d in documents if d["metadata"]["namespace"] == KAFKA_NAMESPACE
                } == {"KafkaTopic", "KafkaUser"}  # fmt: skip
        assert problems_of(documents) == [], environment
{%- if cookiecutter.include_drift_detection %}
    # Production's drift alert is the one that retrains: only production has the route.
    kinds = {e: {d["kind"] for d in documents} for e, documents in environments.items()}
    assert "AlertmanagerConfig" in kinds["production"]
    assert "AlertmanagerConfig" not in kinds["staging"]
{%- endif %}


def test_the_training_deployment_runs_where_its_service_account_is(environments):
    """prefect.yaml's Kubernetes job variables name the staging namespace, a service account
    rendered there, and addresses of the platform's services."""
    deployments = yaml.safe_load((REPO / "prefect.yaml").read_text())["deployments"]
    variables = next(d for d in deployments if d["name"] == "kubernetes")["work_pool"][
        "job_variables"
    ]
    staging = environments["staging"]
    assert variables["namespace"] == release.namespace("staging")
    accounts = {d["metadata"]["name"] for d in staging if d["kind"] == "ServiceAccount"}
    assert variables["service_account_name"] in accounts
    known = platform_contract(staging).services
    for value in variables["env"].values():
        for match in contract.ADDRESS.finditer(str(value)):
            assert (match.group(2), match.group(1)) in known, value


def mutate(documents: list[dict], change) -> list[dict]:
    changed = copy.deepcopy(documents)
    change(changed)
    return changed


def _account(documents: list[dict]) -> dict:
    """The model server's own account, not the training one."""
    return next(d for d in documents if d["metadata"]["name"] == MODEL_NAME
                and d["kind"] == "ServiceAccount")  # fmt: skip


SERVER = RUNTIME.KIND
container = RUNTIME.server_container
pod_fields = RUNTIME.server_pod_fields
MUTATIONS = {
    "privileged container": (
        lambda d: container(d)["securityContext"].update(privileged=True),
        "securityContext.privileged: must not be true",
    ),
    "root container": (
        lambda d: container(d)["securityContext"].update(runAsUser=0),
        "securityContext.runAsUser: must not be 0",
    ),
    "a capability added": (
        lambda d: container(d)["securityContext"]["capabilities"].update(add=["NET_ADMIN"]),
        "capabilities.add: only NET_BIND_SERVICE may be added",
    ),
    "a hostPath volume": (
        lambda d: pod_fields(d)["volumes"].append({"name": "host", "hostPath": {"path": "/"}}),
        "volumes[host].hostPath: hostPath volumes are forbidden",
    ),
    "a missing service account": (
        lambda d: _account(d)["metadata"].update(name="renamed"),
        f"serviceAccountName: no ServiceAccount {MODEL_NAME} in",
    ),
    **RUNTIME.CONTRACT_MUTATIONS,
}


@pytest.mark.parametrize("case", list(MUTATIONS))
def test_each_broken_manifest_is_named_in_one_line(environments, case):
    change, expected = MUTATIONS[case]
    problems = problems_of(mutate(environments["production"], change))
    assert len([p for p in problems if expected in p]) == 1, problems
    assert all(p.count(": ") >= 2 for p in problems), problems  # object: field: rule


{%- if cookiecutter.include_drift_detection %}


def test_without_the_secrets_not_in_git_the_receiver_is_named(environments):
    """Without the token Secret the receiver cannot start and Alertmanager cannot send; without
    Prefect's credentials it cannot start runs; without MLflow's login no pod can load."""
    documents = environments["production"]
    namespace = release.namespace("production")
    full = platform_contract(documents)
    bare = contract.Contract(services=full.services, pod_security=full.pod_security,
                             model_namespaces=full.model_namespaces)  # fmt: skip
    problems = contract.check(documents, bare)
    receiver = f"Deployment {namespace}/{MODEL_NAME}-retrain: spec.template.spec."
    expected = [
        f"{receiver}containers[receiver].env[PREFECT_API_AUTH_STRING]: no Secret "
        f"prefect-credentials in {namespace}",
        f"{receiver}volumes[token]: no Secret {RETRAIN_TOKEN_SECRET} in {namespace}",
    ]
    receiver_problems = [p for p in problems if p.startswith(receiver)]
    assert sorted(receiver_problems) == sorted(expected), problems
    # Every pod that talks to MLflow names its missing login (the platform's ExternalSecret).
    others = sorted(p for p in problems if not p.startswith(receiver))
    assert others and all(p.endswith(f"envFrom: no Secret mlflow-login in {namespace}")
                          for p in others), others  # fmt: skip
    config = next(d for d in documents if d["kind"] == "AlertmanagerConfig")
    webhook = config["spec"]["receivers"][0]["webhookConfigs"][0]
    assert webhook["httpConfig"]["authorization"]["credentials"]["name"] == RETRAIN_TOKEN_SECRET
{%- endif %}


def without(documents: list[dict], kind: str, name: str) -> list[dict]:
    return [d for d in documents if (d["kind"], d["metadata"]["name"]) != (kind, name)]


def test_without_the_egress_policy_the_default_deny_cuts_every_pod_off(environments):
    documents = without(environments["production"], "NetworkPolicy", f"{MODEL_NAME}-egress")
    problems = problems_of(documents)
    owners = {pod.owner for pod in contract.pods_of(documents)}
    assert {problem.split(": ")[0] for problem in problems} == owners, problems
    assert all("egress to" in p and "no NetworkPolicy of this pod allows it" in p
               for p in problems), problems  # fmt: skip
    # With no policy at all, no pod is selected: each is cut off, once.
    documents = [d for d in documents if d["kind"] != "NetworkPolicy"]
    problems = problems_of(documents)
    assert sorted(problem.split(": ")[0] for problem in problems) == sorted(owners), problems
    assert all("no NetworkPolicy selects this pod" in p for p in problems), problems


def test_an_egress_rule_missing_for_an_address_is_named(environments):
    documents = copy.deepcopy(environments["production"])
    egress = next(d for d in documents if d["metadata"]["name"] == f"{MODEL_NAME}-egress")
    kafka = egress["spec"]["egress"].pop(1)  # the rule for Kafka's namespace and port
    port = kafka["ports"][0]["port"]
    problems = problems_of(documents)
    assert problems and all(f":{port}: no NetworkPolicy of this pod allows it" in p
                            for p in problems), problems  # fmt: skip


def test_without_its_disruption_budget_the_model_server_is_named(environments):
    documents = without(environments["production"], "PodDisruptionBudget", f"{MODEL_NAME}-server")
    problems = problems_of(documents)
    assert problems and all("no PodDisruptionBudget keeps this model server up" in p
                            for p in problems), problems  # fmt: skip


def test_a_config_map_referenced_but_not_rendered_is_named(environments):
    documents = [d for d in environments["staging"]
                 if not (d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith(
                     f"{MODEL_NAME}-config"))]  # fmt: skip
    problems = contract.check(documents, platform_contract(environments["staging"]))
    assert problems and all("no ConfigMap" in p for p in problems), problems
    assert any(f"{SERVER} " in p for p in problems), problems
{%- if cookiecutter.include_drift_detection %}


def test_a_webhook_to_the_wrong_namespace_is_named(environments):
    def elsewhere(documents: list[dict]) -> None:
        document = next(d for d in documents if d["kind"] == "AlertmanagerConfig")
        config = document["spec"]["receivers"][0]["webhookConfigs"][0]
        config["url"] = config["url"].replace(release.namespace("production"),
                                              release.namespace("staging"))  # fmt: skip

    documents = mutate(environments["production"], elsewhere)
    problems = problems_of(documents)
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"AlertmanagerConfig {release.namespace('production')}/")
    wrong = f"{MODEL_NAME}-retrain in namespace {release.namespace('staging')}"
    assert f"names no Service {wrong}" in problems[0]
{%- endif %}


# -- Kafka: each workload logs in as its own user, which may do only what it needs ----------------
def _user(documents: list[dict], name: str) -> dict:
    return next(d for d in documents if d["kind"] == "KafkaUser" and d["metadata"]["name"] == name)


def test_staging_and_production_have_their_own_topic_and_users(environments):
    def kafka_names_of(documents: list[dict]) -> set[str]:
        return {d["metadata"]["name"] for d in documents
                if d["metadata"]["namespace"] == KAFKA_NAMESPACE}  # fmt: skip

    assert not kafka_names_of(environments["staging"]) & kafka_names_of(environments["production"])
    for environment, documents in environments.items():
        config = next(d for d in documents if d["kind"] == "ConfigMap"
                      and d["metadata"]["name"].startswith(f"{MODEL_NAME}-config"))  # fmt: skip
        assert config["data"]["REQUEST_TOPIC"] == kafka_names(environment).topic


def test_a_pod_without_its_kafka_login_is_named(environments):
    documents = without(environments["production"], "ExternalSecret", KAFKA_LOGIN_SECRETS["server"])
    problems = problems_of(documents)
    assert problems and all(f"{SERVER} " in p for p in problems), problems
    assert any("KAFKA_USERNAME does not come from a Secret" in p for p in problems), problems
    assert any(f"no Secret {KAFKA_LOGIN_SECRETS['server']}" in p for p in problems), problems


KAFKA_MUTATIONS = {
    # The server's user loses its write permission: the request log would be refused.
    "a user without the grant its pod needs": (
        lambda d, names: _user(d, names.server_user)["spec"]["authorization"]["acls"][0].update(
            operations=["Describe"]
        ),
        "may not Write topic",
    ),
    "a user naming topics by prefix": (
        lambda d, names: _user(d, names.server_user)["spec"]["authorization"]["acls"][0][
            "resource"
        ].update(patternType="prefix"),
        "by prefix or wildcard",
    ),
    "a user allowed everything": (
        lambda d, names: _user(d, names.server_user)["spec"]["authorization"]["acls"][0].update(
            operations=["All"]
        ),
        "All: a model's user may only Read, Write and Describe",
    ),
    "a login whose user and password disagree": (
        lambda d, names: next(
            x
            for x in d
            if x["kind"] == "ExternalSecret"
            and x["metadata"]["name"] == KAFKA_LOGIN_SECRETS["server"]
        )["spec"]["data"][0]["remoteRef"].update(key=kafka_names("staging").server_user),
        "must read one KafkaUser's password",
    ),
    # The listener takes logins only: a server that drops its login loses its request log.
    "a server that talks to Kafka without a login": (
        lambda d, names: next(
            x
            for x in d
            if x["kind"] == "ConfigMap" and x["metadata"]["name"].startswith(f"{MODEL_NAME}-config")
        )["data"].update(KAFKA_SECURITY_PROTOCOL="PLAINTEXT"),
        "talks to Kafka without a login",
    ),
    # A user that grants nothing is named, not a crash.
    "a user without authorization": (
        lambda d, names: _user(d, names.server_user)["spec"].pop("authorization"),
        "may not Write topic",
    ),
}


@pytest.mark.parametrize("case", list(KAFKA_MUTATIONS))
def test_each_kafka_mistake_is_named(environments, case):
    change, expected = KAFKA_MUTATIONS[case]
    documents = copy.deepcopy(environments["production"])
    change(documents, kafka_names("production"))
    problems = problems_of(documents)
    assert any(expected in p for p in problems), problems

{%- if cookiecutter.include_drift_detection %}


def test_a_canarys_drift_service_reads_in_a_group_its_user_may_use(tmp_path):
    """The candidate's drift service consumes in a group of its own, granted to the drift user
    beside the default's: without that grant the cluster would refuse its every fetch."""
    from {{ cookiecutter.package_name }}.delivery import kafka, overlay, rollout

    from .manifests import kustomize

    overlay.render(tmp_path, "staging", release.Release("0123456789abcdef", "7"))
    overlay.promote(tmp_path, "staging", "production")
    overlay.render(tmp_path, "staging", release.Release("fedcba9876543210", "8"))
    rollout.start(tmp_path, rollout.Strategy("canary", 10))
    production = release.overlay_dir(tmp_path, "production")
    documents = kustomize(production) + kustomize(production / kafka.KAFKA_DIR)
    assert problems_of(documents) == []
    names = kafka_names("production")
    drift_user = _user(documents, names.drift_user)
    drift_user["spec"]["authorization"]["acls"] = [
        acl for acl in drift_user["spec"]["authorization"]["acls"]
        if acl["resource"]["name"] != names.candidate_group
    ]  # fmt: skip
    problems = problems_of(documents)
    assert len(problems) == 1 and f"may not Read group {names.candidate_group}" in problems[0]
    candidate = f"Deployment {release.namespace('production')}/{MODEL_NAME}-drift-candidate"
    assert problems[0].startswith(candidate), problems
{%- endif %}
