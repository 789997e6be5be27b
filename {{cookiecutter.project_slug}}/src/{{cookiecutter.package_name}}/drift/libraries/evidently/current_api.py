"""The detector's tests through Evidently's current API: a Report of one ValueDrift per feature.

Evidently 0.7's ValueDrift runs the statistical tests of `evidently.legacy` that
`detector.py` calls (same name, same p-value), then draws a plot of each feature on every
run. The drift service tests a window every few hundred rows, so it calls the tests without
the Report: per 200-row window the Report took 348 ms against the tests' 9 ms (39x; at most
about 600 rows/s, where the service sustains 9,000 to 13,500; `make bench-drift` prints
both). The tests check that both give the same p-values, so an Evidently upgrade that
changes either shows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from evidently import DataDefinition, Dataset, Report
from evidently.metrics import ValueDrift


def p_values(reference: np.ndarray, window: np.ndarray, names: list[str], methods: list[str],
             categorical: list[str]) -> list[float]:  # fmt: skip
    """Each feature's drift score (the test's p-value) from a Report of ValueDrift."""
    numerical = [name for name in names if name not in categorical]
    definition = DataDefinition(numerical_columns=numerical, categorical_columns=categorical)
    report = Report([ValueDrift(column=name, method=method)
                     for name, method in zip(names, methods, strict=True)])  # fmt: skip
    snapshot = report.run(
        Dataset.from_pandas(pd.DataFrame(window, columns=names), data_definition=definition),
        Dataset.from_pandas(pd.DataFrame(reference, columns=names), data_definition=definition),
    )
    return [float(metric["value"]) for metric in snapshot.dict()["metrics"]]
