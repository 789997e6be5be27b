"""The real model server bounds what a request may cost, over REST and gRPC alike.

A tensor's declared shape is checked before anything of that shape is allocated, a body over
the limit is refused before it is read (413 naming the limit), and a bad request over gRPC is
INVALID_ARGUMENT with the words REST answers it with.
"""

from __future__ import annotations

import http.client
import time
from importlib import import_module
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from {{ cookiecutter.package_name }}.data import sample_rows
from {{ cookiecutter.package_name }}.devstack.processes import tcp_open
from {{ cookiecutter.package_name }}.runtimes import protocol
from {{ cookiecutter.package_name }}.settings import SERVING_RUNTIME
from {{ cookiecutter.package_name }}.validation import MAX_REQUEST_BYTES

from ..probes import post

pytestmark = pytest.mark.slow
clients = import_module(f".{SERVING_RUNTIME}.clients", __package__)
GOOD_ROWS = sample_rows(1).to_numpy().tolist()
PAGE = 4096


def session_rss_bytes(leader: int) -> int:
    """Resident memory of every process in the server's session (its workers included)."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[3]) != leader:
                continue
            total += int((stat.parent / "statm").read_text().split()[1]) * PAGE
        except (OSError, IndexError, ValueError):  # the process has gone
            continue
    return total


def predict_url(server) -> str:
    return server.http + protocol.PREDICT_PATH


@pytest.mark.parametrize("rows", [10_000_000, 100_000_000])
def test_a_tiny_request_declaring_millions_of_empty_rows_is_refused_at_once(model_server, rows):
    body = clients.empty_rows_request(rows)
    assert len(str(body)) < 100
    assert post(predict_url(model_server), protocol.request_body(GOOD_ROWS))[0] == 200
    post(predict_url(model_server), clients.empty_rows_request(20_000))  # warm the error path
    before = session_rss_bytes(model_server.pid)
    took = []
    for _ in range(3):
        started = time.perf_counter()
        status, answer = post(predict_url(model_server), body)
        took.append(time.perf_counter() - started)
        assert status == 400, answer
        assert f"{rows} rows" in protocol.error_message(answer)
    grown = session_rss_bytes(model_server.pid) - before
    assert min(took) < 0.05, f"{min(took) * 1000:.0f} ms at best"  # before: 4.7 s and 725 MB
    assert grown < 20 * 2**20, f"the server grew by {grown / 2**20:.0f} MB"


def _post_raw(url: str, size: int, chunked: bool) -> tuple[int, str]:
    """POST `size` bytes (with a Content-Length, or chunked without one); the answer, read even
    when the server answered before taking the whole body."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    connection.putrequest("POST", parts.path)
    connection.putheader("Content-Type", "application/json")
    if chunked:
        connection.putheader("Transfer-Encoding", "chunked")
    else:
        connection.putheader("Content-Length", str(size))
    connection.endheaders()
    piece = b" " * 2**20
    try:
        for _ in range(size // len(piece)):
            connection.send(f"{len(piece):x}\r\n".encode() + piece + b"\r\n" if chunked else piece)
        if chunked:
            connection.send(b"0\r\n\r\n")
    except (BrokenPipeError, ConnectionResetError):  # it stopped reading: the answer is there
        pass
    try:
        response = connection.getresponse()
        return response.status, response.read().decode(errors="replace")
    finally:
        connection.close()


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_body_over_the_limit_gets_413_naming_the_limit(model_server, chunked):
    before = session_rss_bytes(model_server.pid)
    status, answer = _post_raw(predict_url(model_server), 50 * 2**20, chunked)
    assert status == 413, answer
    assert f"limit of {MAX_REQUEST_BYTES} bytes" in answer
    if not chunked:
        assert f"of {50 * 2**20} bytes" in answer  # the size it declared
    grown = session_rss_bytes(model_server.pid) - before
    assert grown < 2 * MAX_REQUEST_BYTES + 20 * 2**20, f"grew by {grown / 2**20:.0f} MB"
    assert post(predict_url(model_server), protocol.request_body(GOOD_ROWS))[0] == 200


BAD_REQUESTS = {
    "ten million empty rows": clients.empty_rows_request(10_000_000),
    "a missing feature": protocol.request_body([GOOD_ROWS[0][:-1]]),
    "a value beyond range": protocol.request_body([[1e300, *GOOD_ROWS[0][1:]]]),
}


def wait_for_grpc(server) -> None:
    deadline = time.monotonic() + 60  # a runtime's gRPC server may bind after HTTP is ready
    while not tcp_open(server.grpc_port):
        assert time.monotonic() < deadline, f"gRPC port {server.grpc_port} never opened"
        time.sleep(0.2)


@pytest.mark.parametrize("case", sorted(BAD_REQUESTS))
def test_a_bad_request_over_grpc_is_invalid_argument_with_the_rest_message(model_server, case):
    wait_for_grpc(model_server)
    status, answer = post(predict_url(model_server), BAD_REQUESTS[case])
    assert status == 400, answer
    code, details = clients.grpc_answer(model_server.grpc_port, BAD_REQUESTS[case])
    assert (code, details) == ("INVALID_ARGUMENT", protocol.error_message(answer))


def test_grpc_answers_a_good_request_and_refuses_a_message_over_the_limit(model_server):
    wait_for_grpc(model_server)
    assert clients.grpc_answer(model_server.grpc_port, protocol.request_body(GOOD_ROWS)) == (
        "OK", "",
    )  # fmt: skip
    rows = MAX_REQUEST_BYTES // (8 * len(GOOD_ROWS[0])) + 1000  # 8-byte doubles: over the limit
    code, details = clients.grpc_answer(model_server.grpc_port,
                                        protocol.request_body(GOOD_ROWS * rows))  # fmt: skip
    assert code == "RESOURCE_EXHAUSTED", details
