"""The bound MLServer leaves to the model: the size of a request body.

MLServer reads a REST body whole, decompresses a gzip one whole, and parses it before the
model sees it. `bound_request_bodies()` (called by the model's `load()`, in the server process)
makes MLServer's request class refuse a body over `MAX_REQUEST_BYTES` with a 413 naming the
limit: from its Content-Length before anything is read, else as soon as the body read (or
decompressed) passes the limit. gRPC messages have gRPC's own limit, set to the same number of
bytes (`protocol.server_command`).
"""

from __future__ import annotations

import zlib

from mlserver.rest import requests as mlserver_requests
from starlette.exceptions import HTTPException

from ...validation import MAX_REQUEST_BYTES, too_large_message


def _too_large(size: int | None) -> HTTPException:
    # FastAPI passes an HTTPException raised while reading a body on as it is (any other
    # error would become its 400 "There was an error parsing the body").
    return HTTPException(status_code=413, detail=too_large_message(size))


def _gunzip(body: bytes) -> bytes:
    inflate = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)  # the gzip container
    try:
        data = inflate.decompress(body, MAX_REQUEST_BYTES + 1)
    except zlib.error as error:
        raise HTTPException(status_code=400, detail=f"the gzip body is corrupt: {error}") from None
    if len(data) > MAX_REQUEST_BYTES or inflate.unconsumed_tail:
        raise _too_large(None)
    return data


async def bounded_body(self: mlserver_requests.Request) -> bytes:
    """MLServer's `Request.body`, reading at most MAX_REQUEST_BYTES."""
    if not hasattr(self, "_body"):
        declared = self.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_REQUEST_BYTES:
            raise _too_large(int(declared))
        chunks, size = [], 0
        async for chunk in self.stream():
            size += len(chunk)
            if size > MAX_REQUEST_BYTES:
                raise _too_large(None)
            chunks.append(chunk)
        body = b"".join(chunks)
        if "gzip" in self.headers.getlist("Content-Encoding"):
            body = _gunzip(body)
        self._body = body
    return self._body


def bound_request_bodies() -> None:
    mlserver_requests.Request.body = bounded_body
