"""The peers' side of the `peers` benchmark, run by benchmarks/peers.py with the peers' interpreter, one fresh
process per step: `python benchmarks/peer_side.py STEP ARGS... RESULT.json`.

padiff: PaDiff's `auto_diff` on a torch module and paddle.vision's resnet50 (PaDiff imports both frameworks in one
process; that is how it works). x2paddle: X2Paddle's `pytorch2paddle` on torchvision's resnet50 with a .pth loaded.
truth / paddle-output: the float64 torch forward of a .pth, and the float32 forward of a converted Paddle model,
each in a process of its own framework.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import time
from pathlib import Path
from typing import Any, Callable

STARTED = time.perf_counter()


def padiff(candidate: str, images: str) -> dict[str, Any]:
    """auto_diff(paddle.vision resnet50, the candidate) twice: the first call as a user runs it, then once warm."""
    import io
    import contextlib

    import numpy as np
    import paddle
    import torch
    from padiff import auto_diff

    imported = time.perf_counter()
    module = _load(candidate, "model")().eval()
    layer = paddle.vision.models.resnet50()
    layer.eval()
    x = np.load(images)
    inputs = ({"x": paddle.to_tensor(x)}, {"x": torch.as_tensor(x)})
    runs, log = [], io.StringIO()
    for _ in range(2):
        Path("diff_log").mkdir(exist_ok=True)  # PaDiff writes its reports there and may have removed it
        began = time.perf_counter()
        with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
            passed = auto_diff(layer, module, inputs, auto_weights=True, options={"atol": 1e-4})
        runs.append((time.perf_counter() - began, passed))
    lines = log.getvalue().splitlines()
    found = [line.split("]", 1)[-1].strip() for line in lines if "Diff found in" in line or "Type of layer is" in line]
    return {"import_seconds": imported - STARTED, "first_seconds": runs[0][0], "warm_seconds": runs[1][0],
            "passed": runs[0][1], "found": found[:2]}


def x2paddle(pth: str, save_dir: str) -> dict[str, Any]:
    """pytorch2paddle of torchvision's resnet50 with `pth` loaded, traced on one 224x224 image."""
    import torch
    import torchvision
    from x2paddle.convert import pytorch2paddle

    module = torchvision.models.resnet50()
    module.load_state_dict(torch.load(pth, map_location="cpu"))
    pytorch2paddle(module.eval(), save_dir=save_dir, jit_type="trace", input_examples=[torch.zeros(1, 3, 224, 224)])
    return {}


def truth(pth: str, images: str, output: str) -> dict[str, Any]:
    """torchvision's resnet50 with `pth`, in float64: the output both conversions are measured against."""
    import numpy as np
    import torch
    import torchvision

    module = torchvision.models.resnet50()
    module.load_state_dict(torch.load(pth, map_location="cpu"))
    with torch.no_grad():
        np.save(output, module.double().eval()(torch.as_tensor(np.load(images), dtype=torch.float64)).numpy())
    return {}


def paddle_output(kind: str, path: str, images: str, output: str) -> dict[str, Any]:
    """The float32 output of a Paddle resnet50: paddle.vision's with a .pdparams (`ours`), or X2Paddle's generated
    code with its weights (`x2paddle`, `path` its save_dir)."""
    import numpy as np
    import paddle

    if kind == "ours":
        model = paddle.vision.models.resnet50()
        params = paddle.load(path)
        missing = set(model.state_dict()) ^ set(params)
        if missing:  # set_state_dict only warns: a partial load would measure random weights
            raise KeyError(f"{path}: keys differ from paddle.vision's resnet50: {sorted(missing)[:5]}")
        model.set_state_dict(params)
    else:
        code = _load(str(Path(path) / "x2paddle_code.py"), None)
        model = next(v for v in vars(code).values() if isinstance(v, type) and issubclass(v, paddle.nn.Layer)
                     and v.__module__ == code.__name__)()
        model.set_state_dict(paddle.load(str(Path(path) / "model.pdparams")))
    model.eval()
    np.save(output, model(paddle.to_tensor(np.load(images))).numpy())
    return {}


def _load(source: str, name: str | None) -> Any:
    """The module at `source`, or its callable `name`."""
    spec = importlib.util.spec_from_file_location(Path(source).stem, source)
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(Path(source).parent))
    spec.loader.exec_module(module)
    return getattr(module, name) if name else module


STEPS: dict[str, Callable[..., dict[str, Any]]] = {"padiff": padiff, "x2paddle": x2paddle, "truth": truth,
                                                   "paddle-output": paddle_output}

if __name__ == "__main__":
    result = STEPS[sys.argv[1]](*sys.argv[2:-1])
    Path(sys.argv[-1]).write_text(json.dumps({**result, "process_seconds": time.perf_counter() - STARTED}))
