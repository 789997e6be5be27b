"""The copy of each answered request a shadow rollout sends to the candidate predictor.

During a shadow rollout that the operator does not mirror itself (KServe's), production's pods
get MIRROR_URL, the candidate's predict URL. Each request the server answers is queued, with
the request id it was answered under, and sent there by a few background tasks; the
candidate's answer is discarded (the candidate logs its own prediction under the same request
id, which is what `compare-predictors` and its drift service read). The copy never delays or
fails an answer: the queue is bounded, a full queue drops the copy, a slow or failing
candidate costs one of the senders' time-outs; each outcome is counted in
`model_mirrored_requests_total{outcome="sent"|"failed"|"dropped"}`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:  # the serving environment's packages: the URL check runs without them
    import aiohttp
    from mlserver.types import InferenceRequest

log = logging.getLogger(__name__)
ENV = "MIRROR_URL"
QUEUE_SIZE = 256  # requests waiting for a sender: at most this many bodies held
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
        self.queue: asyncio.Queue[tuple[InferenceRequest, str]] = asyncio.Queue(QUEUE_SIZE)
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

    def copy(self, request: InferenceRequest, request_id: str) -> None:
        """Queue a copy of `request` (answered as `request_id`); drop it if the queue is full."""
        try:
            self.queue.put_nowait((request, request_id))
        except asyncio.QueueFull:
            self.outcomes["dropped"].inc()

    async def _send_forever(self) -> None:
        import aiohttp

        assert self._session is not None
        while True:
            request, request_id = await self.queue.get()
            try:
                body = request.model_copy(update={"id": request_id})
                async with self._session.post(
                    self.url, data=body.model_dump_json(exclude_none=True)
                ) as answer:
                    await answer.read()
                    ok = answer.status < 300
            except (aiohttp.ClientError, TimeoutError, OSError) as error:
                log.debug("mirror to %s failed: %s", self.url, error)
                ok = False
            self.outcomes["sent" if ok else "failed"].inc()

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._session is not None:
            await self._session.close()
