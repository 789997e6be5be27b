"""Drift detection: a detector fitted at training time and versioned with the model.

- `drift.toml` and `config.py`: what to detect and how (validated before training starts).
- `detector.py`: fit, save and log the detector with the model run; load it back.
- `messages.py`: read request-log messages from Kafka, skipping bad ones with a reason.
- `windows.py`: collect rows into windows and track which offsets are safe to commit.
- `metrics.py`: the Prometheus metrics and the HTTP endpoint serving them.
- `service.py`: the drift service (`{{ cookiecutter.project_slug }} drift`).
"""

import os

# Alibi Detect imports transformers, which announces at import that it found no deep-learning
# framework; the detectors used here need none.
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
