"""How the contract composes a KServe predictor's pod from its ServingRuntime and a canary
entry from the stable predictor, as KServe's controller does (MergePodSpec, the container's
strategic merge, mergo for entries): what the cluster's checks then read."""

from __future__ import annotations

from {{ cookiecutter.package_name }}.delivery import contract

RUNTIME = {
    "spec": {
        "containers": [{
            "name": "kserve-container", "image": "server",
            "securityContext": {"allowPrivilegeEscalation": False,
                                "capabilities": {"drop": ["ALL"]}},
            "resources": {"requests": {"cpu": "250m", "memory": "512Mi"},
                          "limits": {"memory": "1Gi"}},
        }],
        # Pod fields KServe takes from a runtime, and ones it never uses.
        "nodeSelector": {"pool": "models"},
        "volumes": [{"name": "tmp", "emptyDir": {}}, {"name": "cache", "emptyDir": {}}],
        "hostNetwork": True,
        "securityContext": {"runAsNonRoot": True},
    }
}  # fmt: skip


def test_a_model_overrides_its_runtime_container_key_by_key_at_every_depth():
    predictor = {
        "model": {"runtime": "m", "resources": {"limits": {"memory": "2Gi"}},
                  "securityContext": {"readOnlyRootFilesystem": True}},
        "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "1Gi"}}],
    }  # fmt: skip
    pod = contract.kserve_pod(predictor, RUNTIME)
    (container,) = pod["containers"]
    assert container["resources"] == {"requests": {"cpu": "250m", "memory": "512Mi"},
                                      "limits": {"memory": "2Gi"}}  # fmt: skip
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
        "readOnlyRootFilesystem": True,
    }  # fmt: skip
    assert pod["nodeSelector"] == {"pool": "models"}
    assert sorted(v["name"] for v in pod["volumes"]) == ["cache", "tmp"]
    assert next(v for v in pod["volumes"] if v["name"] == "tmp")["emptyDir"] == {"sizeLimit": "1Gi"}
    # KServe never takes these from a runtime: the pod runs without them.
    assert "hostNetwork" not in pod and "securityContext" not in pod


def test_a_canary_entry_overrides_with_false_and_keeps_what_it_leaves_empty():
    stable = {"automountServiceAccountToken": False, "minReplicas": 2,
              "securityContext": {"runAsNonRoot": True, "runAsUser": 10001},
              "model": {"runtime": "m", "env": [{"name": "A", "value": "1"}]}}  # fmt: skip
    entry = {"name": "candidate", "securityContext": {"runAsNonRoot": False},
             "model": {"env": []}, "annotations": {}}  # fmt: skip
    (_, default), (path, candidate) = contract.kserve_predictors(
        {"predictor": stable, "canary": [{"predictor": entry}]}
    )
    assert path == "spec.canary[candidate].predictor" and default == stable
    # An optional field's false is a value (a pointer to it): the check sees the entry's.
    assert candidate["securityContext"] == {"runAsNonRoot": False, "runAsUser": 10001}
    assert candidate["model"]["env"] == [{"name": "A", "value": "1"}], "empty lists keep"
    assert candidate["automountServiceAccountToken"] is False
