"""Baking: the template's options, their valid combinations, and one bake call."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import jinja2
from cookiecutter.environment import StrictEnvironment
from cookiecutter.main import cookiecutter

ROOT = Path(__file__).resolve().parents[1]
DEFAULTS = json.loads((ROOT / "cookiecutter.json").read_text())

# The one description of the choice and yes/no options: their values and the files each value
# brings (the hooks read the same table). A combination is one dict of their values.
OPTIONS: dict[str, dict[str, list[str]]] = DEFAULTS["_options"]
CHOICE_OPTIONS = {
    option: [json.loads(v) if v in ("true", "false") else v for v in values]
    for option, values in OPTIONS.items()
}


# A task other than the default meets every runtime, every drift library and no drift, in
# four bakes (runtime, drift detection, drift library); the CI provider and tuning do not
# depend on the task: GitHub, tuning on (its search space).
OTHER_TASK_BAKES = {
    ("seldon-core", True, "alibi-detect"),
    ("kserve", True, "evidently"),
    ("seldon-core-mlserver", True, "alibi-detect"),
    ("seldon-core-mlserver", False, "alibi-detect"),
}


def _worth_baking(combination: dict) -> bool:
    """The drift library means nothing without drift detection: those bakes are identical."""
    if not combination["include_drift_detection"] and (
        combination["drift_library"] != DEFAULTS["drift_library"][0]
    ):
        return False
    if combination["task"] != DEFAULTS["task"][0]:
        chosen = tuple(combination[o] for o in ("serving_runtime", "include_drift_detection",
                                                "drift_library"))  # fmt: skip
        return (chosen in OTHER_TASK_BAKES and combination["hyperparameter_tuning"]
                and combination["ci_provider"] == DEFAULTS["ci_provider"][0])  # fmt: skip
    return True


COMBINATIONS = [
    combination
    for values in itertools.product(*CHOICE_OPTIONS.values())
    if _worth_baking(combination := dict(zip(CHOICE_OPTIONS, values, strict=True)))
]


def combination_id(combination: dict) -> str:
    return "-".join(
        (f"{k}={v}" if not isinstance(v, bool) else (k if v else f"no-{k}"))
        for k, v in combination.items()
    )


class _CompiledTemplates(jinja2.BytecodeCache):
    """Jinja's compiled code of each template file, kept for the next bake in this process.

    Compiling the template's files is most of a bake (each bake makes a new environment, so
    Jinja's own cache starts empty every time). The code is kept under the file's name and
    path and checked against its source by Jinja: an edited file is compiled again. Rendering
    is unchanged: every bake renders every file with its own answers."""

    def __init__(self) -> None:
        self.codes: dict[str, bytes] = {}

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        code = self.codes.get(bucket.key)
        if code is not None:
            bucket.bytecode_from_string(code)

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        self.codes[bucket.key] = bucket.bytecode_to_string()


_COMPILED = _CompiledTemplates()
_environment_init = StrictEnvironment.__init__


def _with_compiled_templates(self: StrictEnvironment, **kwargs: object) -> None:
    _environment_init(self, **kwargs)
    self.bytecode_cache = _COMPILED


StrictEnvironment.__init__ = _with_compiled_templates  # every bake of the test session


def bake(output_dir: Path, **answers: object) -> Path:
    """Generate a repo with the given answers (defaults for the rest); return its path."""
    return Path(
        cookiecutter(str(ROOT), no_input=True, extra_context=answers, output_dir=str(output_dir))
    )


PLATFORM = ROOT / "platform"
PLATFORM_DEFAULTS = json.loads((PLATFORM / "cookiecutter.json").read_text())


def bake_platform(output_dir: Path, **answers: object) -> Path:
    """Generate the platform repo (`cookiecutter ... --directory platform`); return its path."""
    return Path(
        cookiecutter(
            str(ROOT), directory="platform", no_input=True, extra_context=answers,
            output_dir=str(output_dir),
        )
    )  # fmt: skip
