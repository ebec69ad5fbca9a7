"""crosscheck's FrameworkAdapter for PaddlePaddle (crosscheck/adapter.py); native keys are state_dict keys."""

from __future__ import annotations

import os
import platform
from typing import Callable, Mapping

import numpy as np
import paddle
from paddle import nn

from crosscheck import spec as specs
from crosscheck.spec import ModelSpec, WeightMismatchError
from paddle_impl.resnet import ResNet, build as build_model, load_state_dict as load_strict, state_dict_problems
from paddle_impl.preprocess import preprocess_input

DEVICES = ("auto", "cpu", "cuda", "gpu")


def _gpu_available() -> bool:
    """Whether this paddle build is CUDA-enabled and sees at least one device."""
    return paddle.device.is_compiled_with_cuda() and paddle.device.cuda.device_count() > 0


def configure(device: str, allow_tf32: bool) -> dict[str, str]:
    """Select cpu/gpu and the GPU numerics (TF32, cuDNN determinism); return the settings in force.

    Paddle has no single public TF32 switch, so TF32 is controlled two ways: the environment variable
    NVIDIA_TF32_OVERRIDE=0 (read by cuBLAS/cuDNN when CUDA initialises, so it only takes effect if
    this runs before the process's first GPU op; crosscheck's workers call configure first), and
    paddle's internal cuBLAS/cuDNN TF32 switches (`paddle.base.core.set_cublas_switch` /
    `set_cudnn_switch`). On GPU, FLAGS_cudnn_deterministic makes cuDNN pick reproducible algorithms;
    it is set with paddle.set_flags (its environment variable is only read at `import paddle`) and
    exists only in CUDA builds of paddle.
    """
    if device not in DEVICES:
        raise ValueError(f"device must be one of {', '.join(DEVICES)}, got {device!r}")
    use_gpu = _gpu_available() if device == "auto" else device in ("cuda", "gpu")
    if use_gpu and not _gpu_available():
        raise RuntimeError(f"device {device!r} requested, but this paddle {paddle.__version__} sees no CUDA device")
    if not allow_tf32:
        os.environ["NVIDIA_TF32_OVERRIDE"] = "0"
    paddle.base.core.set_cublas_switch(allow_tf32)
    paddle.base.core.set_cudnn_switch(allow_tf32)
    if use_gpu:
        paddle.set_flags({"FLAGS_cudnn_deterministic": True})
    paddle.set_device("gpu" if use_gpu else "cpu")
    return {
        "framework": "paddle",
        "version": paddle.__version__,
        "python": platform.python_version(),
        "device": paddle.get_device(),
        "compiled_with_cuda": str(paddle.device.is_compiled_with_cuda()),
        "tf32": str(use_gpu and allow_tf32),
        "NVIDIA_TF32_OVERRIDE": os.environ.get("NVIDIA_TF32_OVERRIDE", "unset"),
        "cudnn_deterministic": str(use_gpu),
    }


def build(model_id: str, num_classes: int | None = None, dtype: str = "float32") -> ResNet:
    """The spec's model with a logits head (no softmax), in eval mode, in `dtype` on the current paddle device."""
    model = build_model(model_id, num_classes, softmax=False)
    model.to(dtype=dtype)
    model.eval()
    return model


def epsilon_correction(model: nn.Layer, spec: ModelSpec) -> dict[str, float]:
    """{running-variance key: eps - float32(eps)} for a float64 model, {} for a float32 one.

    Paddle keeps BatchNorm's epsilon as a float32 attribute whatever the dtype (1e-5 is used as
    9.99999974738e-06, paddle.vision alike), which alone moves float64 resnet152 logits by 1.6e-9 against
    torch and Keras. Adding the difference to the float64 running variance makes Paddle compute
    var + eps with the spec's exact epsilon, so the float64 proof compares the same function.
    """
    if model.conv1.weight.dtype != paddle.float64:
        return {}
    return {layer.native_key("running_var", "paddle"): layer.eps - float(np.float32(layer.eps))
            for layer in spec.layers if layer.kind == "bn"}


def get_native(model: nn.Layer, spec: ModelSpec) -> dict[str, np.ndarray]:
    """Exactly the spec's native keys as float32 numpy arrays in paddle layout (fc weight [in, out])."""
    state = model.state_dict()
    missing = [f"missing {key}" for key in spec.native_shapes("paddle") if key not in state]
    if missing:
        raise WeightMismatchError(spec.model_id, "paddle model", missing)
    correction = epsilon_correction(model, spec)
    return {key: np.asarray(state[key].numpy() - correction.get(key, 0.0), dtype=np.float32)
            for key in spec.native_shapes("paddle")}


def set_native(model: nn.Layer, spec: ModelSpec, native: Mapping[str, np.ndarray]) -> None:
    """Load {paddle key: array} strictly (every missing, unexpected or mis-shaped key is named), in the model's dtype."""
    problems = state_dict_problems(model, native)
    if problems:
        raise WeightMismatchError(spec.model_id, "paddle", problems)
    state = model.state_dict()
    correction = epsilon_correction(model, spec)
    model.set_state_dict({key: paddle.to_tensor(np.asarray(value, np.float32).astype(np.float64) + correction.get(key, 0.0)
                                                ).astype(state[key].dtype)
                          for key, value in native.items()})


def load_checkpoint_state(model: nn.Layer, spec: ModelSpec, state: Mapping[str, np.ndarray]) -> None:
    """Paddle's `set_state_dict` (strict) of a checkpoint's own arrays, widened to the model's dtype as `model.to`
    would (set_state_dict refuses a dtype change), plus the float64 epsilon correction set_native applies."""
    dtype = np.dtype(str(model.conv1.weight.dtype).removeprefix("paddle."))
    correction = epsilon_correction(model, spec)
    load_strict(model, {key: np.asarray(value, dtype) + correction.get(key, 0.0) for key, value in state.items()})


def forward(model: nn.Layer, images_nchw: np.ndarray) -> np.ndarray:
    """Logits for an NCHW batch (paddle is NCHW already), computed in the model's dtype; a headless model's
    pooled [N, C, 1, 1] flattened."""
    dtype = model.conv1.weight.dtype
    with paddle.no_grad():
        outputs = model(paddle.to_tensor(np.asarray(images_nchw)).astype(dtype)).numpy()
    return outputs.reshape(len(outputs), -1)


def preprocess(images_nchw: np.ndarray, style: str) -> np.ndarray:
    """paddle_impl.preprocess_input on an NCHW RGB [0, 255] batch, in the batch's dtype."""
    return preprocess_input(paddle.to_tensor(np.asarray(images_nchw)), style).numpy()


def block_outputs(model: ResNet, images_nchw: np.ndarray) -> dict[str, np.ndarray]:
    """'stem' (the input of layer1: after the max-pool, or the CIFAR stem's ReLU), each block by its spec name,
    and 'logits', captured by forward hooks."""
    paths = {block.torch_path: block.name for block in specs.get(model.model_id).blocks}
    sublayers = dict(model.named_sublayers())
    outputs: dict[str, np.ndarray] = {}

    def hook_for(name: str) -> Callable[[nn.Layer, tuple, paddle.Tensor], None]:
        def hook(layer: nn.Layer, inputs: tuple, output: paddle.Tensor) -> None:
            outputs[name] = output.numpy()
        return hook

    def stem_hook(layer: nn.Layer, inputs: tuple) -> None:
        outputs["stem"] = inputs[0].numpy()

    handles = [sublayers["layer1"].register_forward_pre_hook(stem_hook)]
    handles += [sublayers[path].register_forward_post_hook(hook_for(name)) for path, name in paths.items()]
    try:
        outputs["logits"] = forward(model, images_nchw)
    finally:
        for handle in handles:
            handle.remove()
    return outputs
