"""Model quality against ground truth: labels that arrive after the prediction, joined to
what was served (the request log), measured per window and predictor, exported as metrics.

`messages` reads the two topics, `join` holds the pending predictions and measures, `state`
saves it all so a restart neither loses nor counts twice, `service` runs it beside the drift
service, and `metrics` exports it. The label message: `schemas/labels.schema.json`.
"""
