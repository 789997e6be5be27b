"""Servers as processes: a free port, a readiness check with a deadline, a server in its own
process group writing to a log file, and stopping that group (SIGTERM, then SIGKILL).

Standard library only: the generation hook imports local_stack.py, which imports this.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# This venv's bin/: its commands are found even when it is not on PATH (and `make tools`
# links the tools no Python package ships into it).
BIN = Path(sys.executable).parent
LOG_TAIL = 3000  # characters of a server's log shown when it fails


class StackError(RuntimeError):
    """A server did not start or cannot: the message names it and shows its log."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http_ok(url: str, headers: dict[str, str] | None = None) -> bool:
    try:
        request = urllib.request.Request(url, headers=headers or {})
        with urllib.request.urlopen(request, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def tcp_open(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
        return True
    return False


def executable(name: str, *alternatives: str) -> str:
    """A command from this venv, else from PATH; a clear error naming how to get it."""
    for candidate in (name, *alternatives):
        beside = BIN / candidate
        if beside.exists():
            return str(beside)
        found = shutil.which(candidate)
        if found:
            return found
    raise StackError(f"{name} is not installed: run `make install` (or use compose.yaml)")


def group_alive(pid: int) -> bool:
    """Whether any process of the group `pid` leads still exists."""
    try:
        os.killpg(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def stop(target: subprocess.Popen | int, timeout: float = 15) -> bool:
    """SIGTERM the process group `target` leads, SIGKILL it if any of it is left after
    `timeout`; False if the group was gone already.

    The whole group: a server's workers (a model server's gRPC process, MLflow's and
    Prefect's uvicorn) would otherwise outlive it and keep its port.
    """
    pid = target if isinstance(target, int) else target.pid
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        _reap(target)
        return False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _reap(target)  # a child of ours stays a zombie in its group until reaped
        if not group_alive(pid):
            return True
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while group_alive(pid) and time.monotonic() < deadline:
        _reap(target)
        time.sleep(0.05)
    return True


def _reap(target: subprocess.Popen | int) -> None:
    if isinstance(target, subprocess.Popen):
        target.poll()
    else:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(target, os.WNOHANG)


@dataclass
class Service:
    """A server: its command, its readiness check, and how long it may take to pass it."""

    name: str
    command: list[str]
    ready: str  # "http://..." answering 200, or "tcp:<port>" accepting connections
    url: str = ""  # where it is reached (what a person opens)
    env: dict[str, str] = field(default_factory=dict)  # over the environment it starts in
    timeout: float = 180
    needs: tuple[str, ...] = ()  # (in a stack) services that must be ready before this one
    ready_headers: dict[str, str] = field(default_factory=dict)  # e.g. the API's credentials

    def is_ready(self) -> bool:
        if self.ready.startswith("tcp:"):
            return tcp_open(int(self.ready.removeprefix("tcp:")))
        return http_ok(self.ready, self.ready_headers)

    def start(self, log_path: Path, env: dict[str, str] | None = None, **popen: Any) -> Started:
        """Start it in its own process group, appending its output to `log_path`; `env`
        (default: this process's environment) under the service's own variables."""
        environment = {**(os.environ if env is None else env), **self.env}
        with log_path.open("a") as log:
            process = subprocess.Popen(
                self.command, env=environment, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True, **popen,
            )  # fmt: skip
        return Started(self, process, log_path)

    def run(self, log_path: Path, env: dict[str, str] | None = None, **popen: Any) -> Started:
        """Start it and return once it is ready; if it is not, stop it and raise StackError."""
        started = self.start(log_path, env, **popen)
        try:
            return started.wait_ready()
        except BaseException:
            started.stop()
            raise


@dataclass
class Started:
    """A running service: its process (leading its own group) and its log."""

    service: Service
    process: subprocess.Popen
    log_path: Path
    since: float = field(default_factory=time.monotonic)

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def url(self) -> str:
        return self.service.url

    def ready(self) -> bool:
        return self.service.is_ready()

    def failure(self, what: str) -> StackError:
        tail = self.log_path.read_text(errors="replace")[-LOG_TAIL:]
        return StackError(f"{self.service.name} {what}; its log ({self.log_path}):\n{tail}")

    def check(self) -> bool:
        """Ready (True), still starting (False), or dead or late (StackError)."""
        if self.process.poll() is not None:
            raise self.failure(f"exited with {self.process.returncode} before it was ready")
        if self.ready():
            return True
        if time.monotonic() - self.since > self.service.timeout:
            raise self.failure(f"was not ready within {self.service.timeout:.0f} s")
        return False

    def wait_ready(self) -> Started:
        while not self.check():
            time.sleep(0.2)
        return self

    def stop(self, timeout: float = 15) -> bool:
        return stop(self.process, timeout)
