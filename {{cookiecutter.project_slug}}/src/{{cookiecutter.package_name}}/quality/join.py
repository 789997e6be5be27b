"""Join ground truth to the predictions it belongs to, and measure the model on the result.

Time is the request log's: the clock is the latest prediction timestamp read (event time), so
the same messages give the same figures however fast they are read, and a replay after a
restart decides exactly as the first reading did. With it:

- a prediction waits for its labels for `horizon` seconds; labelled in time, its rows join
  its predictor's window; not, it is counted `unlabelled` and forgotten;
- a label for a prediction not read yet (the two topics are read independently) waits until
  the clock passes its own time (or the clock when read, if later) by `grace` seconds: its
  prediction may still come; then it is counted `unknown_id`;
- a label for a prediction already settled is `late` (the prediction went unlabelled) or a
  `duplicate` (it was labelled: the first label counts); settled ids are remembered for one
  more horizon, after which a label for one is `unknown_id`;
- a label with another number of values than its request had rows is `wrong_width`; the
  prediction keeps waiting for a right one.

Memory is bounded: beyond `max_pending` waiting predictions the oldest is settled early as
unlabelled (`evicted` counts them), and beyond `max_pending` settled ids the oldest is
forgotten early (a label for it is then `unknown_id`).

Each predictor's labelled rows are measured in windows of `window_size` rows
(`task.quality`): the last window's figures are the exported quality.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Any

from ..tasks import task as model_task
from .messages import Label, Prediction

LABEL_OUTCOMES = ("matched", "late", "duplicate", "unknown_id", "wrong_width")
PREDICTION_OUTCOMES = ("labelled", "unlabelled")
# A snapshot from another layout is refused (state.py names the file to remove).
SNAPSHOT_FORMAT = 1


class Joiner:
    def __init__(
        self,
        output_names: Sequence[str],
        horizon: float,
        grace: float,
        window_size: int,
        max_pending: int = 1_000_000,
    ) -> None:
        self.output_names = list(output_names)
        self.horizon, self.grace, self.window_size = horizon, grace, window_size
        self.max_pending = max_pending
        self.evicted = 0
        self.clock = float("-inf")
        # request id -> (timestamp, predictor, predicted per row); expired in read order
        self.pending: dict[str, tuple[float, str, tuple]] = {}
        self._pending_order: deque[tuple[float, str]] = deque()
        # request id -> (labelled: bool, forget at): settled predictions, to tell a late or
        # duplicate label from an unknown one
        self.settled: dict[str, tuple[bool, float]] = {}
        self._settled_order: deque[str] = deque()
        # request id -> (give up at, label): labels read before their prediction
        self.waiting: dict[str, tuple[float, Label]] = {}
        self._waiting_order: deque[str] = deque()
        # predictor -> (predicted, actual) rows of its window being filled
        self.windows: dict[str, tuple[list, list]] = {}
        # predictor -> the last full window's metrics
        self.quality: dict[str, dict[str, float]] = {}
        self.window_counts: dict[str, int] = {}
        self.prediction_rows: dict[tuple[str, str], int] = {}  # (predictor, outcome) -> rows
        self.label_counts = dict.fromkeys(LABEL_OUTCOMES, 0)  # outcome -> messages
        self.duplicate_predictions = 0
        self.skipped: dict[tuple[str, str], int] = {}  # (topic, reason) -> messages

    # -- reading ----------------------------------------------------------------------------
    def add_prediction(self, prediction: Prediction) -> None:
        request_id = prediction.request_id
        if request_id in self.pending or request_id in self.settled:
            self.duplicate_predictions += 1  # the producer's retry: the first one counts
            return
        self.pending[request_id] = (
            prediction.timestamp,
            prediction.predictor,
            prediction.predicted,
        )
        self._pending_order.append((prediction.timestamp, request_id))
        if prediction.timestamp > self.clock:
            self.clock = prediction.timestamp
            self._expire()
        if len(self.pending) > self.max_pending:
            self._evict()
        waiting = self.waiting.pop(request_id, None)
        if waiting is not None:  # matched now (or late, if this prediction was already old)
            self.add_label(waiting[1])

    def add_label(self, label: Label) -> None:
        request_id = label.request_id
        if request_id in self.pending:
            self._match(request_id, label)
        elif request_id in self.settled:
            self._count("duplicate" if self.settled[request_id][0] else "late")
        elif request_id in self.waiting:
            self._count("duplicate")
        else:
            since = self.clock if label.timestamp is None else max(self.clock, label.timestamp)
            self.waiting[request_id] = (since + self.grace, label)
            self._waiting_order.append(request_id)

    def skip(self, topic: str, reason: str) -> None:
        """A message of `topic` ("requests" or "labels") that could not be used."""
        key = (topic, reason)
        self.skipped[key] = self.skipped.get(key, 0) + 1

    # -- joining ----------------------------------------------------------------------------
    def _match(self, request_id: str, label: Label) -> None:
        _, predictor, predicted = self.pending[request_id]
        if len(label.values) != len(predicted):
            self._count("wrong_width")
            return
        del self.pending[request_id]
        self._settle(request_id, labelled=True)
        self._count("matched")
        key = (predictor, "labelled")
        self.prediction_rows[key] = self.prediction_rows.get(key, 0) + len(predicted)
        window = self.windows.get(predictor)
        if window is None:
            window = self.windows[predictor] = ([], [])
        window[0].extend(predicted)
        window[1].extend(label.values)
        while len(window[0]) >= self.window_size:
            self._measure(predictor, window)

    def _measure(self, predictor: str, window: tuple[list, list]) -> None:
        size = self.window_size
        self.quality[predictor] = model_task.quality(window[0][:size], window[1][:size])
        self.window_counts[predictor] = self.window_counts.get(predictor, 0) + 1
        del window[0][:size], window[1][:size]

    def _settle(self, request_id: str, labelled: bool) -> None:
        self.settled[request_id] = (labelled, self.clock + self.horizon)
        self._settled_order.append(request_id)
        if len(self.settled) > self.max_pending:
            del self.settled[self._settled_order.popleft()]

    def _evict(self) -> None:
        """Settle the oldest waiting prediction as unlabelled: the memory bound is reached."""
        while len(self.pending) > self.max_pending:
            _, request_id = self._pending_order.popleft()
            entry = self.pending.pop(request_id, None)
            if entry is not None:
                key = (entry[1], "unlabelled")
                self.prediction_rows[key] = self.prediction_rows.get(key, 0) + len(entry[2])
                self._settle(request_id, labelled=False)
                self.evicted += 1

    def _count(self, outcome: str) -> None:
        self.label_counts[outcome] += 1

    def _expire(self) -> None:
        """Settle what the clock has passed: predictions as unlabelled, waiting labels as
        unknown, settled ids as forgotten (each queue is in read order: its head first)."""
        clock, order = self.clock, self._pending_order
        while order and order[0][0] < clock - self.horizon:
            _, request_id = order.popleft()
            entry = self.pending.pop(request_id, None)
            if entry is not None:  # else it was labelled meanwhile
                key = (entry[1], "unlabelled")
                self.prediction_rows[key] = self.prediction_rows.get(key, 0) + len(entry[2])
                self._settle(request_id, labelled=False)
        waiting = self._waiting_order
        while waiting and (waiting[0] not in self.waiting or self.waiting[waiting[0]][0] < clock):
            request_id = waiting.popleft()
            if self.waiting.pop(request_id, None) is not None:
                self._count("unknown_id")
        settled = self._settled_order
        while settled and self.settled[settled[0]][1] < clock:
            del self.settled[settled.popleft()]

    # -- saving -----------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """Everything, as JSON-ready data (state.py writes it with the consumer's positions)."""
        pending = self.pending
        return {
            "format": SNAPSHOT_FORMAT,
            "output_names": self.output_names,
            "clock": None if self.clock == float("-inf") else self.clock,
            "pending": [
                [i, *pending[i][:2], list(pending[i][2])]
                for _, i in self._pending_order
                if i in pending
            ],
            "settled": [[i, *self.settled[i]] for i in self._settled_order],
            "waiting": [
                [
                    i,
                    self.waiting[i][0],
                    list(self.waiting[i][1].values),
                    self.waiting[i][1].timestamp,
                ]
                for i in self._waiting_order
                if i in self.waiting
            ],
            "windows": {p: [list(w[0]), list(w[1])] for p, w in self.windows.items()},
            "quality": self.quality,
            "window_counts": self.window_counts,
            "prediction_rows": [[*key, rows] for key, rows in self.prediction_rows.items()],
            "label_counts": self.label_counts,
            "duplicate_predictions": self.duplicate_predictions,
            "evicted": self.evicted,
            "skipped": [[*key, count] for key, count in self.skipped.items()],
        }

    def restore(self, snapshot: dict[str, Any]) -> None:
        """The state `snapshot()` gave (KeyError/ValueError/TypeError if it is not one)."""
        if snapshot["format"] != SNAPSHOT_FORMAT:
            raise ValueError(f"format {snapshot['format']!r}, expected {SNAPSHOT_FORMAT}")
        if snapshot["output_names"] != self.output_names:
            raise ValueError("it holds predictions of other outputs")
        self.clock = float("-inf") if snapshot["clock"] is None else float(snapshot["clock"])
        for request_id, stamp, predictor, predicted in snapshot["pending"]:
            self.pending[request_id] = (float(stamp), predictor, tuple(predicted))
            self._pending_order.append((float(stamp), request_id))
        for request_id, labelled, forget_at in snapshot["settled"]:
            self.settled[request_id] = (bool(labelled), float(forget_at))
            self._settled_order.append(request_id)
        for request_id, give_up_at, values, stamp in snapshot["waiting"]:
            self.waiting[request_id] = (float(give_up_at), Label(request_id, tuple(values), stamp))
            self._waiting_order.append(request_id)
        self.windows = {p: (list(w[0]), list(w[1])) for p, w in snapshot["windows"].items()}
        self.quality = {
            p: {m: float(v) for m, v in q.items()} for p, q in snapshot["quality"].items()
        }
        self.window_counts = {p: int(n) for p, n in snapshot["window_counts"].items()}
        self.prediction_rows = {(p, o): int(n) for p, o, n in snapshot["prediction_rows"]}
        self.label_counts = {o: int(snapshot["label_counts"].get(o, 0)) for o in LABEL_OUTCOMES}
        self.duplicate_predictions = int(snapshot["duplicate_predictions"])
        self.evicted = int(snapshot["evicted"])
        self.skipped = {(topic, reason): int(n) for topic, reason, n in snapshot["skipped"]}
