"""The backend records (crosscheck/backends/<name>/__init__.py) against what they name, without any framework.

Each record's fields must point at something real: its pip extra in pyproject, its naming in the spec, its
implementation package and role modules on disk, its checkpoint suffixes in the reader's formats; each role module
defines what its Protocol asks (read from the source); and the registry finds the records importing no framework.
"""

from __future__ import annotations

import ast
import inspect
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from crosscheck import backends
from crosscheck import spec as specs
from crosscheck.backends import protocols
from crosscheck.checkpoints import reader

ROOT = Path(__file__).resolve().parents[2]
FRAMEWORK_MODULES = ("torch", "tensorflow", "keras", "paddle", "jax")
ROLE_PROTOCOLS = {"adapter": protocols.Adapter, "trace": protocols.Tracer, "train": protocols.Trainer,
                  "onnx_export": protocols.OnnxExporter, "probe": protocols.Probe, "checkpoints": protocols.Checkpoints}


def protocol_members(protocol: type) -> set[str]:
    """The methods a Protocol asks for, its bases' included."""
    return {name for klass in protocol.__mro__ if klass.__module__ == protocols.__name__
            for name, member in vars(klass).items() if inspect.isfunction(member) and not name.startswith("_")}


def defined_names(path: Path) -> set[str]:
    """Top-level functions, assignments and imported names of a module, read from its source."""
    names: set[str] = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.ImportFrom):
            names.update(alias.asname or alias.name for alias in node.names)
        elif isinstance(node, ast.Assign):
            names.update(target.id for target in node.targets if isinstance(target, ast.Name))
    return names


def test_the_registry_lists_the_participants_in_the_spec_naming_order():
    assert backends.names() == ("torch", "keras", "keras_jax", "keras_torch", "paddle")
    assert backends.default_names() == ("torch", "keras", "paddle")  # Keras' other engines run when named
    assert {backends.get(name).impl_package for name in ("keras", "keras_jax", "keras_torch")} == {"keras_impl"}
    with pytest.raises(specs.UnknownFrameworkError,
                       match="unknown framework 'jax'; valid: torch, keras, keras_jax, keras_torch, paddle"):
        backends.get("jax")


@pytest.mark.parametrize("name", backends.names())
def test_each_record_names_what_exists(name):
    backend = backends.get(name)
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert backend.name == name == backends.folder(name).name  # one folder per participant, named as it
    assert backend.extra in extras, f"{name}: no extra {backend.extra!r} in pyproject.toml"
    assert backend.naming in specs.NAMINGS, f"{name}: naming {backend.naming!r} is not one of the spec's"
    assert backend.layout in ("nchw", "nhwc")
    assert (ROOT / backend.impl_package / "__init__.py").is_file(), f"{name}: no package {backend.impl_package}"
    for role in backends.ROLES:
        assert (backends.folder(name) / f"{role}.py").is_file(), f"{name}: no {role} module"
    for suffix in backend.checkpoint_suffixes:
        assert reader.FORMATS.get(suffix) == backend.naming, f"{name}: {suffix} is not a format in its naming"
        assert suffix in reader.SIGNATURES
    exporters = {re.split(r"[<>=!~\[ ;]", requirement)[0] for requirement in extras["onnx"]}
    assert (backend.exporter in exporters) != bool(backend.cannot_export), \
        f"{name}: exporter {backend.exporter!r} must be in the onnx extra, or the record must say why it cannot be"
    assert backend.gpu_install.startswith("pip ")


@pytest.mark.parametrize("name", backends.names())
@pytest.mark.parametrize("role", backends.ROLES)
def test_each_role_module_defines_what_its_protocol_asks(name, role):
    wanted = protocol_members(ROLE_PROTOCOLS[role])
    if role == "checkpoints" and backends.get(name).checkpoint_suffixes == (".weights.h5", ".keras", ".h5"):
        wanted |= protocol_members(protocols.OrderBasedCheckpoints)  # Keras 3 .weights.h5 is order-based
    missing = wanted - defined_names(backends.folder(name) / f"{role}.py")
    assert missing == set(), f"crosscheck/backends/{name}/{role}.py lacks {sorted(missing)}"


def test_the_registry_and_the_records_import_no_framework():
    """The CLI process reads every record; only a worker imports a framework."""
    code = ("import sys; from crosscheck import backends; from crosscheck.backends import protocols; "
            "[backends.get(n) for n in backends.names()]; "
            f"print(sorted(m for m in {FRAMEWORK_MODULES!r} if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert result.stdout.strip() == "[]", result.stdout


def test_a_missing_framework_names_the_pip_extra(monkeypatch):
    """The loader turns a framework's missing module into one line naming the extra; an unknown role is refused."""
    monkeypatch.delitem(sys.modules, "crosscheck.backends.paddle.probe", raising=False)
    monkeypatch.setitem(sys.modules, "paddle", None)  # `import paddle` now raises ModuleNotFoundError
    with pytest.raises(backends.FrameworkMissingError, match=r"^paddle: the framework is not installed \(.*\); "
                                                             r"install it with: pip install 'crosscheck\[paddle\]'$"):
        backends.load("paddle", "probe")
    with pytest.raises(ValueError, match="unknown backend role 'tracer'"):
        backends.load("paddle", "tracer")


def test_the_worker_client_starts_a_worker_with_its_records_environment(monkeypatch):
    """KERAS_BACKEND must be set before the worker imports Keras, so the client puts it in the process' environment."""
    from crosscheck.worker.client import FrameworkUnavailable, FrameworkWorker

    monkeypatch.setenv("KERAS_BACKEND", "jax")  # the caller's own setting does not leak into the keras worker
    report = "import os, json; print(json.dumps({'ok': False, 'error': 'KERAS_BACKEND=' + os.environ['KERAS_BACKEND']}))"
    worker = FrameworkWorker("keras", command=[sys.executable, "-c", report], timeout=60)
    with pytest.raises(FrameworkUnavailable, match="keras: KERAS_BACKEND=tensorflow$"):
        worker.wait_ready()
