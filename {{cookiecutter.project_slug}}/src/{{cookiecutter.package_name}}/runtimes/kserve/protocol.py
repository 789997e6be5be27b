"""KServe's side of `runtimes.base.ServingRuntime`: MLServer (runtimes/mlserver) speaking the
Open Inference Protocol, declared as an InferenceService in Standard mode whose predictor is a
`model` of this repo's ServingRuntime (k8s/base/runtimes/kserve/).
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

NAME = "KServe (MLServer)"
# KServe's canary entries (`spec.canary`, Standard mode) carry canary, A/B and shadow
# rollouts: runtimes/kserve/rollout.py.
ROLLOUT_STRATEGIES = ("replace", "canary", "shadow", "ab")
ROLLOUT_REFUSAL = ""  # every strategy is offered
MANIFEST = "inferenceservice.yaml"

__all__ = [
    "LIVE_PATH", "MANIFEST", "NAME", "PORTS", "PREDICT_PATH", "READY_PATH", "ROLLOUT_REFUSAL",
    "ROLLOUT_STRATEGIES", "decode", "error_message", "local_server_env", "output_names",
    "outputs", "request_body", "served_version", "server_command", "serving_python",
]  # fmt: skip
