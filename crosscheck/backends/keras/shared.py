"""Keras 3 code that runs on every Keras backend (TensorFlow, JAX, PyTorch): the model contract over keras_impl
and the training loop around a backend's own gradient.

The participants `keras`, `keras_jax` and `keras_torch` import these; what differs per backend (device
switches, how gradients are taken, tracing, ONNX export) lives in each backend's own role modules. Only `keras`
APIs here, never the engine underneath.
"""

from __future__ import annotations

import contextlib
import weakref
from typing import Any, Callable, Iterator, Mapping, Sequence

import keras
import numpy as np

from crosscheck import spec as specs
from crosscheck.spec import ModelSpec
from keras_impl import resnet
from keras_impl.preprocess import preprocess_input

# Keras' type promotion turns float64 into float32 on every backend but TensorFlow (keras.src.backend.common.dtypes,
# "aligned with JAX's default": 64-bit types off). BatchNormalization computes in result_type(input, "float32"), so a
# float64 model's BN runs in float32 on JAX and PyTorch (docs/backends.md names it).
FLOAT64_DEMOTED = "demoted to float32 by Keras type promotion (BatchNormalization computes in float32)"


def keep_float64() -> str:
    """Let Keras' type promotion keep float64, as JAX with 64-bit types and torch themselves do, so a float64 model
    computes in float64 throughout; return the setting now in force, for the run's report."""
    from keras.src.backend.common import dtypes

    dtypes.BIT64_TO_BIT32_DTYPE["float64"] = "float64"
    return "kept (BIT64_TO_BIT32_DTYPE['float64'] set to float64)"


# One multi-output model per inspected model, built on first use (building one costs seconds).
_BLOCK_MODELS: weakref.WeakKeyDictionary[keras.Model, keras.Model] = weakref.WeakKeyDictionary()


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
        target.assign(np.asarray(keras.ops.convert_to_numpy(source), target.dtype))
    return rebuilt


def get_native(model: keras.Model, spec: ModelSpec) -> dict[str, np.ndarray]:
    """{'conv1_conv/kernel': array, ...} for every variable of the spec's layers, in keras layout."""
    return {key: keras.ops.convert_to_numpy(variable) for key, variable in _variables(model, spec).items()}


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
    """Outputs (an array or a dict of them) of an eager inference-mode call on the NHWC batch (eager: for the few
    calls crosscheck makes, predict_on_batch's tracing costs more than it saves)."""
    images = np.ascontiguousarray(np.asarray(images_nchw, model.inputs[0].dtype).transpose(0, 2, 3, 1))
    return keras.tree.map_structure(keras.ops.convert_to_numpy, model(images, training=False))


def _variables(model: keras.Model, spec: ModelSpec) -> dict[str, keras.Variable]:
    """Every variable of the spec's layers by native key ('layer/variable'); an absent layer raises ValueError."""
    return {f"{layer.name}/{variable.name}": variable
            for layer in spec.layers for variable in model.get_layer(layer.name).weights}


# Training (crosscheck train-step). Hyperparameters arrive translated (crosscheck.training_conventions): BN
# momentum in Keras' meaning (1 - torch's). Weight decay stays torch's coupled L2: it is added to the gradient
# here, because Keras' `SGD(weight_decay=)` is decoupled (it subtracts lr * wd * p apart from the momentum).

# (model, its trainable variables, NHWC images, integer labels) -> (loss, the variables' gradients), one
# training-mode forward and backward in the backend's own autodiff; BN statistics updated as Keras updates them
Gradients = Callable[[keras.Model, Sequence[keras.Variable], np.ndarray, np.ndarray], tuple[Any, Sequence[Any]]]


def softmax_loss(labels: Any, logits: Any) -> Any:
    """Mean softmax cross-entropy of the logits: the loss every framework's train-step minimises."""
    return keras.ops.mean(keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True))


def set_bn(model: keras.Model, momentum: float, epsilon: float) -> None:
    """Every BatchNormalization's momentum (Keras: the weight of the old moving statistics) and epsilon."""
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum, layer.epsilon = momentum, epsilon


def optimizer(dtype: str, hyper: Mapping[str, float]) -> keras.optimizers.SGD:
    """SGD with momentum and no weight decay of its own, its learning rate a `dtype` variable (Keras makes it in
    floatx)."""
    with _floatx(dtype):
        return keras.optimizers.SGD(learning_rate=hyper["lr"], momentum=hyper["momentum"])


def coupled_l2(gradients: Sequence[Any], variables: Sequence[keras.Variable], weight_decay: float) -> list[Any]:
    """g + wd * p for every variable: torch's weight decay, applied before the momentum."""
    return [g + weight_decay * keras.ops.convert_to_tensor(v) for g, v in zip(gradients, variables)]


def train(gradients: Gradients, model: keras.Model, spec: ModelSpec, native: Mapping[str, np.ndarray],
          images_nchw: np.ndarray, labels: np.ndarray, hyper: Mapping[str, float], steps: int
          ) -> tuple[list[float], dict[str, np.ndarray], dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Load `native`, run `steps` training-mode SGD steps (gradients from the backend's `gradients`) on mean softmax
    cross-entropy of the logits; return the losses, the last step's gradients, the BN statistics after the first
    step and the state after the last (native keys, Keras layout, the model's dtype)."""
    set_native(model, spec, native)
    set_bn(model, hyper["bn_momentum"], hyper["bn_epsilon"])
    variables = _variables(model, spec)
    trainable = {key: v for key, v in variables.items() if v.trainable}
    dtype = model.inputs[0].dtype
    sgd = optimizer(dtype, hyper)
    images = np.ascontiguousarray(np.asarray(images_nchw, dtype).transpose(0, 2, 3, 1))
    targets = np.asarray(labels, np.int64)
    statistics = [layer.native_key(p, "keras") for layer in spec.layers if layer.kind == "bn"
                  for p in ("running_mean", "running_var")]
    losses, last, first = [], {}, {}
    for _ in range(steps):
        loss, grads = gradients(model, list(trainable.values()), images, targets)
        last = {key: keras.ops.convert_to_numpy(g) for key, g in zip(trainable, grads)}
        sgd.apply_gradients(zip(coupled_l2(grads, list(trainable.values()), hyper["weight_decay"]), trainable.values()))
        losses.append(float(keras.ops.convert_to_numpy(loss)))
        first = first or {key: keras.ops.convert_to_numpy(variables[key]) for key in statistics}
    return losses, last, first, {key: keras.ops.convert_to_numpy(v) for key, v in variables.items()}
