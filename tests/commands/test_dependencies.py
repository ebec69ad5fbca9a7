"""What `pip install -e ".[torch,paddle]"` promises: every import-time dependency is declared, and a
missing framework is reported with the extra that installs it.

The install is simulated in subprocesses: every module that only the other extras bring in (TensorFlow,
Keras, the ONNX tools and everything they pull in) is made unimportable, with the dependency closure read
from pyproject.toml and the installed packages' own metadata.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest
from packaging.requirements import Requirement

from subprocess_python import run_python  # tests/ helpers

ROOT = Path(__file__).resolve().parents[2]
SIMULATION = Path(__file__).resolve().parents[1] / "install_simulation"
SEEDED = {"pip", "setuptools"}  # what `python3.11 -m venv` installs before anything is asked for

pytestmark = pytest.mark.skipif(not all(importlib.util.find_spec(name) for name in ("torch", "paddle")),
                                reason="needs torch and paddle")


def _normalized(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def _closure(requirements: list[str], extras: set[str]) -> set[str]:
    """Distribution names that `requirements` (with `extras` of crosscheck itself) install, transitively."""
    found: set[str] = set()
    todo = [(Requirement(text), extras) for text in requirements]
    while todo:
        requirement, active = todo.pop()
        if requirement.marker and not any(requirement.marker.evaluate({"extra": extra}) for extra in active or {""}):
            continue
        name = _normalized(requirement.name)
        if name == "crosscheck":
            todo += [(Requirement(text), set(requirement.extras)) for text in _declared()]
            continue
        if name in found:
            continue
        found.add(name)
        try:
            todo += [(Requirement(text), set(requirement.extras)) for text in importlib.metadata.requires(name) or []]
        except importlib.metadata.PackageNotFoundError:
            pass
    return found


def _declared() -> list[str]:
    """crosscheck's own requirements, from pyproject.toml (the installed metadata may be older)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    return [*project["dependencies"],
            *(f"{text}; extra == {extra!r}" for extra, texts in extras.items() for text in texts)]


def _uninstalled_modules(extras: set[str]) -> set[str]:
    """Top-level modules whose distributions `pip install ".[extras]"` would not install."""
    installed = _closure(_declared(), extras) | SEEDED
    first_party = {"crosscheck", "pytorch_impl", "keras_impl", "paddle_impl"}
    return {module for module, distributions in _top_level_modules().items()
            if module not in first_party and not {_normalized(d) for d in distributions} & installed}


def _top_level_modules() -> dict[str, list[str]]:
    """Module -> distributions, read in a fresh interpreter: importing setuptools (paddle does) puts its vendored
    distributions on this process's path, which an install does not have."""
    code = "import importlib.metadata, json; print(json.dumps(importlib.metadata.packages_distributions()))"
    return json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)


def _crosscheck(*args: str, cwd: Path, extras: set[str]) -> subprocess.CompletedProcess:
    env = {**os.environ, "CROSSCHECK_UNINSTALLED": ",".join(sorted(_uninstalled_modules(extras))),
           "PYTHONPATH": os.pathsep.join([str(SIMULATION), str(ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-m", "crosscheck", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


def test_the_simulated_install_lacks_what_the_other_extras_bring() -> None:
    missing = _uninstalled_modules({"torch", "paddle"})
    assert {"tensorflow", "keras", "onnxruntime"} <= missing
    assert not {"torch", "paddle", "numpy", "h5py", "safetensors"} & missing


def test_torch_and_paddle_alone_run_the_matrix_and_name_the_keras_extra(tmp_path: Path) -> None:
    matrix = _crosscheck("run", "--frameworks", "torch,paddle", "--models", "resnet18_cifar",
                         cwd=tmp_path, extras={"torch", "paddle"})
    assert matrix.returncode == 0, matrix.stdout + matrix.stderr

    run_python("import sys, torch, pytorch_impl; torch.save(pytorch_impl.build('resnet18_cifar').state_dict(), sys.argv[1])",
               tmp_path / "cifar.pth")
    convert = _crosscheck("convert", "cifar.pth", "cifar.weights.h5", cwd=tmp_path, extras={"torch", "paddle"})
    assert convert.returncode == 2, convert.stdout + convert.stderr
    assert "pip install 'crosscheck[keras]'" in convert.stdout + convert.stderr
    assert not (tmp_path / "cifar.weights.h5").exists()

