"""Keras' training conventions, each against numpy: the BN momentum's meaning and variance estimator, SGD's
weight decay; and a train-step whose Keras worker has a slip planted (tests/torch/test_train_step.py has the
command and the torch side)."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from crosscheck.training_conventions import CONVENTIONS
from crosscheck.backends.keras import shared as keras_shared
from crosscheck.backends.keras import train as keras_train
from train_step_references import (EPS, G1, G2, LR, MU, P0, START_MEAN, START_VAR, WD, X,  # tests/ helpers
                                   check_bn_running_update, check_unbiased_rewrite, f32, numpy_sgd, train_with_slip)


def keras_bn(momentum: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    bn = keras.layers.BatchNormalization(dtype="float64", moving_mean_initializer=keras.initializers.Constant(START_MEAN),
                                         moving_variance_initializer=keras.initializers.Constant(START_VAR))
    model = keras.Sequential([keras.Input((5, 5, 3), dtype="float64"), bn])
    keras_train.set_bn(model, momentum, EPS)
    y = np.asarray(model(X.transpose(0, 2, 3, 1), training=True)).transpose(0, 3, 1, 2)
    return y, bn.moving_mean.numpy(), bn.moving_variance.numpy()


def keras_sgd(lr: float, mu: float, wd: float, native_weight_decay: bool = False) -> np.ndarray:
    """Two steps of keras.optimizers.SGD: Keras' own weight_decay, or train-step's coupled L2."""
    p = keras.Variable(P0.copy(), dtype="float64")
    if native_weight_decay:
        with keras_train._floatx("float64"):
            sgd = keras.optimizers.SGD(learning_rate=lr, momentum=mu, weight_decay=wd)
    else:
        sgd = keras_train.optimizer("float64", {"lr": lr, "momentum": mu})
    for g in (G1, G2):
        gradient = tf.constant(g)
        if not native_weight_decay:
            gradient = keras_train.coupled_l2([gradient], [p], wd)[0]
        sgd.apply_gradients([(gradient, p)])
    return p.numpy()


def test_keras_sgd_weight_decay_is_decoupled_and_momentum_goes_through_float32():
    """Keras' own SGD(weight_decay=) is decoupled, its momentum and weight decay cast through float32; train-step's L2
    (added to the gradient) gives torch's update with the snapped momentum."""
    np.testing.assert_allclose(keras_sgd(LR, MU, WD, native_weight_decay=True),
                               numpy_sgd(LR, f32(MU), f32(WD), coupled=False), rtol=1e-15)
    assert np.abs(keras_sgd(LR, MU, WD, native_weight_decay=True) - numpy_sgd(LR, f32(MU), WD, coupled=True)).max() > 1e-5
    assert np.abs(keras_sgd(LR, MU, 0.0) - numpy_sgd(LR, MU, 0.0, coupled=True)).max() > 1e-9  # float32 momentum
    np.testing.assert_allclose(keras_sgd(LR, f32(MU), WD), numpy_sgd(LR, f32(MU), WD, coupled=True), rtol=1e-15)


def test_a_keras_worker_with_decoupled_weight_decay_fails_naming_the_weight_decay(monkeypatch):
    """Keras' own SGD(weight_decay=) instead of train-step's coupled L2: the first step is the same, the second update
    differs by lr * momentum * wd * p."""
    def decoupled(dtype, hyper):
        with keras_train._floatx(dtype):
            return keras.optimizers.SGD(learning_rate=hyper["lr"], momentum=hyper["momentum"],
                                        weight_decay=hyper["weight_decay"])

    monkeypatch.setattr(keras_shared, "optimizer", decoupled)  # the training loop every Keras engine shares
    monkeypatch.setattr(keras_shared, "coupled_l2", lambda gradients, variables, weight_decay: gradients)
    pair = train_with_slip(["torch", "keras"], in_process="keras")
    assert pair["passed"] is False
    assert pair["loss"]["passed"] and pair["gradients"]["passed"] and not pair["parameters"]["passed"], pair
    assert "weight decay convention: keras's weight decay is decoupled" in pair["cause"], pair["cause"]


def test_bn_running_update_is_the_documented_convention():
    check_bn_running_update("keras", keras_bn)


def test_biased_running_variance_is_rewritten_in_torchs_convention():
    check_unbiased_rewrite("keras", keras_bn)


def test_the_reference_resnets_build_their_bn_with_the_documented_momentum():
    """The table's 'its ResNets' BN momentum' column for Keras, read from keras.applications."""
    keras_model = keras.applications.ResNet50V2(weights=None, include_top=False, input_shape=(32, 32, 3))
    keras_values = {layer.momentum for layer in keras_model.layers if isinstance(layer, keras.layers.BatchNormalization)}
    assert keras_values == {0.99} and CONVENTIONS["keras"].bn_default == 0.99
