"""Re-resolve the generated repo's requirements.lock after changing its pyproject.toml.

Bakes the template with every optional extra included, runs the generated repo's own
`make lock` there (with this venv's uv), and copies the result back into the template.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from cookiecutter.main import cookiecutter

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE_LOCK = ROOT / "{{cookiecutter.project_slug}}" / "requirements.lock"


def main() -> int:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(cookiecutter(str(ROOT), no_input=True, output_dir=tmp,
                                 extra_context={"include_drift_detection": True}))  # fmt: skip
        subprocess.run(["make", "--silent", "lock"], cwd=repo, env=env, check=True)
        shutil.copyfile(repo / "requirements.lock", TEMPLATE_LOCK)
    pins = TEMPLATE_LOCK.read_text().count("==")
    print(f"wrote {TEMPLATE_LOCK} ({pins} pins)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
