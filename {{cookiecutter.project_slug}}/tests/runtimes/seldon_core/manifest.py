"""This runtime's model server is a SeldonDeployment (tests/runtimes/seldon_deployment)."""

from ..seldon_deployment.manifest import (
    CONTRACT_MUTATIONS,
    KIND,
    MISSPELT,
    SCHEMA,
    SCHEMAS,
    operator_env,
    pod_specs,
    server_container,
    server_pod_fields,
)

__all__ = ["CONTRACT_MUTATIONS", "KIND", "MISSPELT", "SCHEMA", "SCHEMAS", "operator_env",
           "pod_specs", "server_container", "server_pod_fields"]  # fmt: skip
