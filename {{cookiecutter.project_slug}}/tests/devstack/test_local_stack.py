"""The local stack (`make up` / `make down`): its configuration is the repo's own, checked by
Prometheus's{% if cookiecutter.include_drift_detection %} and Alertmanager's{% endif %} own tools; it stops what it started, also when a service fails.

The whole stack running the closed loop is exercised by `make loop-demo` (the template's slow
tier runs it); these tests start no server.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from {{ cookiecutter.package_name }} import local_stack
from {{ cookiecutter.package_name }}.devstack import processes
from {{ cookiecutter.package_name }}.devstack.processes import Service, StackError
from {{ cookiecutter.package_name }}.local_stack import Stack
from {{ cookiecutter.package_name }}.monitoring.rules import COMPOSE_RULES, local_rules, write_compose_rules

from ..probes import tool

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def stack(tmp_path) -> Stack:
    ports = {name: 20000 + i for i, name in enumerate(local_stack.PORT_NAMES)}
    stack = Stack(tmp_path / "stack", ports)
    local_stack.write_configs(stack, alert_for="7s")
    return stack


def test_local_rules_are_the_repos_own_with_short_alert_durations():
    original = yaml.safe_load((REPO / "k8s" / "base" / "prometheusrule.yaml").read_text())["spec"]
    local = local_rules("7s", REPO)
    for before, after in zip(original["groups"], local["groups"], strict=True):
        for rule_before, rule_after in zip(before["rules"], after["rules"], strict=True):
            assert rule_after["expr"] == rule_before["expr"]
            if "alert" in rule_before:
                assert rule_after["for"] == "7s"
                assert rule_after["labels"] == rule_before["labels"]


def test_prometheus_accepts_the_config_and_rules(stack):
    config = stack.directory / "prometheus" / "prometheus.yml"
    result = subprocess.run([tool("promtool"), "check", "config", str(config)],
                            capture_output=True, text=True, check=False)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout and "rules found" in result.stdout
    jobs = {job["job_name"]: job for job in yaml.safe_load(config.read_text())["scrape_configs"]}
    assert jobs["model-server"]["static_configs"][0]["targets"] == [
        f"127.0.0.1:{stack.ports['model_metrics']}"
    ]
{%- if cookiecutter.include_drift_detection %}


def test_alertmanager_routes_drift_alerts_like_the_cluster_does(stack):
    config = stack.directory / "alertmanager" / "alertmanager.yml"
    result = subprocess.run([tool("amtool"), "check-config", str(config)],
                            capture_output=True, text=True, check=False)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    manifests = (REPO / "k8s" / "base" / "retrain" / "retrain-receiver.yaml").read_text()
    cluster = next(d for d in yaml.safe_load_all(manifests) if d["kind"] == "AlertmanagerConfig")
    cluster = cluster["spec"]["route"]
    local = yaml.safe_load(config.read_text())["route"]["routes"][0]
    assert local["matchers"] == [f'{m["name"]}{m.get("matchType", "=")}"{m["value"]}"'
                                 for m in cluster["matchers"]]  # fmt: skip
    webhook = yaml.safe_load(config.read_text())["receivers"][1]["webhook_configs"][0]
    assert webhook["url"] == f"http://127.0.0.1:{stack.ports['receiver']}/alerts"
    assert stack.env["RETRAIN_DEPLOYMENT"] == "local"
    # With the bearer token the receiver checks, kept in the stack (a Secret in the cluster).
    token = Path(webhook["http_config"]["authorization"]["credentials_file"])
    assert token.parent == stack.directory / "alertmanager"
    assert token.stat().st_mode & 0o077 == 0 and len(token.read_text().strip()) >= 32
    receiver = next(s for s in local_stack.model_services(stack) if s.name == "retrain-receiver")
    assert receiver.env["RETRAIN_RECEIVER_TOKEN_FILE"] == str(token)
    documents = {d["kind"]: d for d in yaml.safe_load_all(manifests)}
    webhooks = documents["AlertmanagerConfig"]["spec"]["receivers"][0]["webhookConfigs"]
    secret = webhooks[0]["httpConfig"]["authorization"]["credentials"]["name"]
    volumes = documents["Deployment"]["spec"]["template"]["spec"]["volumes"]
    assert {"secretName": secret, "defaultMode": 0o440} in [v.get("secret") for v in volumes]


def test_the_quality_state_lives_and_goes_with_the_stack(stack):
    # Its Kafka and its registry are the stack's: a state kept elsewhere would resume another
    # stack's version 1 (the loop demo, run twice, found its label shift already measured).
    from {{ cookiecutter.package_name }}.settings import load_settings

    settings = load_settings(local_stack.process_env(stack))
    assert settings.quality_state_dir == stack.directory / "quality"
{%- endif %}


def test_a_missing_tool_is_named_with_how_to_get_it(monkeypatch, tmp_path):
    # Neither linked into the venv (`make tools`) nor on PATH.
    monkeypatch.setattr(processes, "BIN", tmp_path)
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(StackError, match=r"prometheus is not installed: run `make install`"):
        processes.executable("prometheus")


def test_the_tools_the_stack_runs_are_the_ones_make_install_linked():
    for name in ("prometheus", "promtool"{% if cookiecutter.include_drift_detection %}, "alertmanager", "amtool"{% endif %}):
        linked = processes.BIN / name
        assert linked.is_symlink(), f"{name}: `make tools` links it into {processes.BIN}"
        assert processes.executable(name) == str(linked)


def sleeper(directory: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"],
                            start_new_session=True, cwd=directory)  # fmt: skip


def test_down_stops_every_recorded_process_and_forgets_them(tmp_path):
    processes = [sleeper(tmp_path) for _ in range(2)]
    stack = Stack(tmp_path, {name: 1 for name in local_stack.PORT_NAMES},
                  {"first": processes[0].pid, "second": processes[1].pid})  # fmt: skip
    stack.save()
    assert local_stack.down(tmp_path, log=lambda line: None) == ["second", "first"]
    for process in processes:
        assert process.wait(timeout=5) is not None
    assert not (tmp_path / "stack.json").exists()
    assert local_stack.down(tmp_path, log=lambda line: None) == []


def test_up_refuses_to_start_a_second_stack_in_the_same_folder(tmp_path):
    process = sleeper(tmp_path)
    try:
        Stack(tmp_path, {name: 1 for name in local_stack.PORT_NAMES}, {"x": process.pid}).save()
        with pytest.raises(StackError, match="already runs"):
            local_stack.up(tmp_path, log=lambda line: None)
    finally:
        processes.stop(process)


def test_a_service_that_fails_stops_everything_already_started(tmp_path, monkeypatch):
    port = processes.free_port()
    serve = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"]
    healthy = Service("healthy", serve, f"http://127.0.0.1:{port}/", timeout=30)
    fails = "print('bad config'); raise SystemExit(3)"
    broken = Service("broken", [sys.executable, "-c", fails], "tcp:1", timeout=30)
    monkeypatch.setattr(local_stack, "infrastructure", lambda stack: [healthy, broken])
    with pytest.raises(StackError) as failure:
        local_stack.up(tmp_path, log=lambda line: None)
    assert "broken exited with 3" in str(failure.value)
    assert "bad config" in str(failure.value)  # its log, shown
    assert not (tmp_path / "stack.json").exists()
    time.sleep(0.5)
    assert not processes.http_ok(f"http://127.0.0.1:{port}/"), "the healthy one is stopped too"


def _stack_of(tmp_path) -> Stack:
    stack = Stack(tmp_path, {name: 1 for name in local_stack.PORT_NAMES})
    (tmp_path / "logs").mkdir()
    return stack


def test_a_service_starts_once_what_it_needs_is_ready_and_callbacks_follow(tmp_path):
    first, second = processes.free_port(), processes.free_port()
    # "second" exits at once unless "first" already answers when it starts.
    needs_first = (
        "import sys, urllib.request, http.server\n"
        f"urllib.request.urlopen('http://127.0.0.1:{first}/', timeout=2)\n"
        f"http.server.test(http.server.SimpleHTTPRequestHandler, port={second}, bind='127.0.0.1')"
    )
    services = [
        Service("second", [sys.executable, "-c", needs_first], f"http://127.0.0.1:{second}/",
                timeout=30, needs=("first",)),
        Service("first", [sys.executable, "-c", "import time, http.server; time.sleep(1.5); "
                          "http.server.test(http.server.SimpleHTTPRequestHandler, "
                          f"port={first}, bind='127.0.0.1')"],
                f"http://127.0.0.1:{first}/", timeout=30),
    ]  # fmt: skip
    stack, order = _stack_of(tmp_path), []
    try:
        local_stack.start_all(stack, services, order.append,
                              when_ready={"first": lambda: order.append("callback")})  # fmt: skip
        assert [line.split()[0] for line in order] == ["first", "callback", "second"]
    finally:
        local_stack.down(tmp_path, log=lambda line: None)


def test_a_need_nothing_provides_is_named(tmp_path):
    orphan = Service("orphan", [sys.executable, "-c", "pass"], "tcp:1", needs=("nowhere",))
    with pytest.raises(StackError, match=r"nothing can start: orphan \(needs nowhere\)"):
        local_stack.start_all(_stack_of(tmp_path), [orphan], lambda line: None)


def test_the_env_file_points_at_the_stack(stack):
    stack.save()
    env = dict(line.removeprefix("export ").split("=", 1)
               for line in (stack.directory / "env").read_text().splitlines())  # fmt: skip
    assert env["MLFLOW_TRACKING_URI"] == f"http://127.0.0.1:{stack.ports['mlflow']}"
    assert env["PREFECT_API_URL"] == f"http://127.0.0.1:{stack.ports['prefect']}/api"
    assert env["DATA_URI"] == str(stack.directory / "data" / "training.csv")
    assert json.loads((stack.directory / "stack.json").read_text())["env"] == env


# -- the Docker Compose variant ---------------------------------------------------------------
def compose() -> dict:
    return yaml.safe_load((REPO / "compose.yaml").read_text())


def test_compose_file_follows_the_compose_specification():
    checker = Path(sys.executable).with_name("check-jsonschema")
    result = subprocess.run(
        [str(checker), "--builtin-schema", "vendor.compose-spec", str(REPO / "compose.yaml")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_builds_only_targets_of_the_dockerfile_and_mounts_files_that_exist():
    dockerfile = (REPO / "Dockerfile").read_text()
    for name, service in compose()["services"].items():
        if "build" in service:
            assert f" AS {service['build']['target']}\n" in dockerfile, name
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (REPO / source).is_file(), f"{name} mounts {source}"


def test_compose_rules_are_generated_from_the_prometheusrule(tmp_path):
    committed = (REPO / COMPOSE_RULES).read_text()
    copy = tmp_path / "repo"
    shutil.copytree(REPO / "k8s", copy / "k8s")
    assert write_compose_rules(copy) == [copy / COMPOSE_RULES]
    assert (copy / COMPOSE_RULES).read_text() == committed, "run `make monitoring`"
    # Prometheus's own check of the compose configuration, rules included.
    config = yaml.safe_load((REPO / "compose" / "prometheus.yml").read_text())
    config["rule_files"] = [str(REPO / COMPOSE_RULES)]
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    result = subprocess.run([tool("promtool"), "check", "config", str(tmp_path / "prometheus.yml")],
                            capture_output=True, text=True, check=False)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
{%- if cookiecutter.include_drift_detection %}


def test_compose_alertmanager_routes_drift_alerts_like_the_cluster_does():
    config = REPO / "compose" / "alertmanager.yml"
    result = subprocess.run([tool("amtool"), "check-config", str(config)],
                            capture_output=True, text=True, check=False)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    route = yaml.safe_load(config.read_text())["route"]["routes"][0]
    assert route["matchers"] == ['alertname=~"ModelDriftDetected|ModelQualityDegraded"',
                                 'model="{{ cookiecutter.model_name }}"']  # fmt: skip
    receiver = compose()["services"]["retrain-receiver"]["environment"]
    assert receiver["RETRAIN_DEPLOYMENT"] == "local"
    # Both read the same secret: the receiver its file, Alertmanager its credentials_file.
    webhook = yaml.safe_load(config.read_text())["receivers"][1]["webhook_configs"][0]
    token_file = webhook["http_config"]["authorization"]["credentials_file"]
    assert token_file == receiver["RETRAIN_RECEIVER_TOKEN_FILE"]
    services = compose()["services"]
    assert "retrain-token" in services["retrain-receiver"]["secrets"]
    assert "retrain-token" in services["alertmanager"]["secrets"]
{%- endif %}
