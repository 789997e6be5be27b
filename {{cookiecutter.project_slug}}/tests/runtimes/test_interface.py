"""The runtime this repo serves with offers the whole ServingRuntime interface."""

from __future__ import annotations

import inspect
import time
import typing
from importlib import import_module

import pytest

from {{ cookiecutter.package_name }}.runtimes import ServingRuntime, protocol
from {{ cookiecutter.package_name }}.settings import SERVING_RUNTIME
from {{ cookiecutter.package_name }}.validation import InvalidInput


def test_the_runtime_directory_is_the_one_the_settings_name():
    assert protocol.__name__.endswith(f".runtimes.{SERVING_RUNTIME}.protocol")


def test_every_name_of_the_interface_exists_with_its_signature():
    assert isinstance(protocol, ServingRuntime)  # every attribute and function is there
    for name, declared in vars(ServingRuntime).items():
        if name.startswith("_") or not inspect.isfunction(declared):
            continue
        wanted = list(inspect.signature(declared).parameters)[1:]  # without self
        offered = list(inspect.signature(getattr(protocol, name)).parameters)
        assert offered == wanted, f"{name}{tuple(offered)}: the interface says {tuple(wanted)}"
    for name in typing.get_type_hints(ServingRuntime, include_extras=False):
        assert hasattr(protocol, name), name


def test_the_declared_facts_are_usable():
    assert set(protocol.PORTS) == {"http", "grpc", "metrics"}
    for variable, default in protocol.PORTS.values():
        assert variable.isupper() and 0 < default < 65536
    assert "replace" in protocol.ROLLOUT_STRATEGIES
    for path in (protocol.PREDICT_PATH, protocol.READY_PATH, protocol.LIVE_PATH):
        assert path.startswith("/")
    body = protocol.request_body([[1.0, 2.0]], ["a", "b"], request_id="r-1")
    rows, names, _ = protocol.decode(body)
    assert [list(map(float, row)) for row in rows] == [[1.0, 2.0]] and names in (["a", "b"], None)


def test_the_decoder_refuses_a_declared_shape_before_allocating_it():
    clients = import_module(f".{SERVING_RUNTIME}.clients", __package__)
    for rows in (10_000_000, 100_000_000):
        started = time.perf_counter()
        with pytest.raises(InvalidInput, match=f"{rows} rows"):
            protocol.decode(clients.empty_rows_request(rows))
        assert time.perf_counter() - started < 0.05


@pytest.mark.skipif(protocol.ROLLOUT_STRATEGIES == ("replace",), reason="it only replaces")
def test_a_runtime_that_rolls_out_offers_the_whole_rollout_interface():
    from {{ cookiecutter.package_name }}.delivery.rollout import RuntimeRollout, runtime_rollout

    module = runtime_rollout()
    assert module.__name__.endswith(f".runtimes.{SERVING_RUNTIME}.rollout")
    assert isinstance(module, RuntimeRollout)
    for name, declared in vars(RuntimeRollout).items():
        if name.startswith("_") or not inspect.isfunction(declared):
            continue
        wanted = list(inspect.signature(declared).parameters)[1:]  # without self
        offered = list(inspect.signature(getattr(module, name)).parameters)
        assert offered == wanted, f"{name}{tuple(offered)}: the interface says {tuple(wanted)}"
