"""Alibi Detect 0.13 as the drift library: its numpy-only detectors.

Licence: alibi-detect is under the Business Source License 1.1 from 0.12 on: production use
needs a commercial licence from its publisher (0.11.4, the last Apache-2.0 release, does not run on
Python 3.12 with the rest of this repo).

Each kind is the Alibi Detect detector of the same test (`detector.DETECTORS`); a fitted
detector is saved with Alibi Detect's `save_detector` (its config.toml and the reference
sample, no pickle) and loaded with `load_detector`. MMDDrift and LSDDDrift need PyTorch or
TensorFlow and are not offered: the numpy-only detectors keep the images small.

Import cost: importing Alibi Detect takes seconds (3 to 6 s measured on two cores: it imports
transformers). `detector.py` imports it at module import, so the drift service pays it while
loading the detector, before the first window.
"""

import os

# The neutral kinds of config.KINDS this library offers.
KINDS = ("tabular", "ks", "cvm", "chi2")

# Alibi Detect imports transformers, which announces at import that it found no deep-learning
# framework; the detectors used here need none.
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
