"""Every valid combination of options is baked once per test session and shared."""

from __future__ import annotations

import pytest

from .baking import COMBINATIONS, bake, combination_id


@pytest.fixture(scope="session", params=COMBINATIONS, ids=map(combination_id, COMBINATIONS))
def baked(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """(answers, path) of one bake per valid combination, shared by every check."""
    combination = request.param
    return combination, bake(tmp_path_factory.mktemp("bake"), **combination)
