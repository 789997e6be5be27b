"""Seldon Core's side of `runtimes.base.ServingRuntime` with MLServer: the server and Open
Inference Protocol of runtimes/mlserver, declared as a SeldonDeployment with `protocol: v2`
(k8s/base/runtimes/seldon_core_mlserver/).

In the cluster Seldon's operator tells MLServer its ports through MLServer's own variables
(MLSERVER_HTTP_PORT 9000, MLSERVER_GRPC_PORT 9500, MLSERVER_METRICS_PORT from the container's
`metrics` port), which `PORTS` reads; locally MLServer's defaults apply.
"""

from __future__ import annotations

from ..mlserver.open_inference import (
    LIVE_PATH,
    PORTS,
    PREDICT_PATH,
    READY_PATH,
    decode,
    error_message,
    local_server_env,
    output_names,
    outputs,
    request_body,
    served_version,
    server_command,
    serving_python,
)

NAME = "Seldon Core (MLServer)"
# Predictors of one SeldonDeployment split, mirror or replace traffic, whatever server their
# pods run: runtimes/seldon_deployment/rollout.py.
ROLLOUT_STRATEGIES = ("replace", "canary", "shadow", "ab")
ROLLOUT_REFUSAL = ""  # every strategy is offered
MANIFEST = "seldondeployment.yaml"

__all__ = [
    "LIVE_PATH", "MANIFEST", "NAME", "PORTS", "PREDICT_PATH", "READY_PATH", "ROLLOUT_REFUSAL",
    "ROLLOUT_STRATEGIES", "decode", "error_message", "local_server_env", "output_names",
    "outputs", "request_body", "served_version", "server_command", "serving_python",
]  # fmt: skip
