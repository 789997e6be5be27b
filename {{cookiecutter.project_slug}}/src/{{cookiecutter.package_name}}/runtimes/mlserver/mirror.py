"""The copy of each answered request a shadow rollout sends to the candidate predictor.

During a shadow rollout whose operator does not copy requests itself, production's pods
get MIRROR_URL, the candidate's predict URL. Each request the server answers is queued as the
feature matrix it decoded (8 bytes a value, in model order) with the request id it was
answered under, and a few background tasks send it there as one V2 input; the candidate's
answer is discarded (the candidate logs its own prediction under the same request id, which
is what `compare-predictors` and its drift service read). Only the features travel: none of
the caller's headers (its credentials) or parameters reach the candidate.

The copy never delays or fails an answer, and never holds much memory: the queue is bounded
by count and by the bytes of the matrices it holds (a full one drops the copy), a slow or
failing candidate costs one of the senders' time-outs; each outcome is counted in
`model_mirrored_requests_total{outcome="sent"|"failed"|"dropped"}`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:  # the serving environment's packages: the URL check runs without them
    import aiohttp
    import numpy as np

log = logging.getLogger(__name__)
ENV = "MIRROR_URL"
QUEUE_SIZE = 256  # requests waiting for a sender
QUEUE_BYTES = 32 * 1024 * 1024  # and at most this many bytes of feature matrices among them
SENDERS = 4
TIMEOUT_SECONDS = 5.0
OUTCOMES = ("sent", "failed", "dropped")


class MirrorError(ValueError):
    """MIRROR_URL is not an http URL of a predict endpoint."""


def url_from_environment() -> str | None:
    """MIRROR_URL, checked, or None when this server mirrors nothing."""
    url = os.environ.get(ENV, "").strip()
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or not parts.path.strip("/"):
        raise MirrorError(f"{ENV}={url!r}: must be the http(s) URL of the candidate's predict "
                          "endpoint")  # fmt: skip
    return url


class _Counts:
    """The outcome counter, registered once per process (MLServer may reload a model)."""

    counter: Any = None

    @classmethod
    def get(cls) -> Any:
        from prometheus_client import Counter

        if cls.counter is None:
            cls.counter = Counter(
                "model_mirrored_requests",
                "Requests copied to a shadow predictor, by outcome",
                ("model", "predictor", "outcome"),
            )
        return cls.counter


class RequestMirror:
    """Sends copies of answered requests to `url`, in the background of the server's loop."""

    def __init__(self, url: str, labels: dict[str, str]) -> None:
        self.url = url
        counter = _Counts.get()
        self.outcomes = {outcome: counter.labels(**labels, outcome=outcome) for outcome in OUTCOMES}
        self.queue: asyncio.Queue[tuple[np.ndarray, str]] = asyncio.Queue(QUEUE_SIZE)
        self.held_bytes = 0  # of the matrices queued or being sent
        self._tasks: list[asyncio.Task] = []
        self._session: aiohttp.ClientSession | None = None  # made on the server's loop

    def start(self) -> None:
        """Start the senders on the running loop (the server's: call from load())."""
        import aiohttp

        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=TIMEOUT_SECONDS),
            headers={"Content-Type": "application/json"},
        )
        self._tasks = [asyncio.create_task(self._send_forever()) for _ in range(SENDERS)]

    def copy(self, matrix: np.ndarray, request_id: str) -> None:
        """Queue a copy of the answered `matrix` (rows x features in model order) as
        `request_id`; drop it if the queue is full by count or by bytes."""
        if self.held_bytes + matrix.nbytes > QUEUE_BYTES:
            self.outcomes["dropped"].inc()
            return
        try:
            self.queue.put_nowait((matrix, request_id))
        except asyncio.QueueFull:
            self.outcomes["dropped"].inc()
            return
        self.held_bytes += matrix.nbytes

    async def _send_forever(self) -> None:
        import aiohttp

        assert self._session is not None
        while True:
            matrix, request_id = await self.queue.get()
            try:
                async with self._session.post(self.url, data=body(matrix, request_id)) as answer:
                    await answer.read()
                    ok = answer.status < 300
            except (aiohttp.ClientError, TimeoutError, OSError) as error:
                log.debug("mirror to %s failed: %s", self.url, error)
                ok = False
            except Exception:  # a sender that died would leave the queue to fill: keep going
                log.exception("mirror to %s failed unexpectedly", self.url)
                ok = False
            finally:
                self.held_bytes -= matrix.nbytes
            self.outcomes["sent" if ok else "failed"].inc()

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        # Whatever a sender ended with, closing goes on: the model is being unloaded.
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()


def body(matrix: np.ndarray, request_id: str) -> bytes:
    """The V2 request of a copy: one [rows, features] FP64 input, in model order."""
    rows, width = matrix.shape
    request = {"id": request_id, "inputs": [{
        "name": "features", "shape": [rows, width], "datatype": "FP64",
        "data": matrix.ravel().tolist(),
    }]}  # fmt: skip
    return json.dumps(request, separators=(",", ":")).encode()
