"""Re-resolve the generated repo's requirements.lock after changing its pyproject.toml.

Bakes the template with every optional extra included, resolves it with uv exactly as the
generated `make lock` does, and writes the result back into the template.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from cookiecutter.main import cookiecutter

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE_LOCK = ROOT / "{{cookiecutter.project_slug}}" / "requirements.lock"
HEADER = (
    "# Every package pinned, resolved with: make lock (uv pip compile --universal).\n"
    "# Used as constraints by make install and the Dockerfiles: add dependencies to\n"
    "# pyproject.toml, then run make lock.\n"
)


def main() -> int:
    uv = shutil.which("uv") or str(Path(sys.executable).with_name("uv"))
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(cookiecutter(str(ROOT), no_input=True, output_dir=tmp,
                                 extra_context={"include_drift_detection": True}))  # fmt: skip
        resolved = subprocess.run(
            [uv, "pip", "compile", "--quiet", "--universal", "--python-version", "3.12",
             "--all-extras", "--no-header", "pyproject.toml"],
            cwd=repo, capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
    TEMPLATE_LOCK.write_text(HEADER + resolved)
    print(f"wrote {TEMPLATE_LOCK} ({resolved.count('==')} pins)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
