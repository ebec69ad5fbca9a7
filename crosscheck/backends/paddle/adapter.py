"""The Adapter of PaddlePaddle (crosscheck/backends/protocols.py) over paddle_impl; native keys are state_dict keys."""

from __future__ import annotations

import contextlib
import os
import platform
import weakref
from typing import Callable, Iterator, Mapping

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
        **_tf32_settings(),
        "cudnn_deterministic": _cudnn_deterministic(),
    }


def _tf32_settings() -> dict[str, str]:
    """TF32 as paddle's switches and the environment now stand: possible only on a GPU with a switch on and
    NVIDIA_TF32_OVERRIDE not 0."""
    core = paddle.base.core
    cublas, cudnn = core.get_cublas_switch(), core.get_cudnn_switch()
    override = os.environ.get("NVIDIA_TF32_OVERRIDE", "unset")
    on_gpu = paddle.get_device().startswith("gpu")
    return {"tf32": str(on_gpu and (cublas or cudnn) and override != "0"), "cublas_tf32_switch": str(cublas),
            "cudnn_tf32_switch": str(cudnn), "NVIDIA_TF32_OVERRIDE": override}


def _cudnn_deterministic() -> str:
    """FLAGS_cudnn_deterministic as paddle reads it; a CPU build of paddle has no such flag."""
    if not paddle.device.is_compiled_with_cuda():
        return "n/a (CPU build)"
    return str(paddle.get_flags(["FLAGS_cudnn_deterministic"])["FLAGS_cudnn_deterministic"])


def build(model_id: str, num_classes: int | None = None, dtype: str = "float32", uninitialised: bool = False) -> ResNet:
    """The spec's model with a logits head (no softmax), in eval mode, in `dtype` on the current paddle device;
    `uninitialised`: built under `paddle.LazyGuard`, which skips the parameters' random initialisers (the caller's
    set_state_dict gives them their values), with `dtype` as the default dtype meanwhile, since `Layer.to` cannot
    convert lazy parameters."""
    if not uninitialised:
        model = build_model(model_id, num_classes, softmax=False)
        model.to(dtype=dtype)
    else:
        with paddle.LazyGuard(), _default_dtype(dtype):
            model = build_model(model_id, num_classes, softmax=False)
    model.eval()
    return model


@contextlib.contextmanager
def _default_dtype(dtype: str) -> Iterator[None]:
    """Paddle's default dtype set to `dtype` within, restored after."""
    before = paddle.get_default_dtype()
    paddle.set_default_dtype(dtype)
    try:
        yield
    finally:
        paddle.set_default_dtype(before)


def epsilon_correction(epsilon: float) -> float:
    """eps - float32(eps): what a float64 running variance carries so that Paddle, which keeps a BatchNorm's epsilon as
    a float32 attribute whatever the dtype (1e-5 is used as 9.99999974738e-06, paddle.vision alike), computes
    var + eps with the exact epsilon; that rounding alone moves float64 resnet152 logits by 1.6e-9 against torch."""
    return epsilon - float(np.float32(epsilon))


# Per float64 BatchNorm: (running variance as stored, with the correction; as given), until the layer is collected.
_GIVEN_VARIANCE: weakref.WeakKeyDictionary[nn.Layer, tuple[np.ndarray, np.ndarray]] = weakref.WeakKeyDictionary()


def _batch_norms(model: nn.Layer, spec: ModelSpec) -> dict[str, nn.Layer]:
    """{running-variance key: its BatchNorm} for every BatchNorm of the spec."""
    sublayers = dict(model.named_sublayers())
    keys = (layer.native_key("running_var", "paddle") for layer in spec.layers if layer.kind == "bn")
    return {key: sublayers[key.rsplit(".", 1)[0]] for key in keys}


def _corrected_layers(model: nn.Layer, spec: ModelSpec) -> dict[str, nn.Layer]:
    """{running-variance key: its BatchNorm} for the float64 BatchNorms (float32 ones compute with float32 eps anyway)."""
    return {key: bn for key, bn in _batch_norms(model, spec).items() if bn._variance.dtype == paddle.float64}


def write_variance(bn: nn.Layer, given: np.ndarray) -> np.ndarray:
    """The float64 running variance to store in `bn` for `given`: plus the correction for the layer's own epsilon.
    `given` is kept so that reading back is bit-exact even where the correction swallows it (0, 1e-30, denormals)."""
    stored = np.asarray(given, np.float64) + epsilon_correction(float(bn._epsilon))
    _GIVEN_VARIANCE[bn] = (stored, np.asarray(given, np.float64))
    return stored


def read_variance(bn: nn.Layer, stored: np.ndarray) -> np.ndarray:
    """`bn`'s running variance without the correction: the given one while the layer still holds what was written,
    else (changed since, e.g. trained) the stored one minus the correction."""
    written = _GIVEN_VARIANCE.get(bn)
    if written is not None and np.array_equal(written[0], stored):
        return written[1]
    return stored - epsilon_correction(float(bn._epsilon))


def cast(model: nn.Layer, spec: ModelSpec, dtype: str) -> nn.Layer:
    """The model converted in place to `dtype` by `Layer.to`; each running variance is then stored as set_native
    stores it in that dtype (with the float64 epsilon correction, or without it in float32)."""
    given = {bn: read_variance(bn, bn._variance.numpy()) if bn._variance.dtype == paddle.float64 else bn._variance.numpy()
             for bn in _batch_norms(model, spec).values()}
    model.to(dtype=dtype)
    for bn, variance in given.items():
        stored = write_variance(bn, variance) if dtype == "float64" else np.asarray(variance, dtype)
        bn._variance.set_value(paddle.to_tensor(stored).astype(bn._variance.dtype))
    return model


def get_native(model: nn.Layer, spec: ModelSpec) -> dict[str, np.ndarray]:
    """Exactly the spec's native keys as float32 numpy arrays in paddle layout (fc weight [in, out])."""
    state = model.state_dict()
    missing = [f"missing {key}" for key in spec.native_shapes("paddle") if key not in state]
    if missing:
        raise WeightMismatchError(spec.model_id, "paddle model", missing)
    corrected = _corrected_layers(model, spec)
    return {key: np.asarray(read_variance(corrected[key], state[key].numpy()) if key in corrected else state[key].numpy(),
                            dtype=np.float32)
            for key in spec.native_shapes("paddle")}


def set_native(model: nn.Layer, spec: ModelSpec, native: Mapping[str, np.ndarray]) -> None:
    """Load {paddle key: array} strictly (every missing, unexpected or mis-shaped key is named), in the model's dtype;
    a float64 running variance with its layer's epsilon correction (`write_variance`)."""
    problems = state_dict_problems(model, native)
    if problems:
        raise WeightMismatchError(spec.model_id, "paddle", problems)
    state = model.state_dict()
    stored = _corrected_state(model, spec, {key: np.asarray(value, np.float32) for key, value in native.items()}, np.float64)
    model.set_state_dict({key: paddle.to_tensor(value).astype(state[key].dtype) for key, value in stored.items()})


def load_checkpoint_state(model: nn.Layer, spec: ModelSpec, state: Mapping[str, np.ndarray]) -> None:
    """Paddle's `set_state_dict` (strict) of a checkpoint's own arrays, widened to the model's dtype as `model.to`
    would (set_state_dict refuses a dtype change), plus the float64 epsilon correction set_native applies."""
    dtype = np.dtype(str(model_dtype(model)).removeprefix("paddle."))
    load_strict(model, _corrected_state(model, spec, state, dtype))


def _corrected_state(model: nn.Layer, spec: ModelSpec, state: Mapping[str, np.ndarray],
                     dtype: np.dtype | type) -> dict[str, np.ndarray]:
    """`state` in `dtype`, each float64 BatchNorm's running variance with its layer's epsilon correction."""
    corrected = _corrected_layers(model, spec)
    widened = {key: np.asarray(value, dtype) for key, value in state.items()}
    return {key: write_variance(corrected[key], value) if key in corrected else value for key, value in widened.items()}


def model_dtype(model: nn.Layer) -> paddle.dtype:
    """The dtype the model computes in: its first parameter's (a stem conv's, whichever stem it has)."""
    return model.parameters()[0].dtype


def forward(model: nn.Layer, images_nchw: np.ndarray) -> np.ndarray:
    """Logits for an NCHW batch (paddle is NCHW already), computed in the model's dtype; a headless model's
    pooled [N, C, 1, 1] flattened."""
    dtype = model_dtype(model)
    with paddle.no_grad():
        outputs = model(paddle.to_tensor(np.asarray(images_nchw)).astype(dtype)).numpy()
    return outputs.reshape(len(outputs), -1)


def preprocess(images_nchw: np.ndarray, style: str) -> np.ndarray:
    """paddle_impl.preprocess_input on an NCHW RGB [0, 255] batch, in the batch's dtype."""
    return preprocess_input(paddle.to_tensor(np.asarray(images_nchw)), style).numpy()


def block_outputs(model: ResNet, images_nchw: np.ndarray) -> dict[str, np.ndarray]:
    """'stem' (the input of layer1: after the max-pool, or the CIFAR stem's ReLU), each block by its spec name,
    and 'logits', captured by forward hooks."""
    paths = {block.module_path: block.name for block in specs.get(model.model_id).blocks}
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
