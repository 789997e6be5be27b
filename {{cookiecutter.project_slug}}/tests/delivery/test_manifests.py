"""Every manifest this repo ships, rendered as Argo CD will render it, validated strictly.

Built-in kinds against the Kubernetes API schemas (kubernetes-validate, strict: unknown
fields fail); custom resources against strict schemas of our own, and
the pod specs inside the model server's resource against the Kubernetes PodSpec schema.
"""

from __future__ import annotations

import copy

import jsonschema
import kubernetes_validate
import pytest

from {{ cookiecutter.package_name }}.delivery import release

from .manifests import (
    REPO,
    RUNTIME,
    kustomize,
    pod_specs,
    rendered_environments,
    schema,
    validate,
)


def test_every_rendered_manifest_validates_strictly(tmp_path):
    for environment, documents in rendered_environments(tmp_path).items():
        for document in documents:
            try:
                validate(document)
            except (jsonschema.ValidationError, kubernetes_validate.ValidationError) as error:
                name = f"{document['kind']}/{document['metadata']['name']}"
                pytest.fail(f"{environment}: {name}: {str(error).splitlines()[0]}")


MISSPELT = [
    *RUNTIME.MISSPELT,
    ("ServiceMonitor", ["spec", "endpoints", 0, "interval"], "fifteen seconds"),
]


def test_the_custom_schemas_reject_misspelt_fields():
    documents = {d["kind"]: d for d in kustomize(REPO / "k8s" / "base")}
    for kind, path, value in MISSPELT:
        if kind not in documents:  # e.g. no drift service in this repo
            continue
        document = copy.deepcopy(documents[kind])
        target = document
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(document, schema(kind))


def test_a_misspelt_pod_field_fails_the_pod_spec_check():
    documents = kustomize(REPO / "k8s" / "base")
    servers = [d for d in documents if pod_specs(d)]

    def refused() -> bool:
        try:
            for server in servers:
                validate(server)
        except kubernetes_validate.ValidationError:
            return True
        return False

    assert not refused()
    RUNTIME.server_container(documents)["imag"] = "x"
    assert refused()
    RUNTIME.server_container(documents).pop("imag")
    RUNTIME.server_pod_fields(documents)["automountServiceAccountTokn"] = False
    assert refused()


def test_ci_builds_the_images_the_manifests_run():
    """Every image k8s/base runs is one CI builds under that name (`ci-env`, settings.IMAGES)."""
    from {{ cookiecutter.package_name }}.settings import IMAGES

    run = release.base_images(REPO / "k8s" / "base")
    assert "serve" in run and run.items() <= IMAGES.items()
