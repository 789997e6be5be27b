"""The real validators, called as fast as they run: check-jsonschema in this process (its own
command line, without an interpreter start per file), actionlint as its binary."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent


def check_jsonschema(builtin_schema: str, path: Path) -> tuple[int, str]:
    """`check-jsonschema --builtin-schema SCHEMA PATH`: (exit code, output)."""
    from check_jsonschema.cli.main_command import main
    from click.testing import CliRunner

    result = CliRunner().invoke(main, ["--builtin-schema", builtin_schema, os.fspath(path)])
    return result.exit_code, result.output


def actionlint(path: Path) -> tuple[int, str]:
    result = subprocess.run([str(BIN / "actionlint"), "-no-color", os.fspath(path)],
                            capture_output=True, text=True, check=False)  # fmt: skip
    return result.returncode, result.stdout + result.stderr
