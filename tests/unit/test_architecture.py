"""What may import what, read from the source (AST), never by importing it: no framework is needed.

The rules (docs/architecture.md, "What may import what"): no import cycle among crosscheck's modules; no
command package imports another; the worker server names no command; the implementation packages import
nothing of crosscheck but the framework-free leaf modules listed in IMPL_MAY_IMPORT (so no backend); the backends
(crosscheck/backends/) import no command package.
"""

from __future__ import annotations

import ast
import sys
import types
from pathlib import Path

import pytest

from crosscheck import backends

ROOT = Path(__file__).resolve().parents[2]
COMMAND_PACKAGES = ("convert", "export", "inspect", "predict", "doctor", "train_step", "verify", "run")
IMPL_PACKAGES = tuple(dict.fromkeys(backend.impl_package for backend in backends.records().values()))  # no framework
IMPL_MAY_IMPORT = ("crosscheck.spec", "crosscheck.pdparams")  # framework-free, and import nothing of crosscheck
WORKER_SERVER = "crosscheck.worker.server"
BACKENDS = "crosscheck.backends"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def sources(*packages: str) -> dict[str, str]:
    """{module name: source} of every .py file in `packages` (directories under the repository root)."""
    return {module_name(path): path.read_text() for package in packages for path in sorted((ROOT / package).rglob("*.py"))}


def is_type_checking(node: ast.If) -> bool:
    return isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING" or \
        isinstance(node.test, ast.Attribute) and node.test.attr == "TYPE_CHECKING"


def import_nodes(tree: ast.Module, module_level: bool) -> list[ast.Import | ast.ImportFrom]:
    """Import statements of the module body (entered: if/try blocks, except `if TYPE_CHECKING:`), or with
    `module_level=False` every import anywhere, function bodies included."""
    if not module_level:
        return [node for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))]
    found, pending = [], list(tree.body)
    while pending:
        node = pending.pop(0)
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        elif isinstance(node, ast.If) and not is_type_checking(node):
            pending.extend([*node.body, *node.orelse])
        elif isinstance(node, ast.Try):
            pending.extend([*node.body, *node.orelse, *node.finalbody, *(h for handler in node.handlers for h in handler.body)])
    return found


def imports(name: str, source: str, known: set[str], module_level: bool = True) -> set[str]:
    """The modules `name` imports, resolved: `from crosscheck import spec` is crosscheck.spec when that is a module.
    Relative imports are refused: every import names its module in full, so this graph is the whole graph."""
    targets: set[str] = set()
    for node in import_nodes(ast.parse(source), module_level):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
            continue
        assert not node.level, f"{name}: relative import of {node.module or '.'}"
        base = node.module or ""
        for alias in node.names:
            targets.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base)
    return targets


def graph(modules: dict[str, str], module_level: bool = True) -> dict[str, set[str]]:
    """{module: the crosscheck / impl modules it imports}."""
    known = set(modules)
    return {name: {t for t in imports(name, source, known, module_level) if t.split(".")[0] in ("crosscheck", *IMPL_PACKAGES)}
            for name, source in modules.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """One cycle through each strongly connected group found by a depth-first search, as a module path."""
    found, state, stack = [], {}, []

    def visit(node: str) -> None:
        state[node] = "open"
        stack.append(node)
        for target in sorted(edges.get(node, ())):
            if state.get(target) == "open":
                found.append([*stack[stack.index(target):], target])
            elif target not in state:
                visit(target)
        stack.pop()
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            visit(node)
    return found


def command_package(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "crosscheck" and parts[1] in COMMAND_PACKAGES else None


@pytest.fixture(scope="module")
def modules() -> dict[str, str]:
    return sources("crosscheck", *IMPL_PACKAGES)


@pytest.fixture(scope="module")
def every_import(modules) -> dict[str, set[str]]:
    """Imports anywhere in a module, function bodies and `if TYPE_CHECKING:` included."""
    return graph(modules, module_level=False)


def test_no_import_cycle_among_crosscheck_modules(modules):
    crosscheck = {name: source for name, source in modules.items() if name.split(".")[0] == "crosscheck"}
    assert cycles(graph(crosscheck)) == []


def test_no_command_package_imports_another(every_import):
    reaches = [f"{name} -> {target}" for name, targets in every_import.items()
               for target in sorted(targets)
               if command_package(name) and command_package(target) and command_package(target) != command_package(name)]
    assert reaches == []


def test_the_worker_server_and_the_shared_core_import_no_command_package(every_import):
    """Only the CLI (crosscheck.cli, crosscheck.__main__) assembles the commands; the server finds their ops by name."""
    reaches = [f"{name} -> {target}" for name, targets in every_import.items()
               for target in sorted(targets)
               if name.startswith("crosscheck") and not command_package(name) and command_package(target)
               and name not in ("crosscheck.cli", "crosscheck.__main__")]
    assert reaches == []
    assert WORKER_SERVER in every_import and not any(command_package(t) for t in every_import[WORKER_SERVER])


def test_implementation_packages_import_only_framework_free_leaves_of_crosscheck(modules, every_import):
    reaches = [f"{name} -> {target}" for name, targets in every_import.items() if name.split(".")[0] in IMPL_PACKAGES
               for target in sorted(targets) if target.startswith("crosscheck") and target not in IMPL_MAY_IMPORT]
    assert reaches == []
    # each allowed module is a leaf: nothing of crosscheck or of the impl packages, and no framework
    for leaf in IMPL_MAY_IMPORT:
        everything = imports(leaf, modules[leaf], set(modules), module_level=False)
        assert {t for t in everything if t.split(".")[0] in ("crosscheck", *IMPL_PACKAGES)} == set(), leaf
        assert {t.split(".")[0] for t in everything} & {"torch", "tensorflow", "keras", "paddle"} == set(), leaf


def test_backends_import_no_command_package(every_import):
    """A backend is the framework's side of every command: it serves them through the worker, never reaches into one."""
    backend_modules = [name for name in every_import if name == BACKENDS or name.startswith(f"{BACKENDS}.")]
    assert len(backend_modules) > 3  # the registry, the record, and each backend's folder
    reaches = [f"{name} -> {target}" for name in backend_modules for target in sorted(every_import[name]) if command_package(target)]
    assert reaches == []


def test_the_worker_finds_each_packages_ops_module_and_every_op_name_once(monkeypatch):
    """crosscheck/worker/server.py discovers `worker_ops` modules by convention; an op offered twice is an error."""
    from crosscheck.worker import server as worker

    expected = sorted(f"crosscheck.{path.parent.name}.worker_ops" for path in (ROOT / "crosscheck").glob("*/worker_ops.py"))
    assert sorted(worker.op_modules()) == expected
    every_op = worker.Ops(worker.shared_ops.OPS, worker.op_modules()).load_all()
    assert {"load", "forward", "preprocess", "read_checkpoint", "probe", "train_step", "verify_trace"} <= set(every_op)
    clash = types.ModuleType("clashing_ops")
    clash.OPS = {"forward": every_op["load"]}
    monkeypatch.setitem(sys.modules, "clashing_ops", clash)
    with pytest.raises(RuntimeError, match="'forward' is offered by both crosscheck.worker.ops and clashing_ops"):
        worker.Ops(worker.shared_ops.OPS, ["clashing_ops"]).load_all()
