"""Alibi Detect as the drift library: each kind is its detector of that test, in its format."""

from __future__ import annotations

import numpy as np
import pytest
from alibi_detect import cd
from alibi_detect.saving import load_detector

from {{ cookiecutter.package_name }}.data import load_dataset
from {{ cookiecutter.package_name }}.drift import detector
from {{ cookiecutter.package_name }}.drift.config import parse_config

from ...drift_process import NAMES, traffic


@pytest.fixture(scope="module")
def reference() -> np.ndarray:
    return load_dataset()[NAMES].to_numpy()


@pytest.mark.parametrize(
    ("kind", "expected"),
    [("tabular", cd.TabularDrift), ("ks", cd.KSDrift), ("cvm", cd.CVMDrift),
     ("chi2", cd.ChiSquareDrift)],
)  # fmt: skip
def test_each_kind_is_the_detector_of_its_test_saved_in_alibi_detects_format(
    kind, expected, reference, tmp_path
):
    categorical = kind == "chi2"
    data = np.floor(reference) if categorical else reference
    config = parse_config({"kind": kind, "categorical_features": NAMES if categorical else []})
    fitted = detector.fit(data, config, seed=1)
    assert type(fitted.detector.detector) is expected
    assert fitted.detector.detector.p_val == config.p_value

    # Alibi Detect's own load_detector reads the saved files and gives the same p-values.
    detector.save(fitted, tmp_path, NAMES)
    own = load_detector(tmp_path / detector.DETECTOR_DIR)
    window = np.floor(traffic(reference, 100, seed=2)) if categorical else traffic(
        reference, 100, seed=2)  # fmt: skip
    p_values = own.predict(window.astype(np.float32))["data"]["p_val"]
    assert p_values.tolist() == list(fitted.test(window).p_values.values())


def test_tabular_declares_the_categorical_features_by_position(reference):
    config = parse_config({"kind": "tabular", "features": NAMES[1:],
                           "categorical_features": [NAMES[3]]})  # fmt: skip
    data = np.floor(reference)
    fitted = detector.fit(data, config, seed=1)
    # NAMES[3] is the third watched feature; its categories come from the reference sample.
    assert list(fitted.detector.detector.cat_vars) == [2]
    categories = fitted.detector.detector.x_ref_categories[2]
    assert categories == sorted(set(detector.reference_sample(data, config, 1)[:, 2].tolist()))


def test_a_broken_saved_detector_is_a_detector_error(reference, tmp_path):
    fitted = detector.fit(reference, parse_config({}), seed=1)
    detector.save(fitted, tmp_path, NAMES)
    (tmp_path / detector.DETECTOR_DIR / "config.toml").write_text('name = "KSDrift"\n')
    with pytest.raises(detector.DriftDetectorError, match="no saved detector"):
        detector.load(tmp_path, NAMES)


def test_a_pickled_detector_is_never_loaded(reference, tmp_path):
    """Given a directory with meta.dill instead of config.toml, Alibi Detect's load_detector
    would unpickle it (running its code); a config naming a pickled file is refused too."""
    config = parse_config({"kind": "tabular"})
    detector.save(detector.fit(reference, config, seed=1), tmp_path, NAMES)
    saved = tmp_path / detector.DETECTOR_DIR
    toml = (saved / "config.toml").read_text()

    (saved / "config.toml").write_text(toml + '\npreprocess_fn = "preprocess_fn.dill"\n')
    with pytest.raises(detector.DriftDetectorError, match=r"preprocess_fn\.dill: pickled objects"):
        detector.load(tmp_path, NAMES)

    (saved / "config.toml").unlink()
    (saved / "meta.dill").write_bytes(b"\x80\x04K\x01.")  # what the legacy format looks for
    with pytest.raises(detector.DriftDetectorError, match="no saved detector"):
        detector.load(tmp_path, NAMES)
