"""The Adapter of Keras 3 on TensorFlow (crosscheck/backends/protocols.py) over keras_impl."""

from __future__ import annotations

import contextlib
import os
import weakref
from typing import Any, Iterator, Mapping

import keras
import numpy as np
import tensorflow as tf

from crosscheck import spec as specs
from crosscheck.spec import ModelSpec
from keras_impl import resnet
from keras_impl.preprocess import preprocess_input

# One multi-output model per inspected model, built on first use (building one costs seconds).
_BLOCK_MODELS: weakref.WeakKeyDictionary[keras.Model, keras.Model] = weakref.WeakKeyDictionary()


def configure(device: str, allow_tf32: bool) -> dict[str, str]:
    """Pick CPU or GPU ("auto" prefers a GPU), set TF32 and op determinism; return the settings in force."""
    if device not in ("auto", "cpu", "cuda"):
        raise ValueError(f"device must be auto, cpu or cuda, got {device!r}")
    gpus = tf.config.list_physical_devices("GPU")
    if device == "cuda" and not gpus:
        raise RuntimeError("device 'cuda' requested, but TensorFlow sees no GPU")
    if device == "cpu" and gpus:
        tf.config.set_visible_devices([], "GPU")  # must run before TensorFlow initialises the GPUs
        gpus = []
    for gpu in gpus:
        tf.config.experimental.set_memory_growth(gpu, True)  # share the GPU with the other workers
    tf.config.experimental.enable_tensor_float_32_execution(allow_tf32)
    tf.config.experimental.enable_op_determinism()
    return {
        "framework": "keras",
        "keras": keras.__version__,
        "tensorflow": tf.__version__,
        "backend": keras.backend.backend(),
        "device": _device_name(gpus[0]) if gpus else "cpu",
        "tf32": str(tf.config.experimental.tensor_float_32_execution_enabled()),
        "op_determinism": str(_op_determinism_enabled()),
        "onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "default (on)"),
        "image_data_format": keras.backend.image_data_format(),
    }


def _op_determinism_enabled() -> bool:
    """TensorFlow's op-determinism switch as it stands (TF 2.21 exports the setter only; the reader is its own)."""
    from tensorflow.python.framework import config

    return config.is_op_determinism_enabled()


def build(model_id: str, num_classes: int | None = None, dtype: str = "float32", uninitialised: bool = False) -> keras.Model:
    """The spec's model with a logits head (None: the id's default classes; NO_HEAD: include_top=False, pooled
    features), computing in `dtype`; any input size, as torch and paddle accept. Initialised whatever
    `uninitialised` says: Keras has no public way to create a layer's variables without their initialiser."""
    with _floatx(dtype):
        if num_classes == specs.NO_HEAD:
            return resnet.build(model_id, include_top=False, pooling="avg", input_tensor=keras.Input(shape=(None, None, 3)))
        return resnet.build(model_id, classes=num_classes, classifier_activation=None,
                            input_tensor=keras.Input(shape=(None, None, 3)))


@contextlib.contextmanager
def _floatx(dtype: str) -> Iterator[None]:
    """Build layers (and the Input) in `dtype`: Keras takes both from the global floatx and dtype policy."""
    floatx, policy = keras.config.floatx(), keras.config.dtype_policy()
    keras.config.set_floatx(dtype)
    keras.config.set_dtype_policy(dtype)
    try:
        yield
    finally:
        keras.config.set_floatx(floatx)
        keras.config.set_dtype_policy(policy)


def cast(model: keras.Model, spec: ModelSpec, dtype: str) -> keras.Model:
    """The model rebuilt in `dtype` (a Keras variable's dtype is fixed once created) with the weights copied from
    `model` in memory, layer by layer in the builder's order."""
    rebuilt = build(spec.model_id, spec.num_classes, dtype)
    for target, source in zip(rebuilt.weights, model.weights, strict=True):
        target.assign(np.asarray(source.numpy(), target.dtype))
    return rebuilt


def get_native(model: keras.Model, spec: ModelSpec) -> dict[str, np.ndarray]:
    """{'conv1_conv/kernel': array, ...} for every variable of the spec's layers, in keras layout."""
    return {key: variable.numpy() for key, variable in _variables(model, spec).items()}


def set_native(model: keras.Model, spec: ModelSpec, native: Mapping[str, np.ndarray]) -> None:
    """Assign every native array; raise WeightMismatchError naming each missing, unexpected or mis-shaped key."""
    variables = _variables(model, spec)
    expected = spec.native_shapes("keras")
    problems = specs.shape_problems(expected, specs.shapes_of(native))
    problems += [f"model has no variable {key}" for key in expected if key not in variables]
    problems += [f"{key}: model variable has shape {tuple(variables[key].shape)}, expected {shape}"
                 for key, shape in expected.items() if key in variables and tuple(variables[key].shape) != shape]
    if problems:
        raise specs.WeightMismatchError(spec.model_id, "keras", problems)
    for key in expected:
        variables[key].assign(np.asarray(native[key], dtype=variables[key].dtype))


def forward(model: keras.Model, images_nchw: np.ndarray) -> np.ndarray:
    """Logits for an NCHW batch (transposed to the model's NHWC), computed in the model's dtype."""
    return _run(model, images_nchw)


def preprocess(images_nchw: np.ndarray, style: str) -> np.ndarray:
    """keras_impl.preprocess_input on an NCHW RGB [0, 255] batch (transposed to channels last and back)."""
    nhwc = np.ascontiguousarray(np.asarray(images_nchw).transpose(0, 2, 3, 1))
    return keras.ops.convert_to_numpy(preprocess_input(nhwc, style)).transpose(0, 3, 1, 2)


def block_outputs(model: keras.Model, images_nchw: np.ndarray) -> dict[str, np.ndarray]:
    """NCHW outputs of 'stem' (pool1_pool, or conv1_relu for the pool-less CIFAR stem), every block (its `_out`
    layer, by block name) and 'logits'."""
    if model not in _BLOCK_MODELS:
        has_pool = any(layer.name == "pool1_pool" for layer in model.layers)
        names = {"stem": "pool1_pool" if has_pool else "conv1_relu"}
        names.update({layer.name.removesuffix("_out"): layer.name for layer in model.layers if layer.name.endswith("_out")})
        names["logits"] = "predictions" if any(layer.name == "predictions" for layer in model.layers) else "avg_pool"
        outputs = {key: model.get_layer(name).output for key, name in names.items()}
        _BLOCK_MODELS[model] = keras.Model(model.input, outputs, name=f"{model.name}_blocks")
    outputs = _run(_BLOCK_MODELS[model], images_nchw)
    return {key: value.transpose(0, 3, 1, 2) if value.ndim == 4 else value for key, value in outputs.items()}


def _run(model: keras.Model, images_nchw: np.ndarray) -> Any:
    """Outputs (an array or a dict of them) of an eager inference-mode call on the NHWC batch.

    Eager beats predict_on_batch for the few calls crosscheck makes: on 2 CPU cores ResNet50 at
    batch 2 takes ~0.5 s per call, while predict_on_batch first traces for ~1.2 s (ResNet152: ~5 s).
    """
    images = np.ascontiguousarray(np.asarray(images_nchw, model.inputs[0].dtype).transpose(0, 2, 3, 1))
    return keras.tree.map_structure(keras.ops.convert_to_numpy, model(images, training=False))


def _variables(model: keras.Model, spec: ModelSpec) -> dict[str, keras.Variable]:
    """Every variable of the spec's layers by native key ('layer/variable'); an absent layer raises ValueError."""
    return {f"{layer.name}/{variable.name}": variable
            for layer in spec.layers for variable in model.get_layer(layer.name).weights}


def _device_name(gpu: tf.config.PhysicalDevice) -> str:
    """'cuda:0 (NVIDIA ...)': where the model runs, with the GPU's model name when TensorFlow knows it."""
    details = tf.config.experimental.get_device_details(gpu)
    return f"cuda:0 ({details['device_name']})" if "device_name" in details else "cuda:0"
