"""Delivery commands against real git repositories and a contract-checked review API.

The platform repo is a local bare repository (the remote CI pushes to); the review API is
this repo's provider's stand-in from `review_apis/`, which checks every call the way the real
service does. Registry-backed parts run against the session's real MLflow server.
"""

from __future__ import annotations

import inspect
import json
import subprocess
import threading

import pytest
from ruamel.yaml import YAML

from {{ cookiecutter.package_name }}.delivery import DeliveryError, overlay, release, review, staging
from {{ cookiecutter.package_name }}.delivery.platform_repo import PlatformRepo, RaceLost
from {{ cookiecutter.package_name }}.delivery.promotion import BRANCH, repository_path
from {{ cookiecutter.package_name }}.settings import CI_PROVIDER, DEFAULT_PROMOTION_METRIC, MODEL_NAME

from .delivery_cli import TOKEN, platform_merges, promote_argv, push_overlay, run_cli
from .git_repos import git, remote_file
from .manifests import kustomize, pod_specs
from .review_apis import fake_review_api

RELEASE = release.Release("1111111", "3", {"serve": "sha256:" + "b" * 64})


# -- overlays ---------------------------------------------------------------------------------
def test_an_overlay_pins_images_and_version_and_renders(tmp_path):
    assert overlay.render(tmp_path, "staging", RELEASE)
    documents = kustomize(release.overlay_dir(tmp_path, "staging"))
    config = next(d for d in documents if d["kind"] == "ConfigMap")
    assert config["data"]["MODEL_VERSION"] == "3" and config["data"]["MODEL_ALIAS"] == "staging"
    server = next(d for d in documents if pod_specs(d))
    image = pod_specs(server)[0]["containers"][0]["image"]
    assert image.endswith(f"/{MODEL_NAME}:1111111@sha256:" + "b" * 64)
    assert release.read_release(tmp_path, "staging") == RELEASE


def test_the_command_line_pins_every_image_ci_built_by_digest(tmp_path, capsys):
    """CI passes each image's digest; the training image's pins the retrain receiver (in
    production, where the staging release is promoted with its digests)."""
    digests = {"serve": "b", "drift": "c", "train": "d"}
    options = [f"--digest-{name}=sha256:{letter * 64}" for name, letter in digests.items()]
    code, answer = run_cli(capsys, "render-overlay", "--platform-dir", str(tmp_path),
                           "--environment", "staging", "--image-tag", "1111111",
                           "--model-version", "3", *options)  # fmt: skip
    assert code == 0, answer
    overlay.promote(tmp_path, "staging", "production")
    images = set()
    todo = kustomize(release.overlay_dir(tmp_path, "production"))
    while todo:  # every container of every kind (Deployments, the model server's resource)
        node = todo.pop()
        if isinstance(node, dict):
            images |= {c["image"] for c in node.get("containers", []) if isinstance(c, dict)}
            todo.extend(node.values())
        elif isinstance(node, list):
            todo.extend(node)
    deployed = ["serve"{% if cookiecutter.include_drift_detection %}, "drift", "train"{% endif %}]  # the receiver
    assert len(images) == len(deployed), images
    for name, letter in ((name, digests[name]) for name in deployed):
        suffix = "" if name == "serve" else f"-{name}"
        assert f"/{MODEL_NAME}{suffix}:1111111@sha256:{letter * 64}" in "\n".join(images), name


def test_writing_the_same_release_twice_changes_nothing(tmp_path):
    assert overlay.render(tmp_path, "staging", RELEASE)
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert not overlay.render(tmp_path, "staging", RELEASE)
    assert before == {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}


def test_hand_edits_and_comments_survive_a_new_release(tmp_path):
    overlay.render(tmp_path, "staging", RELEASE)
    kustomization = release.overlay_dir(tmp_path, "staging") / "kustomization.yaml"
    yaml_rt = YAML()
    document = yaml_rt.load(kustomization.read_text())
    document["replicas"] = [{"name": MODEL_NAME + "-drift", "count": 2}]
    with kustomization.open("w") as stream:
        yaml_rt.dump(document, stream)
    kustomization.write_text(
        "# platform team: two drift replicas in staging\n" + kustomization.read_text()
    )
    overlay.render(tmp_path, "staging", release.Release("2222222", "4"))
    text = kustomization.read_text()
    assert "# platform team: two drift replicas in staging" in text
    assert "count: 2" in text and "MODEL_VERSION=4" in text and "2222222" in text
    assert "digest" not in text  # the older build's digest no longer overrides the tag


@pytest.mark.parametrize(
    ("environment", "release_args", "message"),
    [
        ("prod", ("1111111", "3"), "environment 'prod'"),
        ("staging", ("bad tag", "3"), "image tag 'bad tag'"),
        ("staging", ("1111111", "0"), "model version '0'"),
        ("staging", ("1111111", "three"), "model version 'three'"),
    ],
)
def test_bad_input_is_refused_and_nothing_is_written(environment, release_args, message, tmp_path):
    with pytest.raises(DeliveryError, match=message):
        overlay.render(tmp_path, environment, release.Release(*release_args))
    assert not any(tmp_path.iterdir())


def test_a_malformed_digest_is_refused():
    with pytest.raises(DeliveryError, match="serve digest 'sha256:123'"):
        release.Release("1111111", "3", {"serve": "sha256:123"})
    with pytest.raises(DeliveryError, match="model digest 'md5:1'"):
        release.Release("1111111", "3", model_digest="md5:1")


def test_the_model_digest_is_pinned_read_back_and_promoted(tmp_path):
    pinned = release.Release("1111111", "3", {}, "sha256:" + "d" * 64)
    overlay.render(tmp_path, "staging", pinned)
    text = (release.overlay_dir(tmp_path, "staging") / "kustomization.yaml").read_text()
    assert f"MODEL_DIGEST={pinned.model_digest}" in text
    assert release.read_release(tmp_path, "staging") == pinned
    overlay.promote(tmp_path, "staging", "production")
    assert release.read_release(tmp_path, "production") == pinned
    # A release without one leaves nothing pinned (the server then loads unverified).
    overlay.render(tmp_path, "staging", release.Release("2222222", "4"))
    assert release.read_release(tmp_path, "staging").model_digest is None


# -- staging deliveries: requests the platform merges ----------------------------------------
STAGING = f"models/{MODEL_NAME}/staging/kustomization.yaml"


@pytest.fixture
def api(monkeypatch):
    """The review API stand-in, and the token CI would hold for it."""
    monkeypatch.setenv("PLATFORM_REPO_TOKEN", TOKEN)
    with fake_review_api("acme/platform", TOKEN) as started:
        yield started
    assert not started.problems, started.problems


def changed_paths(platform: str, branch: str, tmp_path) -> list[str]:
    return git("--git-dir", platform.removeprefix("file://"), "diff", "--name-only",
               f"main...{branch}", cwd=tmp_path).splitlines()  # fmt: skip


def test_a_staging_delivery_is_one_request_touching_only_its_overlay(platform, api, tmp_path,
                                                                     capsys):  # fmt: skip
    code, first = push_overlay(capsys, platform, api=api, merge=False)
    assert code == 0 and first["action"] == "created" and first["branch"] == staging.BRANCH
    assert "MODEL_VERSION=3" in remote_file(platform, staging.BRANCH, STAGING, tmp_path)
    with pytest.raises(subprocess.CalledProcessError):  # main has nothing until it merges
        remote_file(platform, "main", STAGING, tmp_path)
    paths = changed_paths(platform, staging.BRANCH, tmp_path)
    assert paths and all(p.startswith(f"models/{MODEL_NAME}/staging/") for p in paths), paths
    request = api.review()
    assert request.title == f"Deliver {MODEL_NAME} version 3 (image 1111111) to staging"
    assert f"`models/{MODEL_NAME}/staging/` only" in request.body

    code, again = push_overlay(capsys, platform, api=api, merge=False)  # a re-run
    assert code == 0 and again["action"] == "unchanged" and again["pushed"] == "false"
    code, newer = push_overlay(capsys, platform, "4", "2222222", api=api, merge=False)
    assert code == 0 and newer["action"] == "updated", newer  # the same request, new content
    assert len(api.from_branch(staging.BRANCH)) == 1 and "version 4" in api.review().title

    platform_merges(platform, api, staging.BRANCH)  # what the platform's CI does
    assert "MODEL_VERSION=4" in remote_file(platform, "main", STAGING, tmp_path)
    code, current = push_overlay(capsys, platform, "4", "2222222", api=api, merge=False)
    assert code == 0 and current["action"] == "none", current  # main holds it: no request
    assert len(api.from_branch(staging.BRANCH)) == 1


def test_a_delivery_back_to_what_main_holds_closes_the_obsolete_request(platform, api,
                                                                        capsys):  # fmt: skip
    assert push_overlay(capsys, platform, api=api)[0] == 0  # version 3, merged
    assert push_overlay(capsys, platform, "4", "2222222", api=api, merge=False)[0] == 0
    code, answer = push_overlay(capsys, platform, api=api, merge=False)  # back to 3
    assert code == 0 and answer["action"] == "closed", answer
    assert [r.open for r in api.from_branch(staging.BRANCH)] == [False, False]


def test_without_a_model_version_the_delivery_keeps_the_model_staging_runs_or_will(
    platform, api, tmp_path, capsys
):
    """A commit whose trained version did not earn staging still ships its images, with the
    version staging runs, or the one of a delivery not merged yet (never an older one)."""
    keep = ("--model-version", "")
    code, error = push_overlay(capsys, platform, tag="2222222", api=api, options=keep)
    assert code == 1 and "nothing to keep" in error, "nothing runs yet"
    assert push_overlay(capsys, platform, api=api)[0] == 0  # version 3, image 1111111, merged
    assert push_overlay(capsys, platform, tag="2222222", api=api, options=keep)[0] == 0
    text = remote_file(platform, "main", STAGING, tmp_path)
    assert "MODEL_VERSION=3" in text and "2222222" in text
    assert push_overlay(capsys, platform, "5", "3333333", api=api, merge=False)[0] == 0
    assert push_overlay(capsys, platform, tag="4444444", api=api, merge=False,
                        options=keep)[0] == 0  # fmt: skip
    text = remote_file(platform, staging.BRANCH, STAGING, tmp_path)
    assert "MODEL_VERSION=5" in text and "4444444" in text


def test_only_staging_is_delivered(platform, api, capsys):
    code, error = push_overlay(capsys, platform, environment="production", api=api)
    assert code == 1 and "use open-promotion" in error and not api.requests


def test_bad_cli_input_fails_before_cloning(platform, api, capsys):
    code, error = push_overlay(capsys, platform, version="-1", api=api)
    assert code == 1 and "model version '-1'" in error and not api.requests


def test_a_delivery_that_lost_a_race_starts_over_on_the_winners_request(
    platform, api, tmp_path, capsys
):
    """Two pipelines of the model at once: the branch push is conditional on what this run
    read, so the later push never silently replaces the earlier one; it starts over."""
    repo = PlatformRepo(platform, tmp_path / "ours").clone()
    reviews = review.connect(api.url, "acme/platform", TOKEN)
    seen: list[release.Release | None] = []

    def release_for(current):
        seen.append(current)
        if len(seen) == 1:  # another run delivers version 7 while this one works
            assert push_overlay(capsys, platform, "7", "7777777", api=api, merge=False)[0] == 0
        return release.Release("8888888", "8")

    outcome = staging.deliver(repo, reviews, release_for)
    assert outcome["action"] == "updated", outcome  # the winner's request, now with ours
    assert seen[0] is None and seen[1].model_version == "7", seen
    assert len(api.from_branch(staging.BRANCH)) == 1
    assert "MODEL_VERSION=8" in remote_file(platform, staging.BRANCH, STAGING, tmp_path)


def test_a_push_over_a_moved_branch_is_refused(platform, tmp_path):
    ours = PlatformRepo(platform, tmp_path / "ours").clone()
    theirs = PlatformRepo(platform, tmp_path / "theirs").clone()
    seen = ours.remote_branch(staging.BRANCH)  # absent when we looked
    for repo, version in ((theirs, "7"), (ours, "8")):
        repo.git("checkout", "--quiet", "-B", staging.BRANCH, "origin/main")
        overlay.render(repo.path, "staging", release.Release("1111111", version))
        assert repo.commit(version, ["models"])
    assert theirs.push_branch(staging.BRANCH, None)
    with pytest.raises(RaceLost, match=f"branch {staging.BRANCH} moved"):
        ours.push_branch(staging.BRANCH, seen)
    assert "MODEL_VERSION=7" in remote_file(platform, staging.BRANCH, STAGING, tmp_path)


def test_the_token_never_reaches_git_config_urls_or_errors(tmp_path):
    repo = PlatformRepo("https://127.0.0.1:9/acme/platform.git", tmp_path, TOKEN)
    with pytest.raises(DeliveryError) as error:
        repo.clone()
    assert TOKEN not in str(error.value)
    assert "extraHeader" in repo._env["GIT_CONFIG_KEY_0"]
    assert TOKEN not in json.dumps(repo._env["GIT_CONFIG_VALUE_0"])  # base64, in memory only


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("https://github.com/acme/mlops-platform.git", "acme/mlops-platform"),
        ("https://gitlab.example.com/group/sub/platform", "group/sub/platform"),
        ("git@git.example.com:acme/platform.git", "acme/platform"),
    ],
)
def test_the_api_repository_comes_from_the_platform_url(url, path):
    assert repository_path(url) == path


def test_an_unusable_platform_url_is_named():
    with pytest.raises(DeliveryError, match="platform repo URL 'ftp://x'"):
        repository_path("ftp://x")


# -- promotion requests (contract tests) -----------------------------------------------------
def test_one_promotion_request_opened_updated_and_never_duplicated(
    platform, tmp_path, capsys, monkeypatch
):
    monkeypatch.setenv("PLATFORM_REPO_TOKEN", TOKEN)
    with fake_review_api("acme/platform", TOKEN) as api:
        promote = promote_argv(platform, api_url=api.url)
        assert push_overlay(capsys, platform)[0] == 0
        code, opened = run_cli(capsys, *promote)
        assert code == 0 and opened["action"] == "created", opened
        production = remote_file(
            platform, BRANCH, f"models/{MODEL_NAME}/production/kustomization.yaml", tmp_path
        )
        assert "MODEL_VERSION=3" in production and "MODEL_ALIAS=production" in production
        # main is untouched: production changes only when the request is merged
        with pytest.raises(subprocess.CalledProcessError):
            remote_file(
                platform, "main", f"models/{MODEL_NAME}/production/kustomization.yaml", tmp_path
            )

        code, again = run_cli(capsys, *promote)
        assert code == 0 and again["action"] == "unchanged"
        assert len(api.calls("POST")) == 1 and not api.calls("PATCH") + api.calls("PUT")

        assert push_overlay(capsys, platform, "4", "2222222")[0] == 0
        code, updated = run_cli(capsys, *promote)
        assert code == 0 and updated["action"] == "updated"
        promotions = api.from_branch(BRANCH)
        assert len(promotions) == 1 and "version 4" in promotions[0].title
        assert not api.problems, api.problems


def test_the_promotion_waits_for_a_pending_staging_delivery(platform, api, tmp_path, capsys,
                                                           monkeypatch):  # fmt: skip
    """CI opens the staging delivery, then the promotion: the platform merges the first while
    the second waits; without the wait, the promotion says it is of the older staging."""
    monkeypatch.setattr(staging, "POLL_SECONDS", 0.2)
    promote = promote_argv(platform, api_url=api.url)
    assert push_overlay(capsys, platform, api=api)[0] == 0  # version 3, merged
    assert push_overlay(capsys, platform, "4", "2222222", api=api, merge=False)[0] == 0
    code, early = run_cli(capsys, *promote)  # no wait: what staging runs now
    assert code == 0 and early["action"] == "created", early
    assert early["pending_delivery"].endswith("/2"), early  # the second delivery request
    promotion = api.from_branch(BRANCH)[0]
    assert "version 3" in promotion.title and early["pending_delivery"] in promotion.body

    merger = threading.Timer(1.0, platform_merges, (platform, api, staging.BRANCH))
    merger.start()
    code, waited = run_cli(capsys, *promote, "--wait-for-staging", "60")
    merger.join()
    assert code == 0 and waited["action"] == "updated" and "pending_delivery" not in waited
    promotion = api.from_branch(BRANCH)[0]
    assert "version 4" in promotion.title and "not merged yet" not in promotion.body
    production = remote_file(platform, BRANCH, f"models/{MODEL_NAME}/production/"
                             "kustomization.yaml", tmp_path)  # fmt: skip
    assert "MODEL_VERSION=4" in production


@pytest.mark.parametrize("seconds", ["-1", "nan", "3601"])
def test_an_unbounded_wait_is_refused(platform, api, capsys, seconds):
    code, error = run_cli(capsys, *promote_argv(platform, api_url=api.url),
                          "--wait-for-staging", seconds)  # fmt: skip
    assert code == 1 and "--wait-for-staging" in error and not api.requests


def test_the_api_root_is_the_one_the_providers_ci_sets(platform, capsys, monkeypatch):
    """Without --api-url, the API is where the CI runner says (self-managed hosts too)."""
    monkeypatch.setenv("PLATFORM_REPO_TOKEN", TOKEN)
    with fake_review_api("acme/platform", TOKEN) as api:
        monkeypatch.setenv(review.provider().api_url_variable, api.url)
        assert push_overlay(capsys, platform)[0] == 0
        code, opened = run_cli(capsys, *promote_argv(platform))
        assert code == 0 and opened["action"] == "created", opened
        assert api.review().open and not api.problems, api.problems


def test_the_provider_is_the_ci_providers_module_and_states_the_interface():
    chosen = review.provider()
    assert chosen.__module__ == f"{review.__name__}.{CI_PROVIDER}"
    interface = review.ReviewProvider
    members = {n for n in vars(interface) if not n.startswith("_")} | {"__init__"}
    for name in members:
        assert inspect.signature(getattr(chosen, name)) == inspect.signature(
            getattr(interface, name)
        ), name
    for name in interface.__annotations__:  # the class-level facts: names and URLs
        assert isinstance(getattr(chosen, name), str) and getattr(chosen, name), name


def test_api_errors_are_reported_without_the_token(platform, capsys, monkeypatch):
    monkeypatch.setenv("PLATFORM_REPO_TOKEN", "wrong-token")
    with fake_review_api("acme/platform", TOKEN) as api:
        push_overlay(capsys, platform)
        code, error = run_cli(capsys, *promote_argv(platform, api_url=api.url))
    assert code == 1 and "HTTP 401" in error and "wrong-token" not in error


def test_a_missing_token_is_named_before_anything_runs(platform, capsys, monkeypatch):
    monkeypatch.delenv("PLATFORM_REPO_TOKEN", raising=False)
    code, error = run_cli(capsys, *promote_argv(platform))
    assert code == 1 and "PLATFORM_REPO_TOKEN is empty" in error


def test_nothing_to_promote_before_staging_has_an_overlay(platform, capsys, monkeypatch):
    monkeypatch.setenv("PLATFORM_REPO_TOKEN", TOKEN)
    with fake_review_api("acme/platform", TOKEN) as api:
        code, error = run_cli(capsys, *promote_argv(platform, api_url=api.url, metrics=True))
        assert code == 1 and "nothing to promote" in error and not api.calls("POST")


# -- the registry (real MLflow server) ---------------------------------------------------------
@pytest.mark.slow
def test_register_tags_the_version_trained_from_the_commit(
    trained, mlflow_server, monkeypatch, capsys, tmp_path
):
    import mlflow

    from {{ cookiecutter.package_name }}.delivery.promotion import body
    from {{ cookiecutter.package_name }}.delivery.registration import version_facts
    from {{ cookiecutter.package_name }}.training import training_flow

    commit = "c0ffee" + "1" * 34
    monkeypatch.setenv("GIT_COMMIT", commit)
    result = training_flow(reason="ci")
    capsys.readouterr()  # the flow's own output
    env_file = tmp_path / "ci.env"
    code, registered = run_cli(
        capsys,
        "register",
        "--commit",
        commit[:12],
        "--image",
        f"ghcr.io/acme/{MODEL_NAME}:abc",
        "--digest",
        "sha256:" + "c" * 64,
        "--pipeline-url",
        "https://ci.example/pipelines/1",
        "--env-file",
        str(env_file),
    )
    assert code == 0 and registered["version"] == result.version
    client = mlflow.MlflowClient(mlflow_server)
    tags = client.get_model_version(MODEL_NAME, result.version).tags
    assert tags["image"] == f"ghcr.io/acme/{MODEL_NAME}:abc"
    assert tags["image.digest"] == "sha256:" + "c" * 64
    assert tags["git_commit"] == commit[:12] and tags["pipeline_url"].endswith("/pipelines/1")
    # CI deploys the version it trained (with its artifacts' digest as the registry holds
    # them now: the overlay pins it) when that earned staging, else nothing new.
    from {{ cookiecutter.package_name }}.registry import artifact_digest, download_version
    from {{ cookiecutter.package_name }}.settings import load_settings

    assert registered["decision"] in ("promoted", "rejected"), registered
    if registered["decision"] == "promoted":
        digest = artifact_digest(download_version(load_settings(), result.version))
        assert (registered["deploy_version"], registered["deploy_digest"]) == (result.version,
                                                                              digest)  # fmt: skip
        assert env_file.read_text() == f"MODEL_VERSION={result.version}\nMODEL_DIGEST={digest}\n"
    else:
        assert registered["deploy_version"] is None
        assert env_file.read_text() == "MODEL_VERSION=\nMODEL_DIGEST=\n"

    candidate, champion = version_facts(client, result.version)
    text = body(release.Release("abc", result.version), candidate, champion)
    assert f"version {result.version}" in text and f"| {DEFAULT_PROMOTION_METRIC} |" in text

    code, error = run_cli(
        capsys, "register", "--commit", "0" * 40, "--image", f"ghcr.io/acme/{MODEL_NAME}:abc"
    )
    assert code == 1 and "no version of" in error
    code, error = run_cli(capsys, "register", "--commit", "HEAD", "--image", "Not An Image")
    assert code == 1 and "commit 'HEAD'" in error and "image 'Not An Image'" in error
