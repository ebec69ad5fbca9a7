"""The Adapter of PyTorch (crosscheck/backends/protocols.py) over pytorch_impl: native keys are torch state_dict keys."""

from __future__ import annotations

import platform
from typing import Callable, Mapping

import numpy as np
import torch
from torch import nn

from crosscheck import spec as specs
from crosscheck.spec import ModelSpec, WeightMismatchError
from pytorch_impl.resnet import ResNet, build as build_model, load_state_dict as load_strict
from pytorch_impl.preprocess import preprocess_input

DEVICES = ("auto", "cpu", "cuda")

_device = torch.device("cpu")


def configure(device: str, allow_tf32: bool) -> dict[str, str]:
    """Select cpu/cuda, TF32 (off unless allowed) and deterministic cuDNN; return the settings in force.

    The TF32 and cuDNN switches only act on CUDA, but are set on every device so the report is honest.
    """
    global _device
    if device not in DEVICES:
        raise ValueError(f"device must be one of {', '.join(DEVICES)}, got {device!r}")
    use_cuda = torch.cuda.is_available() if device == "auto" else device == "cuda"
    if use_cuda and not torch.cuda.is_available():
        raise RuntimeError(f"device 'cuda' requested, but torch {torch.__version__} sees no CUDA device")
    torch.backends.cudnn.allow_tf32 = allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = allow_tf32
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
    _device = torch.device("cuda" if use_cuda else "cpu")
    return {
        "framework": "torch",
        "version": torch.__version__,
        "python": platform.python_version(),
        "device": torch.cuda.get_device_name(_device) if use_cuda else "cpu",
        "cuda": str(torch.version.cuda),
        "cudnn_allow_tf32": str(torch.backends.cudnn.allow_tf32),
        "matmul_allow_tf32": str(torch.backends.cuda.matmul.allow_tf32),
        "cudnn_deterministic": str(torch.backends.cudnn.deterministic),
        "cudnn_benchmark": str(torch.backends.cudnn.benchmark),
        "threads": str(torch.get_num_threads()),
    }


DTYPES = {"float32": torch.float32, "float64": torch.float64}


def build(model_id: str, num_classes: int | None = None, dtype: str = "float32", uninitialised: bool = False) -> ResNet:
    """The spec's model with a logits head (no softmax), in eval mode, in `dtype` on the configured device;
    `uninitialised`: built on the meta device (no initialiser runs) and materialised as zeros, for a caller that
    sets every weight or traces the structure alone."""
    if not uninitialised:
        return build_model(model_id, num_classes, softmax=False).eval().to(_device, DTYPES[dtype])
    with torch.device("meta"):
        model = build_model(model_id, num_classes, softmax=False).to(DTYPES[dtype])
    model = model.to_empty(device=_device)
    with torch.no_grad():
        for tensor in [*model.parameters(), *model.buffers()]:
            tensor.zero_()
    return model.eval()


def cast(model: nn.Module, spec: ModelSpec, dtype: str) -> nn.Module:
    """The model converted in place to `dtype` (float32 weights widen to float64 exactly)."""
    return model.to(DTYPES[dtype])


def get_native(model: nn.Module, spec: ModelSpec) -> dict[str, np.ndarray]:
    """Exactly the spec's native keys (no num_batches_tracked) as float32 numpy copies."""
    state = model.state_dict()
    missing = [f"missing {key}" for key in spec.native_shapes("torch") if key not in state]
    if missing:
        raise WeightMismatchError(spec.model_id, "torch model", missing)
    return {key: state[key].detach().cpu().numpy().astype(np.float32) for key in spec.native_shapes("torch")}


def set_native(model: nn.Module, spec: ModelSpec, native: Mapping[str, np.ndarray]) -> None:
    """Copy {torch key: array} into the model; every missing, unexpected or mis-shaped key is named first."""
    expected = spec.native_shapes("torch")
    problems = specs.shape_problems(expected, specs.shapes_of(native))
    state = model.state_dict()
    problems += [f"{key}: not in the torch model" for key in expected if key not in state]
    if problems:
        raise WeightMismatchError(spec.model_id, "torch", problems)
    with torch.no_grad():
        for key in expected:
            state[key].copy_(torch.from_numpy(np.asarray(native[key], dtype=np.float32)))  # exact in float64 too


def load_checkpoint_state(model: nn.Module, spec: ModelSpec, state: Mapping[str, np.ndarray]) -> None:
    """torch's strict `load_state_dict` of a checkpoint's own (natively named) tensors, cast to the model's dtype
    as torch does; BN counters a checkpoint may lack are kept from the model (they never change an output)."""
    counters = {key: value for key, value in model.state_dict().items() if key.endswith("num_batches_tracked")}
    tensors = {key: torch.from_numpy(np.ascontiguousarray(value)) for key, value in state.items()}
    load_strict(model, {**counters, **tensors}, source=f"torch ({spec.model_id} checkpoint)")


def forward(model: nn.Module, images_nchw: np.ndarray) -> np.ndarray:
    """Logits for an NCHW batch, computed in the model's dtype on its device."""
    parameter = next(model.parameters())
    with torch.inference_mode():
        images = torch.from_numpy(np.ascontiguousarray(images_nchw)).to(parameter.device, parameter.dtype)
        return model(images).cpu().numpy()


def preprocess(images_nchw: np.ndarray, style: str) -> np.ndarray:
    """pytorch_impl.preprocess_input on an NCHW RGB [0, 255] batch, in the batch's dtype."""
    return preprocess_input(torch.from_numpy(np.ascontiguousarray(images_nchw)), style).numpy()


def block_outputs(model: ResNet, images_nchw: np.ndarray) -> dict[str, np.ndarray]:
    """'stem' (after the max-pool), each block by its spec name, and 'logits', captured by forward hooks."""
    spec = specs.get(model.model_id, model.num_classes)
    paths = {"maxpool": "stem", **{block.module_path: block.name for block in spec.blocks}}
    outputs: dict[str, np.ndarray] = {}

    def hook_for(name: str) -> Callable[[nn.Module, tuple, torch.Tensor], None]:
        def hook(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
            outputs[name] = output.detach().cpu().numpy().copy()  # a copy: later in-place ReLUs must not reach it
        return hook

    handles = [model.get_submodule(path).register_forward_hook(hook_for(name)) for path, name in paths.items()]
    try:
        outputs["logits"] = forward(model, images_nchw)
    finally:
        for handle in handles:
            handle.remove()
    return outputs
