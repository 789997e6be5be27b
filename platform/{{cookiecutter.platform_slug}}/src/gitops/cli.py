"""The `gitops` command: what the platform's CI and its people run."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from . import PlatformError
from .settings import ROOT
from .template_update import TemplateError

# cruft, for the template's updates: `make install` puts it beside this command.
CRUFT = Path(sys.executable).parent / "cruft"


def cmd_validate(args: argparse.Namespace) -> int:
    from .validate import check_repo

    report = check_repo(args.root)
    for problem in report.problems:
        print(f"ERROR: {problem}", file=sys.stderr)
    if report.problems:
        print(f"{len(report.problems)} problem(s)", file=sys.stderr)
        return 1
    print(f"ok: {len(report.applications)} applications, {report.checked} documents valid")
    return 0


def cmd_versions(args: argparse.Namespace) -> int:
    from . import charts

    changed = charts.write_versions(args.root)
    print(f"{charts.README}: chart versions {'written' if changed else 'unchanged'}")
    return 0


def cmd_policy(args: argparse.Namespace) -> int:
    from . import admission, model_repos
    from .settings import IMAGE_POLICY_FILE

    repos = model_repos.load(args.root)
    if args.check:
        problems = admission.stale(args.root, repos)
        for problem in problems:
            print(f"ERROR: {problem}", file=sys.stderr)
        return 1 if problems else 0
    changed = admission.write(args.root, repos)
    names = ", ".join(repo.name for repo in repos) or "none: every image is refused"
    print(f"{IMAGE_POLICY_FILE}: {'written' if changed else 'unchanged'} (models: {names})")
    return 0


def cmd_check_change(args: argparse.Namespace) -> int:
    from . import trust

    found = trust.changes(args.root, args.base, args.head)
    verdict = trust.judge(args.author, found, trust.trusted_repos(args.root, args.base))
    for reason in verdict.reasons:  # on stderr: stdout is the verdict alone (CI reads it)
        print(f"{'ERROR' if verdict.action == 'refuse' else 'note'}: {reason}", file=sys.stderr)
    print(f"verdict={verdict.action}")
    return 1 if verdict.action == "refuse" else 0


def cmd_apps(args: argparse.Namespace) -> int:
    from . import inventory

    inv = inventory.load(args.root)
    for application in inv.applications:
        spec = application["spec"]
        paths = [s.path or f"{s.chart} {s.repo_url}" for s in inv.sources(application)]
        generated = " (generated)" if application in inv.generated else ""
        print(
            f"{application['metadata']['name']:<28} {spec['project']:<9} "
            f"{spec['destination']['namespace']:<22} {', '.join(paths)}{generated}"
        )
    return 0


def cmd_render_charts(args: argparse.Namespace) -> int:
    from .charts import render_charts

    total = render_charts(args.root, args.helm)
    print(f"ok: every chart renders ({total} documents)")
    return 0


def cmd_diff(args: argparse.Namespace) -> int:
    from . import diff

    before = diff.render_revision(args.root, args.base)
    after = diff.render_all(args.root)
    changes = diff.compare(before, after)
    text = diff.markdown(before, after, changes)
    if args.output:
        args.output.write_text(text)
        print(f"{len(changes)} application(s) change; wrote {args.output}")
    else:
        print(text, end="")
    return 0


def _required_env(*names: str) -> list[str]:
    missing = [name for name in names if not os.environ.get(name)]
    if missing:
        raise PlatformError(f"missing environment variable(s): {', '.join(missing)}")
    return [os.environ[name] for name in names]


def _positive_int(name: str, value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise PlatformError(f"{name}={value!r}: must be a positive integer")
    return int(value)


def cmd_comment(args: argparse.Namespace) -> int:
    from . import review
    from .settings import CI_PROVIDER

    body = args.file.read_text()
    if CI_PROVIDER == "github":
        token, repository, number = _required_env(
            "GITHUB_TOKEN", "GITHUB_REPOSITORY", "PULL_REQUEST_NUMBER"
        )
        api = os.environ.get("GITHUB_API_URL", "https://api.github.com")
        number = _positive_int("PULL_REQUEST_NUMBER", number)
        outcome = review.upsert_github(api, repository, number, token, body)
    else:
        token, api, project, iid = _required_env(
            "GITLAB_TOKEN", "CI_API_V4_URL", "CI_PROJECT_ID", "CI_MERGE_REQUEST_IID"
        )
        iid = _positive_int("CI_MERGE_REQUEST_IID", iid)
        outcome = review.upsert_gitlab(api, project, iid, token, body)
    print(f"diff comment {outcome}")
    return 0


def _is_ancestor(root: Path):
    def contains(synced: str, wanted: str) -> bool:
        if synced == wanted:
            return True
        result = subprocess.run(
            ["git", "-C", str(root), "merge-base", "--is-ancestor", wanted, synced],
            capture_output=True, check=False,
        )  # fmt: skip
        return result.returncode == 0

    return contains


def cmd_sync_registry(args: argparse.Namespace) -> int:
    from mlflow.tracking import MlflowClient

    from . import registry
    from .argocd import ArgoCd

    server, token, tracking_uri = _required_env(
        "ARGOCD_SERVER", "ARGOCD_AUTH_TOKEN", "MLFLOW_TRACKING_URI"
    )
    revision = args.revision or subprocess.run(
        ["git", "-C", str(args.root), "rev-parse", "HEAD"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    lines = registry.sync(
        args.root, MlflowClient(tracking_uri), ArgoCd(server, token), revision,
        timeout=args.timeout, interval=args.interval, contains=_is_ancestor(args.root),
    )  # fmt: skip
    for line in lines:
        print(line)
    if not lines:
        print("no production overlay yet: nothing to follow")
    return 0


def cmd_template_check(args: argparse.Namespace) -> int:
    from . import template_update

    print(json.dumps(template_update.check(args.root).as_dict()))
    return 0


def cmd_template_update(args: argparse.Namespace) -> int:
    import tempfile

    from . import template_update
    from .review import FORGES
    from .settings import CI_PROVIDER
    from .template_request import Checkout, propose_update

    if not args.propose:
        status = template_update.check(args.root)
        if not status.behind:
            print(json.dumps({"action": "none", "reason": f"current ({status.current})"}))
            return 0
        found = template_update.apply(args.root, status.tag, args.cruft)
        print(json.dumps({"action": "applied", "from": status.current, "to": status.latest,
                          "conflicts": found}))  # fmt: skip
        return 0
    # CI: this repo's own URL and path, and a token that may push a branch and open requests.
    forge = FORGES[CI_PROVIDER]
    repository = args.repository or os.environ.get(forge.repository_variable, "")
    server = os.environ.get(forge.server_url_variable, "")
    url = args.repo_url or (f"{server}/{repository}.git" if server and repository else "")
    if not url or not repository:
        raise PlatformError(
            f"--propose needs this repo's URL and path: --repo-url and --repository, or CI's "
            f"${forge.server_url_variable} and ${forge.repository_variable}"
        )
    api_url = args.api_url or os.environ.get(forge.api_url_variable) or forge.default_api_url
    if not api_url.startswith(("https://", "http://")):
        raise PlatformError(f"API URL {api_url!r}: must start with https://")
    (token,) = _required_env("TEMPLATE_UPDATE_TOKEN")
    requests = forge(api_url.rstrip("/"), repository, token)
    with tempfile.TemporaryDirectory() as tmp:
        checkout = Checkout(url, Path(tmp), forge.git_user, token)
        print(json.dumps(propose_update(checkout, requests, args.cruft)))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gitops", description=__doc__)
    parser.add_argument("--root", type=Path, default=ROOT, help="the platform repo checkout")
    commands = parser.add_subparsers(dest="command", required=True)

    commands.add_parser("validate", help="render and validate everything Argo CD would deploy")
    commands.add_parser("apps", help="list every Application, the generated ones included")
    commands.add_parser(
        "versions", help="write the README's table of chart versions from the pins in apps/"
    )
    policy = commands.add_parser(
        "policy", help="write the model namespaces' admission policy from model-repos.yaml"
    )
    policy.add_argument("--check", action="store_true", help="only check it is up to date")
    change = commands.add_parser(
        "check-change", help="may the author of a pull request change what it changes?"
    )
    change.add_argument("--author", required=True, help="the request's author (login)")
    change.add_argument("--base", required=True, help="the target branch's revision")
    change.add_argument("--head", required=True, help="the request's head revision")

    charts = commands.add_parser(
        "render-charts", help="helm template every pinned chart with our values (needs helm)"
    )
    charts.add_argument("--helm", default="helm", help="the helm executable")

    diff = commands.add_parser("diff", help="rendered changes against a base revision")
    diff.add_argument("--base", required=True, help="git revision to compare with")
    diff.add_argument("--output", type=Path, help="write the markdown here instead of stdout")

    comment = commands.add_parser("comment", help="post or update the diff on the PR / MR")
    comment.add_argument("--file", type=Path, required=True, help="the markdown to post")

    sync = commands.add_parser(
        "sync-registry", help="move MLflow production aliases once Argo CD runs them"
    )
    sync.add_argument("--revision", help="the merged commit (default: HEAD)")
    sync.add_argument("--timeout", type=float, default=900, help="seconds to wait per model")
    sync.add_argument("--interval", type=float, default=10, help="seconds between polls")

    commands.add_parser(
        "template-check", help="the template version this repo is at, and the newest one"
    )
    template = commands.add_parser(
        "template-update",
        help="apply the newest template version here (or, with --propose, as a pull request)",
    )
    template.add_argument("--cruft", default=str(CRUFT), help="cruft (make install brings it)")
    template.add_argument(
        "--propose", action="store_true",
        help="CI: on the branch template/update of a fresh clone, with one pull/merge request "
        "(TEMPLATE_UPDATE_TOKEN)",
    )  # fmt: skip
    template.add_argument("--repo-url", help="this repo's git URL (default: from CI's variables)")
    template.add_argument("--repository", help="OWNER/NAME (default: from CI's variables)")
    template.add_argument("--api-url", help="the forge's API root (default: from CI's variables)")
    return parser


COMMANDS = {
    "validate": cmd_validate,
    "apps": cmd_apps,
    "policy": cmd_policy,
    "versions": cmd_versions,
    "check-change": cmd_check_change,
    "render-charts": cmd_render_charts,
    "diff": cmd_diff,
    "comment": cmd_comment,
    "sync-registry": cmd_sync_registry,
    "template-check": cmd_template_check,
    "template-update": cmd_template_update,
}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.root = args.root.resolve()
    try:
        return COMMANDS[args.command](args)
    except (PlatformError, TemplateError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
