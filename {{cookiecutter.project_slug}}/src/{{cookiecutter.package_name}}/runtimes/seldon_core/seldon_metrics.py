"""Speed-ups of the channel that carries custom metrics to Seldon's metrics endpoint.

Seldon 1.19 keeps each worker's metrics in a multiprocessing manager. After every answer its
`SeldonMetrics.update` takes the manager's lock, copies this worker's metrics out, takes the
lock again and copies them back: six round trips to the manager process, about 0.5 ms, even
when the answer reported no metric at all. Each latency (a TIMER) is then added to its
histogram with `numpy.histogram` of one value and a fresh copy of the bin counts: a report of
a thousand latencies held its answer for about 6 ms. `speed_up()` (called by the model's
`load()`, in the serving worker) changes, in that process only:
- `update` with nothing to report returns at once (Seldon's would write back what it read);
- a report is read and written once, as before, but each histogram is copied once per report
  and every latency is added by bisection over Seldon's own bin edges, with the result of
  `numpy.histogram` (bins closed on the left, the last one on both sides);
- the histogram's numpy floats pickle as Python floats (multiprocessing's own reducer hook, so
  only the manager's messages change): the copies cost a third of what they did.
`tests/runtimes/seldon_core/test_seldon_metrics.py` checks that Seldon exposes the same text
either way. Seldon Core 1 has no further releases, so the names replaced here do not move.
"""

from __future__ import annotations

import bisect
import logging
from multiprocessing.reduction import ForkingPickler
from typing import Any

import numpy as np
from seldon_core import metrics as seldon_metrics
from seldon_core.metrics import SeldonMetrics

EDGES = [float(edge) for edge in seldon_metrics.BINS]
NO_OBSERVATIONS = ((0.0,) * (len(EDGES) - 1), 0)  # a histogram's bin counts and sum
logger = logging.getLogger(__name__)


def _as_python_float(value: np.float64) -> tuple:
    return float, (float(value),)


def add_observation(value: float, counts: list, total: float) -> tuple[list, float]:
    """Seldon's `SeldonMetrics._update_hist`: `value` counted in its bin (in place) and the
    new sum."""
    index = len(EDGES) - 2 if value == EDGES[-1] else bisect.bisect_right(EDGES, value) - 1
    if 0 <= index < len(counts):  # below the first edge (or NaN): counted in no bin
        counts[index] += 1
    return counts, total + value


def update(self: SeldonMetrics, custom_metrics: list[dict[str, Any]], method: str) -> None:
    """`SeldonMetrics.update`, with the same result (see the module's docstring)."""
    if not custom_metrics:
        return
    worker = self.worker_id_func()
    with self._lock:  # manager proxies are not thread-safe: Seldon locks every access
        worker_data = self.data.get(worker, {})
    histograms: dict[tuple, list] = {}  # copied out of worker_data once per report
    tag_keys: dict[tuple, str] = {}
    for metric in custom_metrics:
        # A gRPC answer's metrics come back from protobuf, which leaves out a value of 0 (and
        # the type COUNTER): absent is 0 here, where Seldon's own code raised KeyError.
        value = metric.get("value", 0)
        kind = metric.get("type", "COUNTER")
        tags = metric.get("tags", {})
        tags["method"] = method  # Seldon tags each metric with the method that reported it
        items = tuple(tags.items())
        tag_key = tag_keys.get(items)
        if tag_key is None:
            tag_key = tag_keys[items] = SeldonMetrics._generate_tags_key(tags)
        key = (kind, metric["key"], tag_key)
        if kind == "COUNTER":
            so_far = worker_data.get(key, {}).get("value", 0)
            worker_data[key] = {"value": so_far + value, "tags": tags}
        elif kind == "TIMER":
            histogram = histograms.get(key)
            if histogram is None:
                counts, total = worker_data.get(key, {}).get("value", NO_OBSERVATIONS)
                histogram = histograms[key] = [list(counts), total]
            # in milliseconds, as Seldon's TIMER takes them; the histogram is in seconds
            _, histogram[1] = add_observation(value / 1000, *histogram)
            worker_data[key] = {"value": tuple(histogram), "tags": tags}
        elif kind == "GAUGE":
            worker_data[key] = {"value": value, "tags": tags}
        else:
            logger.error("Unknown metrics type: %s", kind)
    with self._lock:
        self.data[worker] = worker_data


def speed_up() -> None:
    ForkingPickler.register(np.float64, _as_python_float)
    SeldonMetrics.update = update
