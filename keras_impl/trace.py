"""Trace any functional Keras model into plain op records, capture layer outputs, assign weights.

`crosscheck verify` needs a user's own ResNet's layers in execution order with their real
configuration. A functional model is its own graph: nodes by depth give the execution order and
each node's input tensors give the dataflow. One run of a model that outputs every node gives
the real shapes ('same' padding at stride 2 is asymmetric, so it is resolved per input size) and
the captured outputs. Records are plain dicts, channels first (see crosscheck/verify/graph.py).
"""

from __future__ import annotations

from typing import Any, Collection, Mapping, Sequence

import keras
import numpy as np

from crosscheck import spec as specs

MODEL_INPUT = -1
# keras variable name -> canonical parameter name
_PARAMS = {"kernel": "weight", "bias": "bias", "gamma": "weight", "beta": "bias",
           "moving_mean": "running_mean", "moving_variance": "running_var"}
_OTHER = (keras.layers.Flatten, keras.layers.Reshape, keras.layers.Dropout, keras.layers.InputLayer)


def is_model(candidate: Any) -> bool:
    return isinstance(candidate, keras.Model)


def prepare(model: keras.Model) -> keras.Model:
    """The model itself; a subclassed model has no graph to trace, so it is refused with the reason."""
    if not hasattr(model, "_nodes_by_depth"):
        raise TypeError(f"{type(model).__name__} is a subclassed keras.Model: verify reads the layer graph, so "
                        "build the network with the functional API (keras.Input ... keras.Model(inputs, outputs))")
    return model


def trace(model: keras.Model, images: np.ndarray, capture: Collection[int] = ()) -> tuple[list[dict], dict[int, np.ndarray], np.ndarray]:
    """Run NHWC `images` once: op records, captured outputs (by op index, NCHW), model output."""
    nodes = [node for depth in sorted(model._nodes_by_depth, reverse=True) for node in model._nodes_by_depth[depth]
             if not isinstance(node.operation, keras.layers.InputLayer)]
    for node in nodes:
        if isinstance(node.operation, keras.Model):
            raise TypeError(f"nested model {node.operation.name!r}: verify needs one flat functional graph")
    probe = keras.Model(model.inputs, [node.output_tensors[0] for node in nodes] + [model.outputs[0]])
    values = [keras.ops.convert_to_numpy(v) for v in probe([np.asarray(images, np.float32)], training=False)]
    producer = {id(node.output_tensors[0]): i for i, node in enumerate(nodes)}
    records, captured = [], {}
    for i, node in enumerate(nodes):
        inputs = [producer.get(id(t), MODEL_INPUT) for t in node.input_tensors]
        in_shape = images.shape[1:] if inputs[0] == MODEL_INPUT else values[inputs[0]].shape[1:]
        record = _describe(node.operation, in_shape, len(inputs))
        record.update(index=i, name=node.operation.name, inputs=inputs if record["op"] == "add" else inputs[:1],
                      shape=list(_channels_first(values[i]).shape[1:]))
        records.append(record)
        if i in capture:
            captured[i] = _channels_first(values[i])
    return records, captured, values[-1]


def assign(model: keras.Model, layers: Sequence[tuple[dict, Mapping[str, np.ndarray]]]) -> None:
    """Assign canonical arrays (permuted to keras layout) to each traced layer's variables."""
    for record, arrays in layers:
        variables = {_PARAMS.get(v.name, v.name): v for v in model.get_layer(record["name"]).weights}
        for param, array in arrays.items():
            if param not in variables:
                raise ValueError(f"{record['name']}: the layer has no {param}")
            perm = specs.native_permutation("keras", record["op"], param)
            value = array.transpose(perm) if perm else array
            if tuple(variables[param].shape) != value.shape:
                raise ValueError(f"{record['name']}.{param}: model has {tuple(variables[param].shape)}, weights {value.shape}")
            variables[param].assign(value)


def _channels_first(value: np.ndarray) -> np.ndarray:
    return value.transpose(0, 3, 1, 2) if value.ndim == 4 else value


def _describe(layer: keras.layers.Layer, in_shape: tuple[int, ...], n_inputs: int) -> dict:
    """The op record of one layer call; `in_shape` is its NHWC input shape without the batch axis."""
    params = {_PARAMS[v.name]: v.name for v in layer.weights if v.name in _PARAMS}
    activation = getattr(getattr(layer, "activation", None), "__name__", None)
    if isinstance(layer, keras.layers.Conv2D) and not isinstance(layer, keras.layers.DepthwiseConv2D):
        return {"op": "conv", "in_channels": int(in_shape[-1]), "out_channels": layer.filters,
                "kernel": list(layer.kernel_size), "stride": list(layer.strides),
                "padding": _padding(layer.padding, in_shape, layer.kernel_size, layer.strides),
                "groups": layer.groups, "bias": layer.use_bias, "activation": activation, "params": params}
    if isinstance(layer, keras.layers.BatchNormalization):
        return {"op": "bn", "channels": int(in_shape[-1]), "eps": float(layer.epsilon), "params": params}
    if isinstance(layer, keras.layers.Dense):
        return {"op": "dense", "in_features": int(in_shape[-1]), "out_features": layer.units, "bias": layer.use_bias,
                "activation": activation, "params": params}
    if isinstance(layer, (keras.layers.MaxPooling2D, keras.layers.AveragePooling2D)):
        op = "maxpool" if isinstance(layer, keras.layers.MaxPooling2D) else "avgpool"
        return {"op": op, "kernel": list(layer.pool_size), "stride": list(layer.strides),
                "padding": _padding(layer.padding, in_shape, layer.pool_size, layer.strides)}
    if isinstance(layer, keras.layers.ZeroPadding2D):
        (top, bottom), (left, right) = layer.padding
        return {"op": "pad", "padding": [top, bottom, left, right], "value": 0.0}
    if isinstance(layer, keras.layers.GlobalAveragePooling2D):
        return {"op": "gap"}
    if isinstance(layer, keras.layers.Add) and n_inputs == 2:
        return {"op": "add"}
    if isinstance(layer, keras.layers.ReLU) or (isinstance(layer, keras.layers.Activation) and activation == "relu"):
        return {"op": "relu"}
    if isinstance(layer, keras.layers.Softmax) or (isinstance(layer, keras.layers.Activation) and activation == "softmax"):
        return {"op": "softmax"}
    return {"op": "other", "func": type(layer).__name__}


def _padding(mode: str, in_shape: tuple[int, ...], kernel: Sequence[int], strides: Sequence[int]) -> list[int]:
    """[top, bottom, left, right]: 'same' pads the extra pixel at the bottom/right (asymmetric at stride 2)."""
    if mode == "valid":
        return [0, 0, 0, 0]
    pads = []
    for size, k, s in zip(in_shape[:2], kernel, strides):
        total = max((-(-size // s) - 1) * s + k - size, 0)
        pads += [total // 2, total - total // 2]
    return pads
