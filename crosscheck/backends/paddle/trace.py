"""Trace any PaddlePaddle model's forward pass into plain op records, capture op outputs, assign weights.

`crosscheck verify` needs a user's own ResNet's layers in execution order with their real
configuration. Forward hooks on the leaf layers (Conv2D, BatchNorm, Linear, pools, Pad2D, ReLU,
Softmax, Flatten) record those; the functional calls blog code uses between them (`x + y`,
`paddle.add`, `F.relu`, `F.softmax`, `paddle.flatten`, `paddle.reshape`, `F.avg_pool2d`,
`F.adaptive_avg_pool2d`) are wrapped for the duration of the trace.
Tensor identities give the dataflow. Records are plain dicts (see crosscheck/verify/graph.py).
"""

from __future__ import annotations

import contextlib
from typing import Any, Callable, Collection, Iterator, Mapping, Sequence

import numpy as np
import paddle
import paddle.nn.functional as F
from paddle import nn

from crosscheck import spec as specs
from crosscheck.backends.paddle.adapter import epsilon_correction

MODEL_INPUT = -1
_BN = (nn.BatchNorm2D, nn.BatchNorm)
_CANONICAL_BN = {"weight": "weight", "bias": "bias", "_mean": "running_mean", "_variance": "running_var"}


def is_model(candidate: Any) -> bool:
    return isinstance(candidate, nn.Layer)


def float64() -> contextlib.AbstractContextManager:
    """Nothing to set before a paddle constructor runs: `prepare` casts the built model (and the adapter loads
    float32 arrays into it before that)."""
    return contextlib.nullcontext()


@contextlib.contextmanager
def _default_float64() -> Iterator[None]:
    """Paddle's default float type is float64 during a traced forward: tensors the forward makes follow it."""
    saved = paddle.get_default_dtype()
    paddle.set_default_dtype("float64")
    try:
        yield
    finally:
        paddle.set_default_dtype(saved)


def prepare(model: nn.Layer) -> nn.Layer:
    """Inference mode in float64 (verify's numbers are proven in float64): BN uses its running statistics."""
    model.to(dtype="float64")
    model.eval()
    return model


def shapes_only(model: nn.Layer) -> nn.Layer:
    """The model with its lazily built parameters initialised: Paddle has no device that skips the arithmetic."""
    for parameter in model.parameters():
        parameter.initialize()
    return model


def trace(model: nn.Layer, images: np.ndarray,
          capture: Collection[int] = ()) -> tuple[list[dict], dict[int, np.ndarray], np.ndarray | None]:
    """Run NCHW `images` in float64 once: op records, captured outputs (by op index), model output. A forward
    that raises ends the records with the failing op (its `error`) and gives no output."""
    tracer = _Tracer(set(capture))
    names = {id(layer): name for name, layer in model.named_sublayers(include_self=True)}
    handles = []
    for layer in model.sublayers(include_self=True):
        if _describe_layer(layer) is not None:
            handles.append(layer.register_forward_pre_hook(tracer.enter))
            handles.append(layer.register_forward_post_hook(tracer.leave(names[id(layer)])))
    try:
        with paddle.no_grad(), tracer.functional(), _default_float64():
            output = model(paddle.to_tensor(np.ascontiguousarray(images, np.float64)))
    except Exception as error:  # the candidate's own forward crashed: that is a finding, not a usage error
        tracer.failed(error)
        return tracer.records, tracer.captured, None
    finally:
        for handle in handles:
            handle.remove()
    if not isinstance(output, paddle.Tensor):
        raise TypeError(f"the model returned {type(output).__name__}, not one tensor")
    return tracer.records, tracer.captured, output.numpy().copy()


def assign(model: nn.Layer, layers: Sequence[tuple[dict, Mapping[str, np.ndarray]]]) -> None:
    """Set canonical arrays (permuted to paddle layout) on each traced layer's parameters."""
    state = dict(model.named_parameters()) | dict(model.named_buffers())
    for record, arrays in layers:
        for param, array in arrays.items():
            name = record["params"].get(param)
            if name is None:
                raise ValueError(f"{record['name']}: the layer has no {param}")
            perm = specs.native_permutation("paddle", record["op"], param)
            value = np.ascontiguousarray(array.transpose(perm) if perm else array, np.float64)
            if param == "running_var":
                value = value + epsilon_correction(record["eps"])
            if tuple(state[name].shape) != value.shape:
                raise ValueError(f"{name}: model has {tuple(state[name].shape)}, weights {value.shape}")
            state[name].set_value(value)


def read(model: nn.Layer, records: Sequence[dict]) -> dict[str, np.ndarray]:
    """Each traced layer's own arrays keyed '{record index}/{canonical param}', in canonical layout."""
    state = dict(model.named_parameters()) | dict(model.named_buffers())
    arrays = {}
    for record in records:
        for param, name in record["params"].items():
            perm = specs.native_permutation("paddle", record["op"], param)
            value = state[name].numpy().astype(np.float64)
            if param == "running_var":
                value = value - epsilon_correction(record["eps"])
            arrays[f"{record['index']}/{param}"] = value.transpose(np.argsort(perm)) if perm else value
    return arrays


class _Tracer:
    """Records hooked layers and wrapped functional calls; calls made inside a hooked layer are its own."""

    def __init__(self, capture: set[int]) -> None:
        self.capture = capture
        self.records: list[dict] = []
        self.captured: dict[int, np.ndarray] = {}
        self.producer: dict[int, int] = {}
        self.alive: list[paddle.Tensor] = []  # keeps traced tensors alive so their ids stay unique
        self.depth = 0
        self.inputs: list[list[int]] = []
        self.failing: dict | None = None  # a wrapped functional op that raised

    def failed(self, error: Exception) -> None:
        """End the records with the op that raised (or a generic one) carrying the error message."""
        record = self.failing or {"op": "other", "func": "forward", "name": "", "inputs": [], "input_shapes": []}
        record.update(index=len(self.records), shape=None, error=f"{type(error).__name__}: {error}")
        self.records.append(record)

    def enter(self, layer: nn.Layer, args: tuple) -> None:
        self.depth += 1
        self.inputs.append([self.producer.get(id(a), MODEL_INPUT) for a in args if isinstance(a, paddle.Tensor)])

    def leave(self, name: str) -> Callable[..., None]:
        def hook(layer: nn.Layer, args: tuple, output: Any) -> None:
            self.depth -= 1
            inputs = self.inputs.pop()
            shape = args[0].shape if args and isinstance(args[0], paddle.Tensor) else []
            self.record(_describe_layer(layer, list(shape), name), name, inputs, output)
        return hook

    def record(self, record: dict | None, name: str, inputs: list[int], output: Any) -> None:
        if record is None or not isinstance(output, paddle.Tensor) or self.depth > 0:
            return
        index = len(self.records)
        record.update(index=index, name=name, inputs=inputs if record["op"] == "add" else inputs[:1],
                      shape=list(output.shape[1:]))
        self.records.append(record)
        self.producer[id(output)] = index
        self.alive.append(output)
        if index in self.capture:
            self.captured[index] = output.numpy().copy()

    @contextlib.contextmanager
    def functional(self) -> Iterator[None]:
        """Wrap the functional ops blog code calls between layers, restoring them afterwards."""
        targets = [(paddle.Tensor, "__add__", "add"), (paddle.Tensor, "__radd__", "add"), (paddle, "add", "add"),
                   (F, "relu", "relu"), (F, "softmax", "softmax"), (paddle, "flatten", "other"),
                   (paddle, "reshape", "other"), (F, "avg_pool2d", "avgpool"), (F, "adaptive_avg_pool2d", "gap")]
        saved = [(owner, attr, getattr(owner, attr)) for owner, attr, _ in targets]
        for owner, attr, op in targets:
            setattr(owner, attr, self.wrap(getattr(owner, attr), op))
        try:
            yield
        finally:
            for owner, attr, original in saved:
                setattr(owner, attr, original)

    def wrap(self, original: Callable[..., Any], op: str) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            tensors = [a for a in args if isinstance(a, paddle.Tensor)]
            inputs = [self.producer.get(id(t), MODEL_INPUT) for t in tensors[:2]]
            try:
                output = original(*args, **kwargs)
            except Exception:
                if self.failing is None and self.depth == 0:
                    self.failing = {"op": op, "name": "", "inputs": inputs if op == "add" else inputs[:1],
                                    "input_shapes": [list(t.shape[1:]) for t in tensors[:2]]}
                raise
            if op == "add" and (len(tensors) < 2 or tensors[0].shape != tensors[1].shape or len(tensors[0].shape) != 4):
                return output
            self.record(_describe_call(op, original.__name__, args, kwargs), "", inputs, output)
            return output
        return call


def _describe_layer(layer: nn.Layer, in_shape: list[int] | None = None, path: str = "") -> dict | None:
    """The op record of a hooked layer type (None: not traced); `in_shape` is its NCHW input shape."""
    prefix = f"{path}." if path else ""
    params = {n: prefix + n for n, _ in layer.named_parameters(include_sublayers=False)}
    if isinstance(layer, nn.Conv2D):
        return {"op": "conv", "in_channels": layer._in_channels, "out_channels": layer._out_channels,
                "kernel": list(layer._kernel_size), "stride": list(layer._stride),
                "padding": _conv_padding(layer, in_shape), "groups": layer._groups, "bias": layer.bias is not None,
                "params": params}
    if isinstance(layer, _BN):
        bn_params = {_CANONICAL_BN[n]: prefix + n for n, _ in [*layer.named_parameters(include_sublayers=False),
                                                       *layer.named_buffers(include_sublayers=False)] if n in _CANONICAL_BN}
        return {"op": "bn", "channels": int(layer._mean.shape[0]), "eps": float(layer._epsilon), "params": bn_params}
    if isinstance(layer, nn.Linear):
        return {"op": "dense", "in_features": int(layer.weight.shape[0]), "out_features": int(layer.weight.shape[1]),
                "bias": layer.bias is not None, "params": params}
    if isinstance(layer, (nn.MaxPool2D, nn.AvgPool2D)):
        kernel, stride = _pair(layer.ksize), _pair(layer.stride if layer.stride is not None else layer.ksize)
        return {"op": "maxpool" if isinstance(layer, nn.MaxPool2D) else "avgpool", "kernel": kernel,
                "stride": stride, "padding": _explicit(layer.padding, in_shape, kernel, stride)}
    if isinstance(layer, nn.Pad2D):
        left, right, top, bottom = [layer.padding] * 4 if isinstance(layer.padding, int) else layer.padding
        return {"op": "pad", "padding": [top, bottom, left, right], "value": float(layer.value)}
    if isinstance(layer, nn.AdaptiveAvgPool2D):
        return {"op": "gap"}
    if isinstance(layer, nn.ReLU):
        return {"op": "relu"}
    if isinstance(layer, nn.Softmax):
        return {"op": "softmax"}
    if isinstance(layer, nn.Flatten):
        return {"op": "other", "func": "Flatten"}
    return None


def _describe_call(op: str, func: str, args: tuple, kwargs: dict) -> dict:
    """The record of a wrapped functional call: a fixed average pool keeps its window, a pool to a size
    other than 1x1 is not a global one."""
    if op == "avgpool":
        kernel = _pair(args[1] if len(args) > 1 else kwargs["kernel_size"])
        stride = args[2] if len(args) > 2 else kwargs.get("stride")
        stride = kernel if stride is None else _pair(stride)
        padding = args[3] if len(args) > 3 else kwargs.get("padding", 0)
        return {"op": op, "kernel": kernel, "stride": stride, "padding": _explicit(padding, None, kernel, stride)}
    if op == "gap" and _pair(args[1] if len(args) > 1 else kwargs["output_size"]) != [1, 1]:
        return {"op": "other", "func": func}
    return {"op": op} if op != "other" else {"op": op, "func": func}


def _conv_padding(layer: nn.Conv2D, in_shape: list[int] | None) -> list[int]:
    if layer._padding_algorithm == "SAME":
        return _explicit("same", in_shape, list(layer._kernel_size), list(layer._stride))
    return _explicit(layer._updated_padding, in_shape, list(layer._kernel_size), list(layer._stride))


def _explicit(padding: Any, in_shape: list[int] | None, kernel: list[int], stride: list[int]) -> list[int]:
    """Paddle padding (int, [ph, pw], [t, b, l, r], 'same', 'valid') as [top, bottom, left, right]."""
    if isinstance(padding, str):
        if padding.lower() == "valid" or not in_shape:
            return [0, 0, 0, 0]
        pads = []
        for size, k, s in zip(in_shape[2:], kernel, stride):
            total = max((-(-size // s) - 1) * s + k - size, 0)
            pads += [total // 2, total - total // 2]
        return pads
    if isinstance(padding, int):
        return [padding] * 4
    padding = [int(p) for p in padding]
    return [padding[0], padding[0], padding[1], padding[1]] if len(padding) == 2 else padding[:4]


def _pair(value: Any) -> list[int]:
    return [int(v) for v in value] if isinstance(value, (list, tuple)) else [int(value), int(value)]
