"""Evidently as the drift library: each kind runs Evidently's test of that name per feature."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from {{ cookiecutter.package_name }}.data import load_dataset
from {{ cookiecutter.package_name }}.drift import detector
from {{ cookiecutter.package_name }}.drift.config import parse_config
from {{ cookiecutter.package_name }}.drift.libraries.evidently import current_api
from {{ cookiecutter.package_name }}.drift.libraries.evidently.detector import (
    REFERENCE_FILE,
    feature_tests,
)

from ...drift_process import NAMES, traffic


@pytest.fixture(scope="module")
def reference() -> np.ndarray:
    return load_dataset()[NAMES].to_numpy()


@pytest.mark.parametrize(
    ("raw", "tests"),
    [({"kind": "ks"}, ["ks"] * len(NAMES)),
     ({"kind": "cvm"}, ["cramer_von_mises"] * len(NAMES)),
     ({"kind": "chi2", "categorical_features": NAMES}, ["chisquare"] * len(NAMES)),
     ({"kind": "tabular", "categorical_features": NAMES[1:2]},
      ["ks", "chisquare"] + ["ks"] * (len(NAMES) - 2))],
)  # fmt: skip
def test_each_kind_runs_evidentlys_test_of_that_name(raw, tests):
    assert feature_tests(parse_config(raw)) == tests


@pytest.mark.parametrize(
    ("kind", "scipy_test"),
    [("ks", stats.ks_2samp), ("cvm", stats.cramervonmises_2samp)],
)
def test_numeric_kinds_agree_with_scipys_test_of_the_same_name(kind, scipy_test, reference):
    config = parse_config({"kind": kind})
    fitted = detector.fit(reference, config, seed=1)
    window = traffic(reference, 100, seed=2, shift=0.2)
    result = fitted.test(window)
    for index, name in enumerate(NAMES):
        expected = scipy_test(fitted.detector.reference[:, index],
                              window[:, index].astype(np.float32))  # fmt: skip
        assert result.p_values[name] == pytest.approx(expected.pvalue, rel=1e-6, abs=1e-12)
        assert result.statistics[name] == pytest.approx(expected.statistic, rel=1e-6)


def test_the_chi2_statistic_is_the_one_of_evidentlys_p_value(reference):
    categorical = np.floor(reference)
    config = parse_config({"kind": "chi2", "categorical_features": NAMES})
    fitted = detector.fit(categorical, config, seed=1)
    window = categorical[np.random.default_rng(3).permutation(len(categorical))[:100]]
    window[:50, 2] = 1.0
    result = fitted.test(window)
    for index, name in enumerate(NAMES):
        categories = len(np.union1d(fitted.detector.reference[:, index], window[:, index]))
        p_value = stats.chi2.sf(result.statistics[name], categories - 1)
        assert result.p_values[name] == pytest.approx(p_value, rel=1e-6, abs=1e-300)


def test_a_saved_reference_of_the_wrong_shape_is_refused(reference, tmp_path):
    fitted = detector.fit(reference, parse_config({}), seed=1)
    detector.save(fitted, tmp_path, NAMES)
    np.save(tmp_path / detector.DETECTOR_DIR / REFERENCE_FILE, np.zeros((10, 3)))
    with pytest.raises(detector.DriftDetectorError, match=r"holds \(10, 3\) values"):
        detector.load(tmp_path, NAMES)


@pytest.mark.parametrize(
    "raw",
    [{"kind": "ks"}, {"kind": "cvm"}, {"kind": "chi2", "categorical_features": NAMES},
     {"kind": "tabular", "categorical_features": NAMES[1:2]}],
    ids=["ks", "cvm", "chi2", "tabular"],
)  # fmt: skip
def test_every_kind_gives_the_p_values_of_evidentlys_current_api(raw, reference):
    """The service runs the tests Evidently's current ValueDrift runs, without the Report
    around them (which draws a plot per feature on every run): the p-values are the same."""
    config = parse_config(raw)
    categorical = list(config.categorical_features) if config.kind in ("chi2", "tabular") else []
    rows = np.floor(reference) if config.kind == "chi2" else reference
    fitted = detector.fit(rows, config, seed=1)
    window = traffic(rows, 200, seed=4, shift=0.3)
    if config.kind == "chi2":
        window = np.floor(window)
    result = fitted.test(window.astype(np.float32))
    expected = current_api.p_values(fitted.detector.reference, window.astype(np.float32),
                                    NAMES, feature_tests(config), categorical)  # fmt: skip
    assert [result.p_values[name] for name in NAMES] == pytest.approx(expected, rel=1e-9,
                                                                      abs=1e-300)  # fmt: skip
