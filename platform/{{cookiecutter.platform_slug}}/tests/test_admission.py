"""Only images the model repos' CI built run in the model namespaces: the Kyverno policy
generated from model-repos.yaml, and what `gitops validate` checks against it.

Kyverno itself, and the signatures it verifies, need a cluster and Sigstore: what runs here is
everything they consume, validated strictly against a schema derived from Kyverno's CRD."""

from __future__ import annotations

import pytest
import yaml

from gitops import PlatformError, admission, cli, model_repos, validate
from gitops.settings import IMAGE_POLICY_FILE, MODEL_NAMESPACES

from .overlays import RUNTIMES, register, write_overlay


def problems(root) -> list[str]:
    return validate.check_repo(root).problems


def policy_of(root) -> dict:
    return yaml.safe_load((root / IMAGE_POLICY_FILE).read_text())


def test_with_no_model_registered_every_image_is_refused(platform):
    policy = policy_of(platform)
    assert validate.check_document(policy) is None  # strict schema
    [deny] = policy["spec"]["rules"]
    condition = deny["validate"]["foreach"][0]["deny"]["conditions"]["any"][0]
    assert condition["operator"] == "AnyNotIn" and condition["value"] == ["none"]
    assert problems(platform) == []


def test_each_registered_model_gets_its_own_verified_images(platform):
    write_overlay(platform, "iris", "staging", "1")
    register(platform, "wine", images="registry.gitlab.com/acme/wine")
    entries = yaml.safe_load((platform / model_repos.FILE).read_text())["models"]
    entries[-1].update(provider="gitlab", repository="https://gitlab.com/acme/wine")
    (platform / model_repos.FILE).write_text(yaml.safe_dump({"models": entries}))
    assert cli.main(["--root", str(platform), "policy"]) == 0
    policy = policy_of(platform)
    assert validate.check_document(policy) is None
    rules = {rule["name"]: rule for rule in policy["spec"]["rules"]}
    allowed = rules["only-model-repo-images"]["validate"]["foreach"][0]["deny"]["conditions"]
    assert "ghcr.io/acme/iris-train:*@sha256:*" in allowed["any"][0]["value"]
    iris = rules["verify-iris"]["verifyImages"][0]
    assert iris["imageReferences"] == [
        "ghcr.io/acme/iris@sha256:*", "ghcr.io/acme/iris:*@sha256:*",
        "ghcr.io/acme/iris-train@sha256:*", "ghcr.io/acme/iris-train:*@sha256:*",
        "ghcr.io/acme/iris-drift@sha256:*", "ghcr.io/acme/iris-drift:*@sha256:*",
    ]  # fmt: skip
    keyless = iris["attestors"][0]["entries"][0]["keyless"]
    assert keyless["issuer"] == "https://token.actions.githubusercontent.com"
    assert keyless["subject"] == (
        "https://github.com/acme/iris/.github/workflows/ci.yml@refs/heads/main"
    )
    assert {a["type"] for a in iris["attestations"]} == {admission.SBOM_TYPE,
                                                          admission.PROVENANCE_TYPE}  # fmt: skip
    provenance = next(a for a in iris["attestations"] if a["type"] == admission.PROVENANCE_TYPE)
    assert provenance["conditions"][0]["all"][0]["value"] == "https://github.com/acme/iris"
    wine = rules["verify-wine"]["verifyImages"][0]["attestors"][0]["entries"][0]["keyless"]
    assert wine == {
        "issuer": "https://gitlab.com",
        "rekor": {"url": admission.REKOR},
        "subject": "https://gitlab.com/acme/wine//.gitlab-ci.yml@refs/heads/main",
    }
    for rule in rules.values():  # every rule covers both environments and enforces
        assert rule["match"]["any"][0]["resources"]["namespaces"] == list(MODEL_NAMESPACES)
    assert problems(platform) == []


def test_a_stale_policy_is_named_and_policy_check_fails(platform, capsys):
    write_overlay(platform, "iris", "staging", "1")
    (platform / IMAGE_POLICY_FILE).write_text(admission.render([]))  # iris's rule removed
    assert any(IMAGE_POLICY_FILE in p and "run gitops policy" in p for p in problems(platform))
    assert cli.main(["--root", str(platform), "policy", "--check"]) == 1
    assert "differs from what model-repos.yaml gives" in capsys.readouterr().err
    assert cli.main(["--root", str(platform), "policy"]) == 0
    assert cli.main(["--root", str(platform), "policy", "--check"]) == 0


def test_a_model_without_its_entry_is_named(platform):
    write_overlay(platform, "iris", "staging", "1")
    (platform / model_repos.FILE).write_text("models: []\n")
    admission.write(platform, [])
    assert "models/iris/: no entry in model-repos.yaml, so the admission policy refuses its " \
           "images" in problems(platform)  # fmt: skip


@pytest.mark.parametrize("image", [
    "ghcr.io/acme/wine:abc@sha256:" + "1" * 64,     # another model's image
    "ghcr.io/acme/iris:abc",                        # by tag only
    "ghcr.io/acme/iris-evil@sha256:" + "1" * 64,    # a look-alike repository
    "busybox@sha256:" + "1" * 64,                   # nobody's
])  # fmt: skip
def test_an_image_that_is_not_the_models_own_by_digest_is_named(platform, image):
    write_overlay(platform, "iris", "staging", "1", runtime=RUNTIMES[0])
    write_overlay(platform, "wine", "staging", "1", runtime=RUNTIMES[0])
    overlay = platform / "models" / "iris" / "staging"
    kustomization = yaml.safe_load((overlay / "kustomization.yaml").read_text())
    name, _, digest = image.partition("@")
    repository, _, tag = name.rpartition(":") if ":" in name.split("/")[-1] else (name, "", "")
    kustomization["images"] = [{"name": "ghcr.io/acme/iris", "newName": repository,
                                **({"newTag": tag} if tag else {}),
                                **({"digest": digest} if digest else {})}]  # fmt: skip
    (overlay / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
    found = [p for p in problems(platform) if "admission policy would refuse" in p]
    assert len(found) == 1 and image in found[0] and "model iris's images" in found[0], found


def test_a_policy_that_misses_a_namespace_or_only_audits_is_named():
    policy = admission.policy([])
    policy["spec"]["rules"][0]["match"]["any"][0]["resources"]["namespaces"].pop()
    policy["spec"]["rules"][0]["validate"]["failureAction"] = "Audit"
    found = admission.check_deployed([policy])
    assert any(f"does not cover namespace {MODEL_NAMESPACES[-1]}" in p for p in found), found
    assert any("must be failureAction: Enforce" in p for p in found), found
    assert "no Application deploys the ClusterPolicy" in admission.check_deployed([])[0]


ENTRY = {"name": "iris", "repository": "https://github.com/acme/iris", "provider": "github",
         "images": "ghcr.io/acme/iris", "delivery_account": "iris-delivery[bot]"}  # fmt: skip


@pytest.mark.parametrize(("change", "message"), [
    ({"owner": "me"}, "unknown field(s) owner"),
    ({"name": "Iris_Model"}, "name must be a DNS-1123 label"),
    ({"repository": "http://github.com/acme/iris"}, "repository must be https://"),
    ({"repository": "https://github.com/acme/iris.git"}, "repository must be https://"),
    ({"provider": "bitbucket"}, "provider must be one of github, gitlab"),
    ({"images": "ghcr.io/acme/iris:latest"}, "images must be a registry path without"),
    ({"delivery_account": ""}, "delivery_account must be a non-empty string"),
    ({"repository": "https://gitlab.com/acme/iris"}, "a github repository lives on github.com"),
])  # fmt: skip
def test_a_bad_model_repos_entry_is_named(tmp_path, change, message):
    (tmp_path / model_repos.FILE).write_text(yaml.safe_dump({"models": [{**ENTRY, **change}]}))
    with pytest.raises(PlatformError, match=message.replace("(", r"\(").replace(")", r"\)")):
        model_repos.load(tmp_path)


def test_two_models_may_not_share_an_account_or_images(tmp_path):
    other = {**ENTRY, "name": "wine", "images": "ghcr.io/acme/wine"}
    (tmp_path / model_repos.FILE).write_text(yaml.safe_dump({"models": [ENTRY, other]}))
    with pytest.raises(PlatformError, match="delivery_account 'iris-delivery\\[bot\\]' appears"):
        model_repos.load(tmp_path)
    (tmp_path / model_repos.FILE).write_text("models: {iris: {}}\n")
    with pytest.raises(PlatformError, match="must be a mapping with a list `models`"):
        model_repos.load(tmp_path)
