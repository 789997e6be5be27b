"""Evidently 0.7's statistical tests as the drift library.

Licence: Apache-2.0 (its dependencies: statsmodels, msgspec BSD-3; plotly, litestar MIT;
nltk Apache-2.0, ...).

Each kind runs Evidently's test of the same name, per watched feature (`detector.TESTS`):
ks -> `ks` (Kolmogorov-Smirnov), cvm -> `cramer_von_mises`, chi2 -> `chisquare`, and tabular
-> `chisquare` for the categorical features and `ks` for the others. The tests are the ones
Evidently's current API runs (its ValueDrift metric calls them from `evidently.legacy`),
called without the Report around them: `current_api.py` says why, and the tests check both
give the same p-values. "Fitting" keeps a
reproducible sample of the training rows, saved as `reference.npy` (no pickle). Evidently
reports p-values only: the statistic of the same test comes from SciPy, for the per-feature
statistic panel.

Import cost: importing Evidently takes several seconds (7 to 20 s measured on two busy
cores). `detector.py` imports it at module import, so the drift service pays it while
loading the detector, before the first window.
"""

# The neutral kinds of config.KINDS this library offers.
KINDS = ("tabular", "ks", "cvm", "chi2")
