"""`gitops sync-registry` against a real MLflow server and an Argo CD stand-in."""

from __future__ import annotations

import uuid

import pytest
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from gitops import cli

from .fake_apis import FakeArgoCd
from .overlays import RUNTIMES, commit_all, git, write_overlay
from .servers import MlflowServer

pytestmark = pytest.mark.slow
TOKEN = "argocd-token"


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory):
    server = MlflowServer(tmp_path_factory.mktemp("mlflow"))
    yield server
    server.stop()


@pytest.fixture
def registry(mlflow_server) -> tuple[MlflowClient, str]:
    """A registered model with versions 1-3 and production/champion on version 1."""
    client = MlflowClient(mlflow_server.url)
    model = f"iris-{uuid.uuid4().hex[:8]}"  # a model of its own per test
    client.create_registered_model(model)
    run = client.create_run(client.create_experiment(model))
    for _ in range(3):
        client.create_model_version(model, f"{run.info.artifact_uri}/model", run.info.run_id)
    for alias in ("production", "champion"):
        client.set_registered_model_alias(model, alias, "1")
    return client, model


@pytest.fixture
def argocd():
    fake = FakeArgoCd(TOKEN)
    yield fake
    fake.close()


def run_sync(monkeypatch, platform, mlflow_server, argocd, *extra) -> int:
    monkeypatch.setenv("ARGOCD_SERVER", argocd.url)
    monkeypatch.setenv("ARGOCD_AUTH_TOKEN", TOKEN)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server.url)
    argv = ["--root", str(platform), "sync-registry", "--interval", "0.05", "--timeout", "5"]
    return cli.main([*argv, *extra])


def aliases(client, model) -> tuple[str, ...]:
    return tuple(
        client.get_model_version_by_alias(model, alias).version
        for alias in ("production", "champion")
    )


def test_aliases_move_only_once_argo_cd_runs_the_merge_and_a_revert_moves_them_back(
    monkeypatch, platform, mlflow_server, argocd, registry, capsys
):
    client, model = registry
    app = f"{model}-production"
    write_overlay(platform, model, "production", "1")
    first = commit_all(platform, "production runs v1")
    write_overlay(platform, model, "production", "2")
    merge = commit_all(platform, "promote v2")

    seen_while_syncing = []
    argocd.on_request = lambda name: seen_while_syncing.append(aliases(client, model))
    argocd.states[app] = [
        ("OutOfSync", first, "Healthy"),
        ("Synced", merge, "Progressing"),
        ("Synced", merge, "Healthy"),
    ]
    assert run_sync(monkeypatch, platform, mlflow_server, argocd) == 0
    assert aliases(client, model) == ("2", "2")
    assert seen_while_syncing == [("1", "1")] * 3, "never ahead of the cluster"
    assert f"{model}: production, champion moved 1 -> 2" in capsys.readouterr().out
    paths = {path for _, path, _ in argocd.requests}
    assert paths == {f"/api/v1/applications/{app}?refresh=normal"}

    # Again: in agreement, so Argo CD is not even asked.
    argocd.requests.clear()
    assert run_sync(monkeypatch, platform, mlflow_server, argocd) == 0
    assert argocd.requests == []
    assert "production is version 2, as pinned" in capsys.readouterr().out

    # The promotion is reverted: the alias follows once the revert is deployed.
    git(platform, "revert", "--no-edit", merge)
    revert = git(platform, "rev-parse", "HEAD")
    argocd.states[app] = [("Synced", merge, "Healthy"), ("Synced", revert, "Healthy")]
    assert run_sync(monkeypatch, platform, mlflow_server, argocd) == 0
    assert aliases(client, model) == ("1", "1")


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_a_rollout_moves_the_candidate_alias_and_its_end_removes_it(
    monkeypatch, platform, mlflow_server, argocd, registry, capsys, runtime
):
    client, model = registry
    app = f"{model}-production"
    write_overlay(platform, model, "production", "1", candidate="2", runtime=runtime)
    canary = commit_all(platform, "canary of v2")
    argocd.states[app] = [("Synced", canary, "Healthy")]
    assert run_sync(monkeypatch, platform, mlflow_server, argocd) == 0
    assert aliases(client, model) == ("1", "1")
    assert client.get_model_version_by_alias(model, "candidate").version == "2"
    assert f"{model}: candidate moved (none) -> 2" in capsys.readouterr().out

    # Finished: the candidate is production's only predictor.
    (platform / "models" / model / "production" / "rollout.yaml").unlink()
    write_overlay(platform, model, "production", "2")
    finish = commit_all(platform, "finish the canary")
    argocd.states[app] = [("Synced", finish, "Healthy")]
    assert run_sync(monkeypatch, platform, mlflow_server, argocd) == 0
    assert aliases(client, model) == ("2", "2")
    assert "candidate removed (was 2)" in capsys.readouterr().out
    with pytest.raises(MlflowException):
        client.get_model_version_by_alias(model, "candidate")


def test_a_later_commit_deployed_counts_for_this_one(
    monkeypatch, platform, mlflow_server, argocd, registry
):
    client, model = registry
    write_overlay(platform, model, "production", "3")
    merge = commit_all(platform, "promote v3")
    (platform / "README.md").write_text("later change\n")
    later = commit_all(platform, "an unrelated later commit")
    argocd.states[f"{model}-production"] = [("Synced", later, "Healthy")]
    assert run_sync(monkeypatch, platform, mlflow_server, argocd, "--revision", merge) == 0
    assert aliases(client, model) == ("3", "3")


@pytest.mark.parametrize(
    ("state", "message"),
    [(("Synced", "HEAD", "Degraded"), "is Degraded"),
     (("OutOfSync", "OLD", "Healthy"), "not Synced and Healthy")],
    ids=["degraded", "never-synced"],
)  # fmt: skip
def test_a_failed_rollout_leaves_the_registry_alone(
    monkeypatch, platform, mlflow_server, argocd, registry, capsys, state, message
):
    client, model = registry
    old = git(platform, "rev-parse", "HEAD")
    write_overlay(platform, model, "production", "2")
    head = commit_all(platform, "promote v2")
    revisions = {"HEAD": head, "OLD": old}
    argocd.states[f"{model}-production"] = [(state[0], revisions[state[1]], state[2])]
    assert run_sync(monkeypatch, platform, mlflow_server, argocd) == 1
    assert message in capsys.readouterr().err
    assert aliases(client, model) == ("1", "1")


def test_a_version_the_registry_lacks_fails_before_asking_argo_cd(
    monkeypatch, platform, mlflow_server, argocd, registry, capsys
):
    _, model = registry
    write_overlay(platform, model, "production", "42")
    commit_all(platform, "promote a version that does not exist")
    assert run_sync(monkeypatch, platform, mlflow_server, argocd) == 1
    assert "pins version 42, which the registry does not have" in capsys.readouterr().err
    assert argocd.requests == []


def test_missing_settings_are_named(monkeypatch, platform, capsys):
    monkeypatch.delenv("ARGOCD_AUTH_TOKEN", raising=False)
    monkeypatch.setenv("ARGOCD_SERVER", "http://127.0.0.1:9")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")
    assert cli.main(["--root", str(platform), "sync-registry"]) == 1
    assert "missing environment variable(s): ARGOCD_AUTH_TOKEN" in capsys.readouterr().err
