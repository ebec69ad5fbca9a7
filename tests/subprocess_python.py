"""Framework code a framework-free test needs, run in a fresh interpreter so the framework stays out of pytest's
process (tests/conftest.py: tests/unit and tests/commands import no framework)."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

# Each loads the file argv[1] as its framework does and saves the arrays to the .npz argv[2].
STATE_LOADERS = {
    "torch": "import sys, numpy as np, torch\n"
             "state = torch.load(sys.argv[1], map_location='cpu', weights_only=True)\n"
             "np.savez(sys.argv[2], **{k: v.numpy() for k, v in state.items()})",
    "paddle": "import sys, numpy as np, paddle\n"
              "np.savez(sys.argv[2], **{k: np.asarray(v) for k, v in paddle.load(sys.argv[1]).items()})",
}


def make_files(script: str, directory: Path, *args: object) -> Path:
    """Run a file-making script (its argv: `directory`, `args`) in its own process, one framework per process."""
    run_python(script, directory, *args)
    return directory


def run_python(code: str, *args: object) -> str:
    """Run `code` with `args` in a fresh interpreter at the repository root; its stdout, or a failure with its stderr."""
    done = subprocess.run([sys.executable, "-c", code, *map(str, args)], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout


def load_state(framework: str, path: Path) -> dict[str, np.ndarray]:
    """The arrays of a checkpoint file as `framework`'s own loader reads it."""
    arrays = path.with_name(path.name + ".npz")
    run_python(STATE_LOADERS[framework], path, arrays)
    with np.load(arrays) as loaded:
        return dict(loaded)


def compute(code: str, arrays: dict[str, np.ndarray]) -> np.ndarray:
    """The array `result` that `code` computes from `arrays` (a dict of that name there) in a fresh interpreter."""
    with tempfile.TemporaryDirectory() as scratch:
        inputs, output = Path(scratch, "inputs.npz"), Path(scratch, "result.npy")
        np.savez(inputs, **arrays)
        run_python(f"import sys, numpy as np\narrays = dict(np.load(sys.argv[1]))\n{code}\nnp.save(sys.argv[2], result)",
                   inputs, output)
        return np.load(output)
