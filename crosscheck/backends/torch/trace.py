"""Trace any PyTorch model's forward pass into plain op records, capture op outputs, assign weights.

`crosscheck verify` needs the layers of a user's own ResNet in execution order with their real
configuration, whatever the module names. A TorchFunctionMode sees every functional call (conv2d,
batch_norm, relu, the residual `+=`, max_pool2d, avg_pool2d, pad, linear, softmax, and squeeze-excitation's
mean, sigmoid or hardsigmoid and multiply), and tensor identities give
the dataflow between them. Records are plain dicts (see crosscheck/verify/graph.py for the schema).
"""

from __future__ import annotations

import contextlib
from typing import Any, Callable, Collection, Mapping, Sequence

import numpy as np
import torch
from torch.overrides import TorchFunctionMode


MODEL_INPUT = -1  # producer index of the model's input (and of any tensor the trace did not produce)

_ADD = {"add", "add_", "__add__", "__iadd__", "__radd__"}
_RELU = {"relu", "relu_"}
_SOFTMAX = {"softmax", "log_softmax"}
_GAP = {"adaptive_avg_pool2d", "mean"}
_MUL = {"mul", "mul_", "__mul__", "__imul__", "__rmul__"}
_GATES = {"sigmoid": "sigmoid", "sigmoid_": "sigmoid", "hardsigmoid": "hard_sigmoid", "hardsigmoid_": "hard_sigmoid"}
_TWO_INPUTS = {"add", "mul"}  # ops whose record keeps both producers


def is_model(candidate: Any) -> bool:
    return isinstance(candidate, torch.nn.Module)


def float64() -> contextlib.AbstractContextManager:
    """Nothing to set before a torch constructor runs: `prepare` casts the built model."""
    return contextlib.nullcontext()


def prepare(model: torch.nn.Module) -> torch.nn.Module:
    """Inference mode on the CPU in float64 (verify's numbers are proven in float64): BN uses its running statistics."""
    return model.double().eval()


def shapes_only(model: torch.nn.Module) -> torch.nn.Module:
    """The model on the meta device: its trace records every op with its shapes and computes nothing."""
    return model.to("meta")


def trace(model: torch.nn.Module, images: np.ndarray,
          capture: Collection[int] = ()) -> tuple[list[dict], dict[int, np.ndarray], np.ndarray | None]:
    """Run `images` (the model's own layout) in float64 once: op records, captured outputs (by op index, NCHW),
    model output. A forward that raises ends the records with the failing op (its `error`) and gives no output; so
    does a model on the meta device (`shapes_only`), which has no values to capture."""
    tracer = _Tracer(_parameter_names(model), set(capture))
    handles = [module.register_forward_pre_hook(tracer.enter(name)) for name, module in model.named_modules()]
    handles += [module.register_forward_hook(tracer.leave) for module in model.modules()]
    try:
        with torch.no_grad(), tracer:
            output = model(torch.from_numpy(np.ascontiguousarray(images, np.float64)).to(_device_of(model)))
    except Exception as error:  # the candidate's own forward crashed: that is a finding, not a usage error
        tracer.failed(error)
        return tracer.records, tracer.captured, None
    finally:
        for handle in handles:
            handle.remove()
    if not isinstance(output, torch.Tensor):
        raise TypeError(f"the model returned {type(output).__name__}, not one tensor")
    return tracer.records, tracer.captured, None if output.is_meta else output.detach().numpy().copy()


def _device_of(model: torch.nn.Module) -> torch.device:
    """Where the model's parameters are (the CPU for one without any)."""
    return next(model.parameters(), torch.empty(0)).device


def assign(model: torch.nn.Module, layers: Sequence[tuple[dict, Mapping[str, np.ndarray]]]) -> None:
    """Copy canonical arrays (torch layout) into each traced layer's parameters and BN statistics."""
    state = dict(model.named_parameters()) | dict(model.named_buffers())
    with torch.no_grad():
        for record, arrays in layers:
            for param, array in arrays.items():
                name = record["params"].get(param)
                if name is None:
                    raise ValueError(f"{record['name'] or record['op']}: the layer has no {param}")
                target = state[name]
                if tuple(target.shape) != array.shape:
                    raise ValueError(f"{name}: model has shape {tuple(target.shape)}, weights have {array.shape}")
                target.copy_(torch.from_numpy(np.ascontiguousarray(array)))


def read(model: torch.nn.Module, records: Sequence[dict]) -> dict[str, np.ndarray]:
    """Each traced layer's own arrays keyed '{record index}/{canonical param}' (torch layout is canonical)."""
    state = dict(model.named_parameters()) | dict(model.named_buffers())
    return {f"{r['index']}/{param}": state[name].detach().cpu().numpy().astype(np.float64)
            for r in records for param, name in r["params"].items()}


def _parameter_names(model: torch.nn.Module) -> dict[int, str]:
    return {id(t): name for name, t in [*model.named_parameters(), *model.named_buffers()]}


class _Tracer(TorchFunctionMode):
    """Records the ops of interest with their producers and the innermost module that ran them."""

    def __init__(self, names: dict[int, str], capture: set[int]) -> None:
        super().__init__()
        self.names = names
        self.capture = capture
        self.records: list[dict] = []
        self.captured: dict[int, np.ndarray] = {}
        self.producer: dict[int, int] = {}
        self.alive: list[torch.Tensor] = []  # keeps traced tensors alive so their ids stay unique
        self.stack: list[str] = []
        self.failing: dict | None = None  # the op that raised, described before the exception propagates


    def enter(self, name: str) -> Callable[..., None]:
        def hook(module: torch.nn.Module, args: Any) -> None:
            self.stack.append(name)
        return hook

    def leave(self, module: torch.nn.Module, args: Any, output: Any) -> None:
        self.stack.pop()

    def failed(self, error: Exception) -> None:
        """End the records with the op that raised (or a generic one) carrying the error message."""
        record = self.failing or {"op": "other", "func": "forward", "name": self.stack[-1] if self.stack else "",
                                  "inputs": [], "input_shapes": []}
        record.update(index=len(self.records), shape=None, error=f"{type(error).__name__}: {error}")
        self.records.append(record)

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        tensors = [a for a in args if isinstance(a, torch.Tensor)]
        inputs = [self.producer.get(id(t), MODEL_INPUT) for t in tensors[:2]]
        name = getattr(func, "__name__", str(func))
        try:
            output = func(*args, **kwargs)
        except Exception:
            if self.failing is None:
                record = _describe(name, args, kwargs, self.names, failing=True) or {"op": "other", "func": name}
                record.update(name=self.stack[-1] if self.stack else "",
                              inputs=inputs if record["op"] in _TWO_INPUTS else inputs[:1],
                              input_shapes=[list(t.shape[1:]) for t in tensors[:2]])
                self.failing = record
            raise
        if not isinstance(output, torch.Tensor) or not output.is_floating_point():
            return output
        record = _describe(name, args, kwargs, self.names)
        if record is None:
            return output
        if record["op"] not in _TWO_INPUTS:
            inputs = inputs[:1]
        index = len(self.records)
        record.update(index=index, name=self.stack[-1] if self.stack else "", inputs=inputs,
                      shape=list(output.shape[1:]))
        self.records.append(record)
        self.producer[id(output)] = index
        self.alive.append(output)
        if index in self.capture and not output.is_meta:
            self.captured[index] = output.detach().numpy().copy()
        return output


def _describe(name: str, args: tuple, kwargs: dict, names: dict[int, str], failing: bool = False) -> dict | None:
    """The op record (without index/name/inputs/shape) for one call, or None for calls that carry no data;
    `failing`: the call raised, so an add of two feature maps is a residual add whatever their shapes."""
    x = args[0] if args and isinstance(args[0], torch.Tensor) else None
    if x is None:
        return None
    if name == "conv2d":
        return _conv(x, *_args(args, kwargs, ("weight", "bias", "stride", "padding", "dilation", "groups"),
                               (None, None, 1, 0, 1, 1)), names)
    if name == "batch_norm":
        mean, var, weight, bias, _, _, eps = _args(args, kwargs, ("running_mean", "running_var", "weight", "bias",
                                                                  "training", "momentum", "eps"),
                                                    (None, None, None, None, False, 0.1, 1e-5))
        params = {"weight": weight, "bias": bias, "running_mean": mean, "running_var": var}
        return {"op": "bn", "channels": int(x.shape[1]), "eps": float(eps), "params": _names(params, names)}
    if name == "linear":
        weight, bias = _args(args, kwargs, ("weight", "bias"), (None, None))
        return {"op": "dense", "in_features": int(weight.shape[1]), "out_features": int(weight.shape[0]),
                "bias": bias is not None, "params": _names({"weight": weight, "bias": bias}, names)}
    if name == "max_pool2d":
        kernel, stride, padding = _args(args, kwargs, ("kernel_size", "stride", "padding"), (None, None, 0))
        kernel = _pair(kernel)
        return {"op": "maxpool", "kernel": kernel, "stride": _pair(stride) if stride not in (None, ()) else kernel,
                "padding": _tblr(padding)}
    if name == "avg_pool2d":
        kernel, stride, padding, ceil_mode, count_pad = _args(
            args, kwargs, ("kernel_size", "stride", "padding", "ceil_mode", "count_include_pad"), (None, None, 0, False, True))
        kernel = _pair(kernel)
        return {"op": "avgpool", "kernel": kernel, "stride": _pair(stride) if stride not in (None, ()) else kernel,
                "padding": _tblr(padding), "ceil_mode": bool(ceil_mode), "count_include_pad": bool(count_pad)}
    if name == "pad":
        pad, _, value = _args(args, kwargs, ("pad", "mode", "value"), (None, "constant", None))
        left, right, top, bottom = (list(pad) + [0, 0, 0, 0])[:4]
        return {"op": "pad", "padding": [top, bottom, left, right], "value": float(value or 0.0)}
    if name in _ADD:
        other = args[1] if len(args) > 1 else kwargs.get("other")
        if isinstance(other, torch.Tensor) and x.dim() == other.dim() == 4 and (failing or other.shape == x.shape):
            return {"op": "add"}
        return None
    if name in _MUL:  # a feature map times a per-channel gate (squeeze-excitation); a scalar factor is no op here
        other = args[1] if len(args) > 1 else kwargs.get("other")
        return {"op": "mul"} if isinstance(other, torch.Tensor) and x.dim() == other.dim() == 4 else None
    if name in _GATES:
        return {"op": _GATES[name]}
    if name in _RELU:
        return {"op": "relu"}
    if name in _SOFTMAX:
        return {"op": "softmax"}
    if name in _GAP:
        return {"op": "gap"}
    if name in ("flatten", "view", "reshape", "squeeze"):
        return {"op": "other", "func": name}
    return None


def _conv(x: torch.Tensor, weight: torch.Tensor, bias: Any, stride: Any, padding: Any, dilation: Any,
          groups: int, names: dict[int, str]) -> dict:
    kernel = list(weight.shape[2:])
    if padding == "same":
        padding = [(k - 1) // 2 for k in kernel]  # torch allows 'same' only at stride 1: symmetric for odd k
    elif padding == "valid":
        padding = 0
    return {"op": "conv", "in_channels": int(x.shape[1]), "out_channels": int(weight.shape[0]), "kernel": kernel,
            "stride": _pair(stride), "padding": _tblr(padding), "dilation": _pair(dilation), "groups": int(groups),
            "bias": bias is not None, "params": _names({"weight": weight, "bias": bias}, names)}


def _args(args: tuple, kwargs: dict, names: tuple[str, ...], defaults: tuple) -> list:
    """Positional-or-keyword arguments after the input, by name, with defaults."""
    rest = list(args[1:])
    return [rest[i] if i < len(rest) else kwargs.get(n, d) for i, (n, d) in enumerate(zip(names, defaults))]


def _names(tensors: dict[str, Any], names: dict[int, str]) -> dict[str, str]:
    return {param: names[id(t)] for param, t in tensors.items() if t is not None and id(t) in names}


def _pair(value: Any) -> list[int]:
    return [int(v) for v in value] if isinstance(value, (tuple, list)) else [int(value), int(value)]


def _tblr(padding: Any) -> list[int]:
    """Torch's symmetric (ph, pw) padding as [top, bottom, left, right]."""
    ph, pw = _pair(padding)
    return [ph, ph, pw, pw]
