"""The estimator itself: change the model here, everything else follows."""

from __future__ import annotations

{% if cookiecutter.task == "classification" -%}
from sklearn.linear_model import LogisticRegression
{%- else -%}
from sklearn.linear_model import Ridge
{%- endif %}
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

# Types the fitted pipeline holds beyond those skops trusts itself (scikit-learn's estimators,
# numpy's arrays): none for this one. Training saves with them and the model server loads with
# them, nothing else (never a list taken from the artifact). An estimator that needs more says
# so with their names at the first training run; list them here, in review: for tree models,
# "sklearn.tree._tree.Tree" (its node indices are not bounds-checked on predict, so only
# artifacts this repo's CI trained and pinned by digest should be served).
TRUSTED_TYPES: tuple[str, ...] = ()


def build_model(seed: int) -> Pipeline:
    """An unfitted pipeline; its parameters are what tuning searches and MLflow logs. Its
    last step is the estimator (any {{ "classifier with predict_proba" if cookiecutter.task == "classification" else "regressor" }}, named `estimator`)."""
    return Pipeline(
        [
            ("scaler", StandardScaler()),
{%- if cookiecutter.task == "classification" %}
            ("estimator", LogisticRegression(max_iter=1000, random_state=seed)),
{%- else %}
            ("estimator", Ridge(alpha=1.0, random_state=seed)),
{%- endif %}
        ]
    )
