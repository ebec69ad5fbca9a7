"""Trace any Keras model (functional, subclassed, custom layers) into plain op records, capture outputs, assign weights.

`crosscheck verify` needs a user's own ResNet's ops in execution order with their real
configuration, however the model is written: a functional graph, a `keras.Model` subclass with
`call()`, blocks as custom `Layer`s, `x + y` or `layers.Add()`, `tf.nn.relu` or `layers.ReLU()`. So
it reads the TensorFlow graph of one traced call (`tf.function`), where every one of those is the
same op: Conv2D, the batch-norm arithmetic (Rsqrt of variance + epsilon), Relu, AddV2, Pad, pools,
Mean, MatMul, Softmax. Variables are bound to the ops that read them through the graph's captures,
and layer names come from the variables' paths (or the op's name scope). The same traced function
returns every recorded op's output, so one run gives the records, the captured outputs and the
model output. A call that fails while tracing (e.g. a residual add of mismatched shapes) ends the
records with the failing op. Records are plain dicts, channels first (see crosscheck/verify/graph.py).
"""

from __future__ import annotations

import contextlib
import re
from typing import Any, Collection, Iterator, Mapping, Sequence

import keras
import numpy as np
import tensorflow as tf

from crosscheck import spec as specs

MODEL_INPUT = -1
# keras variable name -> canonical parameter name
_PARAMS = {"kernel": "weight", "bias": "bias", "gamma": "weight", "beta": "bias",
           "moving_mean": "running_mean", "moving_variance": "running_var"}
_ADDS = {"AddV2", "Add", "AddN"}
_BIAS_ADDS = {"BiasAdd", "AddV2", "Add"}
_READS = {"ReadVariableOp", "Cast", "Identity", "Reshape", "Squeeze"}  # how a variable reaches the op using it
# TF's message when an op cannot be built: "... for '{{node NAME}} = Op[attrs](input, input)' with input shapes: ..."
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_FAILED_NODE = re.compile(r"\{\{node ([^}]+)\}\} = (\w+)\[[^\]]*\]\(([^)]*)\)(?:.*?input shapes: ([^.]*))?", re.S)


def is_model(candidate: Any) -> bool:
    return isinstance(candidate, keras.Model)


@contextlib.contextmanager
def float64() -> Iterator[None]:
    """Keras' float type and dtype policy are float64 while a constructor runs (layers take their dtype when
    made), then restored."""
    floatx, policy = keras.config.floatx(), keras.config.dtype_policy()
    keras.config.set_floatx("float64")
    keras.config.set_dtype_policy("float64")
    try:
        yield
    finally:
        keras.config.set_floatx(floatx)
        keras.config.set_dtype_policy(policy)


def prepare(model: keras.Model) -> keras.Model:
    """The model itself: it was made under `float64()`, and inference mode is chosen per call."""
    return model


def shapes_only(model: keras.Model) -> keras.Model:
    """The model itself (Keras builds every model initialised)."""
    return model


def trace(model: keras.Model, images: np.ndarray,
          capture: Collection[int] = ()) -> tuple[list[dict], dict[int, np.ndarray], np.ndarray | None]:
    """Run NHWC `images` in float64 once: op records, captured outputs (by op index, NCHW), model output (None
    when the call fails: the records then end with the failing op and its `error`)."""
    x = np.asarray(images, np.float64)
    with contextlib.suppress(Exception):  # builds a subclassed model's variables; a failure shows in the trace
        model(x[:1], training=False)
    variables = {id(v.value.handle): v for v in model.weights}
    found: dict[str, Any] = {}

    def call(inputs: tf.Tensor) -> list[tf.Tensor]:
        error = None
        try:
            output = [model(inputs, training=False)]
        except Exception as raised:  # the candidate's own call is wrong: that is a finding, not a usage error
            error, output = raised, []
        graph = tf.compat.v1.get_default_graph()
        records, tensors = _Reader(graph, inputs, variables).read()
        if error is not None:
            records.append(_failure(error, records, tensors))
        found["records"], found["failed"] = records, error is not None
        return output + tensors

    function = tf.function(call, autograph=False)
    values = [v.numpy() for v in function(tf.constant(x))]
    records = found["records"]
    output = None if found["failed"] else values.pop(0)
    captured = {i: _channels_first(values[i]) for i in capture if i < len(values)}
    return records, captured, output


def assign(model: keras.Model, layers: Sequence[tuple[dict, Mapping[str, np.ndarray]]]) -> None:
    """Assign canonical arrays (permuted to keras layout) to each traced layer's variables."""
    variables = {v.path: v for v in model.weights}
    for record, arrays in layers:
        for param, array in arrays.items():
            path = record["params"].get(param)
            if path is None:
                raise ValueError(f"{record['name']}: the layer has no {param}")
            perm = specs.native_permutation("keras", record["op"], param)
            value = array.transpose(perm) if perm else array
            if tuple(variables[path].shape) != value.shape:
                raise ValueError(f"{path}: model has {tuple(variables[path].shape)}, weights {value.shape}")
            variables[path].assign(value)


def read(model: keras.Model, records: Sequence[dict]) -> dict[str, np.ndarray]:
    """Each traced layer's own arrays keyed '{record index}/{canonical param}', in canonical layout."""
    variables = {v.path: v for v in model.weights}
    arrays = {}
    for record in records:
        for param, path in record["params"].items():
            perm = specs.native_permutation("keras", record["op"], param)
            value = np.asarray(variables[path].numpy(), np.float64)
            arrays[f"{record['index']}/{param}"] = value.transpose(np.argsort(perm)) if perm else value
    return arrays


class _Reader:
    """Turns the ops of a traced call into records: the ops on the data path, parameter subgraphs folded in."""

    def __init__(self, graph: tf.Graph, inputs: tf.Tensor, variables: dict[int, Any]) -> None:
        self.graph = graph
        self.resources = {internal.ref(): variables.get(id(external)) for external, internal in graph.captures}
        self.data = {inputs.ref()}  # tensors that depend on the model input
        self.producer = {inputs.ref(): MODEL_INPUT}  # data tensor -> record index
        self.records: list[dict] = []
        self.tensors: list[tf.Tensor] = []
        self.folded: set[str] = set()  # ops already part of a record (bias adds, batch-norm arithmetic)

    def read(self) -> tuple[list[dict], list[tf.Tensor]]:
        for op in self.graph.get_operations():
            data_inputs = [t for t in op.inputs if t.ref() in self.data]
            if not data_inputs or not op.outputs:
                continue
            for t in op.outputs:
                self.data.add(t.ref())
            if op.name in self.folded:
                continue
            record, last = self.describe(op, data_inputs)
            inputs = [self.producer.get(t.ref(), MODEL_INPUT) for t in data_inputs]
            self.add(record, op, last, inputs if record["op"] == "add" else inputs[:1])
        return self.records, self.tensors

    def add(self, record: dict, op: tf.Operation, last: tf.Operation, inputs: list[int]) -> None:
        params = record.get("params", {})
        name = params["weight"].rsplit("/", 1)[0] if "weight" in params else op.name.rsplit("/", 1)[0]
        output = last.outputs[0]
        record.update(index=len(self.records), name=name, inputs=inputs,
                      shape=_channels_first_shape(output.shape.as_list()[1:]))
        self.producer[output.ref()] = record["index"]
        self.records.append(record)
        self.tensors.append(output)

    def describe(self, op: tf.Operation, data_inputs: list[tf.Tensor]) -> tuple[dict, tf.Operation]:
        """The record of `op` and the last op it covers (a conv's bias add, a batch norm's final add)."""
        kind = op.type
        in_shape = data_inputs[0].shape.as_list()[1:]
        if kind in ("Conv2D", "DepthwiseConv2dNative") and len(op.inputs) > 1:
            return self.conv(op, in_shape)
        if kind in ("StatefulPartitionedCall", "PartitionedCall") and (node := self.compiled_conv(op)) is not None:
            return self.grouped_conv(op, in_shape, node)
        if kind == "MatMul":
            weight = self.variable(op.inputs[1])
            bias, last = self.bias(op)
            record = {"op": "dense", "in_features": int(in_shape[-1]), "out_features": int(op.outputs[0].shape[-1]),
                      "bias": bias is not None, "params": _params(weight=weight, bias=bias)}
            return record, last
        if kind == "Mul" and len(data_inputs) == 1:
            bn = self.batch_norm(op, in_shape)
            if bn is not None:
                return bn
        if kind in _ADDS and len(data_inputs) == 2:
            return {"op": "add"}, op
        if kind == "Relu":
            return {"op": "relu"}, op
        if kind == "Softmax":
            return {"op": "softmax"}, op
        if kind in ("Pad", "PadV2"):
            (_, _), (top, bottom), (left, right), (_, _) = tf.get_static_value(op.inputs[1]).tolist()
            value = float(tf.get_static_value(op.inputs[2])) if kind == "PadV2" else 0.0
            return {"op": "pad", "padding": [top, bottom, left, right], "value": value}, op
        if kind in ("MaxPool", "AvgPool"):
            kernel, stride = op.get_attr("ksize")[1:3], op.get_attr("strides")[1:3]
            padding = _padding(op.get_attr("padding").decode(), in_shape, kernel, stride)
            return {"op": "maxpool" if kind == "MaxPool" else "avgpool", "kernel": kernel, "stride": stride,
                    "padding": padding}, op
        if kind == "Mean" and sorted(np.ravel(tf.get_static_value(op.inputs[1])).tolist()) == [1, 2]:
            return {"op": "gap"}, op
        return {"op": "other", "func": kind}, op

    def conv(self, op: tf.Operation, in_shape: list[int]) -> tuple[dict, tf.Operation]:
        weight = self.variable(op.inputs[1])
        kernel = op.inputs[1].shape.as_list()  # HWIO (depthwise: HW, in, multiplier)
        stride = op.get_attr("strides")[1:3]
        mode = op.get_attr("padding").decode()
        if mode == "EXPLICIT":
            explicit = op.get_attr("explicit_paddings")
            padding = [explicit[2], explicit[3], explicit[4], explicit[5]]
        else:
            padding = _padding(mode, in_shape, kernel[:2], stride)
        depthwise = op.type == "DepthwiseConv2dNative"
        bias, last = self.bias(op)
        out_channels = int(op.outputs[0].shape[-1])
        return {"op": "conv", "in_channels": int(in_shape[-1]), "out_channels": out_channels, "kernel": kernel[:2],
                "stride": list(stride), "padding": padding, "groups": int(in_shape[-1]) if depthwise else int(in_shape[-1]) // int(kernel[2]),
                "bias": bias is not None, "params": _params(weight=weight, bias=bias)}, last

    def compiled_conv(self, op: tf.Operation) -> Any:
        """The one Conv2D node of a compiled function call (Keras runs a grouped conv through one on the CPU: TF's
        own Conv2D kernel has no groups there), else None."""
        definition = self.graph._get_function(op.get_attr("f").name).cached_definition
        convs = [node for node in definition.node_def if node.op == "Conv2D"]
        return convs[0] if len(convs) == 1 else None

    def grouped_conv(self, op: tf.Operation, in_shape: list[int], node: Any) -> tuple[dict, tf.Operation]:
        """A conv run inside a compiled function: its kernel is the variable the call captures, its strides and
        padding the inner Conv2D's."""
        weight = next(v for t in op.inputs if (v := self.resources.get(t.ref())) is not None)
        kernel = [int(d) for d in weight.shape]  # HWIO, I the input channels of one group
        stride = list(node.attr["strides"].list.i)[1:3]
        mode = node.attr["padding"].s.decode()
        explicit = list(node.attr["explicit_paddings"].list.i)
        padding = explicit[2:6] if mode == "EXPLICIT" else _padding(mode, in_shape, kernel[:2], stride)
        bias, last = self.bias(op)
        return {"op": "conv", "in_channels": int(in_shape[-1]), "out_channels": kernel[3], "kernel": kernel[:2],
                "stride": stride, "padding": padding, "groups": int(in_shape[-1]) // kernel[2],
                "bias": bias is not None, "params": _params(weight=weight, bias=bias)}, last

    def bias(self, op: tf.Operation) -> tuple[Any, tf.Operation]:
        """The variable added right after `op` (its bias) and the op that adds it, else (None, op)."""
        consumers = op.outputs[0].consumers()
        if len(consumers) == 1 and consumers[0].type in _BIAS_ADDS:
            add = consumers[0]
            other = [t for t in add.inputs if t is not op.outputs[0]]
            variable = self.variable(other[0]) if len(other) == 1 else None
            if variable is not None:
                self.folded.add(add.name)
                return variable, add
        return None, op

    def batch_norm(self, op: tf.Operation, in_shape: list[int]) -> tuple[dict, tf.Operation] | None:
        """`x * (gamma * rsqrt(variance + eps)) + (beta - mean * ...)`: tf.nn.batch_normalization, as keras runs it."""
        scale = next(t for t in op.inputs if t.ref() not in self.data)
        upstream = _upstream(scale.op)
        rsqrt = next((o for o in upstream if o.type == "Rsqrt"), None)
        if rsqrt is None:
            return None
        consumers = op.outputs[0].consumers()
        last = consumers[0] if len(consumers) == 1 and consumers[0].type in _ADDS else op
        self.folded.add(last.name)
        if last is not op:  # the offset (beta - mean * scale) is the add's other input
            upstream |= _upstream(next(t for t in last.inputs if t is not op.outputs[0]).op)
        variables = {}
        for o in upstream:
            if o.type == "Placeholder" and o.outputs[0].ref() in self.resources:
                variable = self.resources[o.outputs[0].ref()]
                if variable is not None and variable.name in _PARAMS:
                    variables[_PARAMS[variable.name]] = variable.path
        eps_add = rsqrt.inputs[0].op
        eps = next((tf.get_static_value(t) for t in eps_add.inputs if tf.get_static_value(t) is not None
                    and np.size(tf.get_static_value(t)) == 1), None)
        return {"op": "bn", "channels": int(in_shape[-1]), "eps": float(eps) if eps is not None else 0.0,
                "params": variables}, last

    def variable(self, tensor: tf.Tensor) -> Any:
        """The keras variable `tensor` reads (through reads, casts and reshapes), or None."""
        op = tensor.op
        while op.type in _READS and op.inputs:
            op = op.inputs[0].op
        return self.resources.get(op.outputs[0].ref()) if op.type == "Placeholder" else None


def _upstream(op: tf.Operation) -> set[tf.Operation]:
    """`op` and every op it depends on."""
    seen, stack = set(), [op]
    while stack:
        current = stack.pop()
        if current in seen:
            continue
        seen.add(current)
        stack.extend(t.op for t in current.inputs)
    return seen


def _failure(error: Exception, records: list[dict], tensors: list[tf.Tensor]) -> dict:
    """The op a failed call could not build, as a record: an add (with its inputs' shapes) when TF names one."""
    message = " ".join(_ANSI.sub("", str(error)).split())
    message = re.sub(r"Exception encountered when calling [\w.]+\(\)\.\s*", "", message)  # keras' wrapper
    match = _FAILED_NODE.search(message)
    by_name = {t.name.split(":")[0]: i for i, t in enumerate(tensors)}
    record = {"op": "other", "func": "call", "name": "", "inputs": [], "input_shapes": []}
    if match:
        node, kind, args = match.group(1), match.group(2), [a.strip() for a in match.group(3).split(",")]
        inputs = [by_name.get(a.split(":")[0], MODEL_INPUT) for a in args]
        shapes = [_channels_first_shape(tensors[i].shape.as_list()[1:]) if i >= 0 else [] for i in inputs]
        record.update(op="add" if kind in _ADDS and len(args) == 2 else "other", func=kind,
                      name=node.rsplit("/", 1)[0], inputs=inputs, input_shapes=shapes)
    brief = message.split(" for '{{node")[0]
    record.update(index=len(records), shape=None, error=f"{type(error).__name__}: {brief}")
    return record


def _params(**variables: Any) -> dict[str, str]:
    return {param: v.path for param, v in variables.items() if v is not None}


def _channels_first(value: np.ndarray) -> np.ndarray:
    return value.transpose(0, 3, 1, 2) if value.ndim == 4 else value


def _channels_first_shape(shape: list[int]) -> list[int]:
    return [shape[2], shape[0], shape[1]] if len(shape) == 3 else shape


def _padding(mode: str, in_shape: Sequence[int], kernel: Sequence[int], strides: Sequence[int]) -> list[int]:
    """[top, bottom, left, right]: 'SAME' pads the extra pixel at the bottom/right (asymmetric at stride 2)."""
    if mode == "VALID":
        return [0, 0, 0, 0]
    pads = []
    for size, k, s in zip(in_shape[:2], kernel, strides):
        total = max((-(-size // s) - 1) * s + k - size, 0)
        pads += [total // 2, total - total // 2]
    return pads
