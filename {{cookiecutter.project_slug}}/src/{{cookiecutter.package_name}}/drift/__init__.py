"""Drift detection: a detector fitted at training time and versioned with the model.

- `drift.toml` and `config.py`: what to detect and how (validated before training starts).
- `detector.py`: fit, save and log the detector with the model run; load it back.
- `base.py` and `libraries/`: what every drift library offers, and this repo's library.
- `messages.py`: read request-log messages from Kafka, skipping bad ones with a reason.
- `windows.py`: collect rows into windows and track which offsets are safe to commit.
- `metrics.py`: the Prometheus metrics and the HTTP endpoint serving them.
- `service.py`: the drift service (`{{ cookiecutter.project_slug }} drift`).
"""
