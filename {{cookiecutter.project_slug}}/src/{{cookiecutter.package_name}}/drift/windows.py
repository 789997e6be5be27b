"""Windows of rows, and which Kafka offsets are safe to commit (at-least-once).

Rows are tested in windows of a fixed size; a message's rows may span two windows. An offset
is committable only when every message before it on its partition has been fully tested (or
skipped): after a crash or restart the consumer resumes there, so no row is ever lost, and
at most one partly tested message is tested again.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np


@dataclass
class _Pending:
    partition: int
    offset: int
    untested_rows: int


class WindowBuffer:
    """Rows are kept as the lists JSON gave (one array per window, not one per message)."""

    def __init__(self, window_size: int) -> None:
        self.window_size = window_size
        self._messages: deque[_Pending] = deque()
        self._rows: list[list[float]] = []
        self._committable: dict[int, int] = {}

    @property
    def pending_rows(self) -> int:
        return len(self._rows)

    def add(self, partition: int, offset: int, rows: list[list[float]] | None = None) -> None:
        """Record a consumed message: its rows, or none for a skipped message."""
        self._messages.append(_Pending(partition, offset, len(rows) if rows else 0))
        if rows:
            self._rows.extend(rows)
        self._settle()

    def full(self) -> bool:
        return len(self._rows) >= self.window_size

    def take_window(self) -> np.ndarray:
        """The next `window_size` rows, oldest first; their messages count as tested."""
        if not self.full():
            raise ValueError(f"only {len(self._rows)} of {self.window_size} rows buffered")
        window = np.array(self._rows[: self.window_size], dtype=np.float64)
        del self._rows[: self.window_size]
        remaining = self.window_size
        for message in self._messages:
            if not remaining:
                break
            tested = min(message.untested_rows, remaining)
            message.untested_rows -= tested
            remaining -= tested
        self._settle()
        return window

    def _settle(self) -> None:
        while self._messages and self._messages[0].untested_rows == 0:
            message = self._messages.popleft()
            self._committable[message.partition] = message.offset + 1

    def committable(self) -> dict[int, int]:
        """Next offset to commit per partition (everything before it is fully handled)."""
        return dict(self._committable)

    def clear(self) -> None:
        """Forget everything uncommitted (partitions were revoked: they will be re-read)."""
        self._messages.clear()
        self._rows.clear()
        self._committable.clear()
