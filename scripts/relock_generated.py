"""Re-resolve the generated repo's locks after changing its pyproject.toml.

requirements.lock serves every option (it is used as constraints, so pins of packages a
repo does not install are harmless): a bake with drift detection, its drift extra also
naming the other drift library, resolved by the repo's own `make lock` (with this venv's
uv). requirements-serve.lock (MLServer, apart from Prefect's FastAPI) comes from a KServe
bake's `make lock`. Both are copied back into the template, the bake's name in their
`# via` lines put back as the template's variable (a repo's lock names the repo).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from cookiecutter.main import cookiecutter

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "{{cookiecutter.project_slug}}"


ALIBI_PIN = '"alibi-detect==0.13.0",'


def bake_and_lock(tmp: str, **answers) -> Path:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    repo = Path(cookiecutter(str(ROOT), no_input=True, output_dir=tmp, extra_context=answers))
    if answers.get("drift_library") == "alibi-detect":  # both libraries in one resolution
        pyproject = repo / "pyproject.toml"
        evidently = next(
            line.strip()
            for line in (TEMPLATE / "pyproject.toml").read_text().splitlines()
            if line.strip().startswith('"evidently==')
        )
        text = pyproject.read_text()
        pyproject.write_text(text.replace(ALIBI_PIN, f"{ALIBI_PIN} {evidently}"))
    subprocess.run(["make", "--silent", "lock"], cwd=repo, env=env, check=True)
    return repo


def copy_back(repo: Path, lock: str) -> None:
    text = (repo / lock).read_text()
    # uv names the project a dependency comes from: the repo's own name, whatever the bake's
    ours = "{{ cookiecutter.project_slug }} (pyproject.toml)"
    (TEMPLATE / lock).write_text(text.replace(f"{repo.name} (pyproject.toml)", ours))


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        repo = bake_and_lock(f"{tmp}/main", include_drift_detection=True,
                             drift_library="alibi-detect")  # fmt: skip
        copy_back(repo, "requirements.lock")
        repo = bake_and_lock(f"{tmp}/serve", serving_runtime="kserve")
        copy_back(repo, "requirements-serve.lock")
    for lock in ("requirements.lock", "requirements-serve.lock"):
        print(f"wrote {TEMPLATE / lock} ({(TEMPLATE / lock).read_text().count('==')} pins)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
