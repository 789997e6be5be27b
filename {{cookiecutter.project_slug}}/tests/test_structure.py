"""The code's shape: delivery/ and runtimes/ import in one direction only (no cycle, within or
between them, function-level imports included), every module of the package imports, and no
test module imports another (what tests share lives in helper modules such as delivery_cli.py
and manifests.py)."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import {{ cookiecutter.package_name }}
from {{ cookiecutter.package_name }}.runtimes import protocol

PACKAGE = Path({{ cookiecutter.package_name }}.__file__).parent
TESTS = Path(__file__).parent


def module_names(root: Path, package: str) -> dict[str, Path]:
    """Dotted name -> file, for every module under `root` (the directory of `package`)."""
    names = {}
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names[".".join((package, *parts))] = path
    return names


def import_graph(root: Path, package: str) -> dict[str, set[str]]:
    """Module -> the modules of `package` it imports, anywhere in it (functions included)."""
    modules = module_names(root, package)
    graph = {}
    for name, path in modules.items():
        # The package a relative import starts from: the module's own, or itself if a package.
        here = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    parts = here.split(".")
                    base = ".".join(parts[: len(parts) - node.level + 1])
                    base = f"{base}.{node.module}" if node.module else base
                else:
                    base = node.module or ""
                # `from base import x`: x is a submodule, or a name defined in base
                found = [
                    f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base
                    for a in node.names
                ]
            else:
                continue
            targets |= {target for target in found if target in modules and target != name}
        graph[name] = targets
    return graph


def cycles(graph: dict[str, set[str]], *within: str) -> list[list[str]]:
    """The import cycles among the modules named by one of `within` or under it (strongly
    connected groups of more than one module), each sorted."""
    nodes = sorted(n for n in graph if any(n == w or n.startswith(f"{w}.") for w in within))
    edges = {n: sorted(t for t in graph[n] if t in nodes) for n in nodes}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []

    def visit(node: str) -> None:  # Tarjan's algorithm
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in edges[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in nodes:
        if node not in index:
            visit(node)
    return sorted(found)


def importers_of_tests(graph: dict[str, set[str]]) -> dict[str, list[str]]:
    """Test module -> the test modules it imports, for those that import any."""

    def is_test(module: str) -> bool:
        return module.rpartition(".")[2].startswith("test_")

    found = {module: sorted(filter(is_test, targets)) for module, targets in graph.items()}
    return {module: tests for module, tests in found.items() if is_test(module) and tests}


def test_delivery_and_runtimes_import_in_one_direction_only():
    """A runtime's rollout module imports delivery's; delivery loads it by name only."""
    name = {{ cookiecutter.package_name }}.__name__
    graph = import_graph(PACKAGE, name)
    assert f"{name}.delivery.release" in graph and f"{name}.delivery.review" in graph
    assert f"{name}.runtimes.base" in graph
    assert cycles(graph, f"{name}.delivery") == []
    assert cycles(graph, f"{name}.runtimes") == []
    assert cycles(graph, f"{name}.delivery", f"{name}.runtimes") == []


def test_the_cycle_check_sees_a_cycle_through_a_function_level_import(tmp_path):
    delivery = tmp_path / "pkg" / "delivery"
    delivery.mkdir(parents=True)
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "settings.py").write_text("NAME = 'x'\n")
    (delivery / "__init__.py").write_text("class DeliveryError(Exception): ...\n")
    (delivery / "a.py").write_text("from ..settings import NAME\nfrom .b import B\nA = 1\n")
    (delivery / "b.py").write_text("from . import DeliveryError\n\n\ndef f():\n"
                                   "    from . import a\n\n\nB = 2\n")  # fmt: skip
    (delivery / "c.py").write_text("from .a import A\n")
    runtimes = tmp_path / "pkg" / "runtimes"
    runtimes.mkdir()
    (runtimes / "__init__.py").write_text("")
    (runtimes / "r.py").write_text("from ..delivery.c import A\n")
    graph = import_graph(tmp_path / "pkg", "pkg")
    assert graph["pkg.delivery.b"] == {"pkg.delivery", "pkg.delivery.a"}
    assert graph["pkg.delivery.a"] == {"pkg.settings", "pkg.delivery.b"}
    assert cycles(graph, "pkg.delivery") == [["pkg.delivery.a", "pkg.delivery.b"]]
    assert cycles(graph, "pkg.runtimes") == []
    (delivery / "c.py").write_text("from .a import A\n\n\ndef f():\n    from ..runtimes import r\n")
    graph = import_graph(tmp_path / "pkg", "pkg")
    assert cycles(graph, "pkg.delivery", "pkg.runtimes") == [
        ["pkg.delivery.a", "pkg.delivery.b"],
        ["pkg.delivery.c", "pkg.runtimes.r"],
    ]  # the second one only between the two packages


def test_every_module_of_the_package_imports():
    name = {{ cookiecutter.package_name }}.__name__
    serving = protocol.serving_python()
    for module in module_names(PACKAGE, name):
        if module.endswith(".__main__"):  # that one runs the command line
            continue
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as error:
            # What the serving runtime needs may live in its own environment only (`make
            # install` makes it): the module must import there.
            if serving == Path(sys.executable) or (error.name or "").startswith(name):
                raise
            imported = subprocess.run([str(serving), "-c", f"import {module}"],
                                      capture_output=True, text=True, check=False)  # fmt: skip
            assert imported.returncode == 0, f"{module} in {serving}: {imported.stderr}"


def test_no_test_module_imports_another():
    graph = import_graph(TESTS, TESTS.name)
    assert f"{TESTS.name}.test_structure" in graph
    assert importers_of_tests(graph) == {}


def test_the_test_import_check_sees_a_test_importing_a_test(tmp_path):
    tests = tmp_path / "tests"
    tests.mkdir()
    (tests / "__init__.py").write_text("")
    (tests / "helpers.py").write_text("TOKEN = 't'\n")
    (tests / "test_a.py").write_text("from .helpers import TOKEN\n")
    (tests / "test_b.py").write_text("from .test_a import TOKEN\nfrom tests import helpers\n")
    graph = import_graph(tests, "tests")
    assert graph["tests.test_b"] == {"tests.test_a", "tests.helpers"}
    assert importers_of_tests(graph) == {"tests.test_b": ["tests.test_a"]}
