"""prefect.yaml against a real Prefect server: deploy, then run with a process worker."""

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path

import pytest

from {{ cookiecutter.package_name }}.devstack.processes import executable
from {{ cookiecutter.package_name }}.jsonhttp import basic_authorization
from {{ cookiecutter.package_name }}.settings import FLOW_NAME, SCORING_FLOW_NAME

from ..probes import post, prefect_client
from .registered import assert_one_version_registered_for

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
PREFECT = executable("prefect")


def _env(api: str, **extra: str) -> dict[str, str]:
    return {**os.environ, "PREFECT_API_URL": api, **extra}


def _run(command: list[str], env: dict[str, str], timeout: float = 300) -> str:
    result = subprocess.run(
        command, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert result.returncode == 0, f"{command}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result.stdout


async def _deployment(api: str, name: str, flow: str = FLOW_NAME):
    async with prefect_client(api) as client:
        return await client.read_deployment_by_name(f"{flow}/{name}")


def test_deploy_flow_registers_the_kubernetes_deployment(prefect_api):
    image = "registry.test/model-train:0123abc"
    # The platform creates this pool (its Prefect worker chart); here the test stands in.
    pool = [PREFECT, "work-pool", "create", "kubernetes", "--type", "kubernetes", "--overwrite"]
    _run(pool, _env(prefect_api))
    _run(["make", "--no-print-directory", "deploy-flow"],
         _env(prefect_api, FLOW_IMAGE=image, GIT_COMMIT="0123abc"))  # fmt: skip
    deployment = asyncio.run(_deployment(prefect_api, "kubernetes"))
    assert deployment.work_pool_name == "kubernetes"
    assert deployment.job_variables["image"] == image
    assert deployment.version == "0123abc"
    assert deployment.parameters == {"reason": "scheduled"}
    assert [s.schedule.cron for s in deployment.schedules] == ["0 3 * * 1"]

    # Batch scoring's deployment, once its input and output are set (CI variables)
    tables = {"SCORING_INPUT_URI": "s3://tables/daily/today.parquet",
              "SCORING_OUTPUT_URI": "s3://scores/daily/"}  # fmt: skip
    _run(["make", "--no-print-directory", "deploy-flow"],
         _env(prefect_api, FLOW_IMAGE=image, GIT_COMMIT="0123abc", **tables))  # fmt: skip
    scoring = asyncio.run(_deployment(prefect_api, "scoring-kubernetes", SCORING_FLOW_NAME))
    assert scoring.job_variables["image"] == image
    assert scoring.parameters == {"input_uri": tables["SCORING_INPUT_URI"],
                                  "output_uri": tables["SCORING_OUTPUT_URI"],
                                  "alias": "champion"}  # fmt: skip
    assert [s.schedule.cron for s in scoring.schedules] == ["0 4 * * *"]


def test_deploy_flow_without_an_api_url_explains_itself():
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    result = subprocess.run(
        ["make", "--no-print-directory", "deploy-flow"], cwd=REPO, env=env,
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode != 0
    assert "set PREFECT_API_URL" in result.stderr


def test_a_process_worker_runs_the_local_deployment(prefect_api, mlflow_server, trained):
    env = _env(prefect_api, FLOW_IMAGE="unused", GIT_COMMIT="local", FLOW_DEPLOYMENTS="local")
    _run([PREFECT, "work-pool", "create", "local-process", "--type", "process"], env)
    _run(["make", "--no-print-directory", "deploy-flow"], env)
    _run([PREFECT, "deployment", "run", f"{FLOW_NAME}/local", "-p", "reason=deployment-test"], env)
    _run([PREFECT, "worker", "start", "--pool", "local-process", "--run-once"], env, timeout=600)

    assert_one_version_registered_for(mlflow_server, "deployment-test")


def test_the_prefect_api_refuses_a_call_without_its_credentials(prefect_api):
    url = f"{prefect_api}/flows/filter"
    assert post(url, {})[0] == 401
    assert post(url, {}, headers=basic_authorization("mlops:guess"))[0] == 401
    right = basic_authorization(os.environ["PREFECT_API_AUTH_STRING"])
    status, flows = post(url, {}, headers=right)
    assert status == 200 and isinstance(flows, list)
