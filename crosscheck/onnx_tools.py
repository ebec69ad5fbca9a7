"""The framework-free half of ONNX export: normalise, stamp and check an exported file, run it in onnxruntime.

Each framework's own exporter (the backend's `onnx_export`, run in that framework's worker) writes a raw
file; `finalize` turns it into a crosscheck export: the input renamed `images` and the output
`logits`, their first dimension named `batch`, provenance in `metadata_props`, and
`onnx.checker.check_model` (with shape inference) passing. onnx and onnxruntime are not deep-learning
frameworks, so this module runs in the main process; it needs the optional `[onnx]` extra.
"""

from __future__ import annotations

import os
import time
from typing import Mapping

import numpy as np

from crosscheck.backends import FrameworkMissingError
from crosscheck.spec import Preprocessing

try:
    import onnx
    import onnxruntime
except ModuleNotFoundError as missing:  # the optional [onnx] extra
    raise FrameworkMissingError(f"ONNX support is not installed ({missing}); "
                                "install it with: pip install 'crosscheck[onnx]'") from missing

INPUT_NAME = "images"
OUTPUT_NAME = "logits"
PREPROCESSED_NAME = "images_preprocessed"  # the exported model's own input, behind a preprocessing prefix
BATCH_DIM = "batch"
PROVIDERS = ["CPUExecutionProvider"]


class OnnxFileError(ValueError):
    """An exported file that is not a usable crosscheck export; the message names the file and the fault."""


def finalize(path: str | os.PathLike[str], metadata: Mapping[str, str], opset: int) -> None:
    """Normalise the exporter's raw file in place: I/O names, batch dimension, metadata, then the checker."""
    model = _load(path)
    found = next((entry.version for entry in model.opset_import if entry.domain in ("", "ai.onnx")), None)
    if found != opset:
        raise OnnxFileError(f"{path}: the exporter wrote opset {found}, not the requested {opset}")
    _rename_io(model, path)
    del model.metadata_props[:]
    onnx.helper.set_model_props(model, dict(metadata))
    try:
        onnx.checker.check_model(model, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as error:
        raise OnnxFileError(f"{path}: fails onnx.checker: {error}") from error
    onnx.save(model, os.fspath(path))


def prepend_preprocessing(path: str | os.PathLike[str], preprocessing: Preprocessing, input_layout: str) -> None:
    """Make a finalised export start with `preprocessing`, in place: its input becomes RGB float32 in [0, 255] in the
    same layout, computed as the reference does (channel gather, / divisor, - mean, / std; a division by ones is
    left out), and the convention is recorded in metadata_props."""
    model = _load(path)
    graph = model.graph
    original = next(value for value in graph.input if value.name == INPUT_NAME)
    raw = onnx.ValueInfoProto()
    raw.CopyFrom(original)
    _rename(graph, INPUT_NAME, PREPROCESSED_NAME)
    graph.input.remove(next(value for value in graph.input if value.name == PREPROCESSED_NAME))
    graph.input.insert(0, raw)
    axis = 1 if input_layout == "nchw" else 3
    shape = [1, 3, 1, 1] if input_layout == "nchw" else [1, 1, 1, 3]
    flip = preprocessing.channel_order != "RGB"
    steps = [("Gather", np.array(preprocessing.source_channels, np.int64), {"axis": axis})] if flip else []
    steps += [("Div", np.array(preprocessing.divisor, np.float32), {}),
              ("Sub", np.array(preprocessing.mean, np.float32).reshape(shape), {})]
    if any(value != 1.0 for value in preprocessing.std):
        steps.append(("Div", np.array(preprocessing.std, np.float32).reshape(shape), {}))
    nodes, current = [], INPUT_NAME
    for index, (op, constant, attributes) in enumerate(steps):
        name = f"preprocess_{index}_{op.lower()}"
        graph.initializer.append(onnx.numpy_helper.from_array(constant, f"{name}_constant"))
        output = PREPROCESSED_NAME if index == len(steps) - 1 else f"{name}_output"
        nodes.append(onnx.helper.make_node(op, [current, f"{name}_constant"], [output], name=name, **attributes))
        current = output
    for position, node in enumerate(nodes):
        graph.node.insert(position, node)
    onnx.helper.set_model_props(model, {**{prop.key: prop.value for prop in model.metadata_props},
                                        **preprocessing_metadata(preprocessing)})
    try:
        onnx.checker.check_model(model, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as error:
        raise OnnxFileError(f"{path}: fails onnx.checker after the preprocessing prefix: {error}") from error
    onnx.save(model, os.fspath(path))


def preprocessing_metadata(preprocessing: Preprocessing) -> dict[str, str]:
    """What an export with a preprocessing prefix records: the style, its numbers and what the input takes."""
    return {
        "preprocess": preprocessing.style,
        "preprocess_channel_order": preprocessing.channel_order,
        "preprocess_divisor": repr(preprocessing.divisor),
        "preprocess_mean": ",".join(map(repr, preprocessing.mean)),
        "preprocess_std": ",".join(map(repr, preprocessing.std)),
        "preprocess_reference": preprocessing.reference,
        "input_range": "RGB float32 in [0, 255]",
    }


def read_metadata(path: str | os.PathLike[str]) -> dict[str, str]:
    """The file's metadata_props as a dict (without loading the weights)."""
    model = onnx.load(os.fspath(path), load_external_data=False)
    return {prop.key: prop.value for prop in model.metadata_props}


def session(path: str | os.PathLike[str]) -> onnxruntime.InferenceSession:
    """An onnxruntime CPU session for a finalised export."""
    return onnxruntime.InferenceSession(os.fspath(path), providers=PROVIDERS)


def run(model: onnxruntime.InferenceSession, images_nchw: np.ndarray) -> np.ndarray:
    """Logits for an NCHW float32 batch, transposed first when the export takes NHWC (per its metadata)."""
    layout = model.get_modelmeta().custom_metadata_map.get("input_layout", "nchw")
    images = np.asarray(images_nchw, np.float32)
    feed = np.ascontiguousarray(images.transpose(0, 2, 3, 1) if layout == "nhwc" else images)
    return model.run([OUTPUT_NAME], {INPUT_NAME: feed})[0]


def latency(model: onnxruntime.InferenceSession, images_nchw: np.ndarray, repeats: int = 10) -> float:
    """Median wall seconds of one `run` after a warm-up run."""
    run(model, images_nchw)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run(model, images_nchw)
        times.append(time.perf_counter() - started)
    return float(np.median(times))


def _load(path: str | os.PathLike[str]) -> onnx.ModelProto:
    try:
        return onnx.load(os.fspath(path))
    except Exception as error:  # onnx raises DecodeError, OSError or ValueError depending on the damage
        raise OnnxFileError(f"{path}: the exporter's output is not a loadable ONNX model ({error})") from error


def _rename_io(model: onnx.ModelProto, path: str | os.PathLike[str]) -> None:
    """Give the single input and output their crosscheck names and name their first dimension `batch`."""
    graph = model.graph
    initializers = {tensor.name for tensor in graph.initializer}
    inputs = [value for value in graph.input if value.name not in initializers]
    if len(inputs) != 1 or len(graph.output) != 1:
        raise OnnxFileError(f"{path}: expected one input and one output, found {len(inputs)} and {len(graph.output)}")
    for value, name in ((inputs[0], INPUT_NAME), (graph.output[0], OUTPUT_NAME)):
        _rename(graph, value.name, name)
        batch = value.type.tensor_type.shape.dim[0]
        if batch.HasField("dim_value"):
            raise OnnxFileError(f"{path}: {name} has a fixed batch size {batch.dim_value}; the export must keep it dynamic")
        batch.dim_param = BATCH_DIM


def _rename(graph: onnx.GraphProto, old: str, new: str) -> None:
    """Rename one value everywhere in the (subgraph-free) graph."""
    for node in graph.node:
        node.input[:] = [new if name == old else name for name in node.input]
        node.output[:] = [new if name == old else name for name in node.output]
    for value in (*graph.input, *graph.output, *graph.value_info):
        if value.name == old:
            value.name = new
