"""Keras 3 on JAX: the same keras_impl and Keras weight files as `keras`, computed by XLA in a keras_jax worker."""

from dataclasses import replace

from crosscheck.backends.keras import BACKEND as KERAS

BACKEND = replace(
    KERAS,  # keras_impl, keras.applications' naming, channels last, Keras' training conventions and files
    name="keras_jax",
    extra="jax",
    gpu_install="pip install 'jax[cuda12]' keras==3.15.1",
    # JAX computes in float32 whatever Keras asks for unless 64-bit types are enabled before it is imported
    environment={"KERAS_BACKEND": "jax", "JAX_ENABLE_X64": "1"},
    in_default_run=False,
    float32_training="Keras differentiates its training-mode BatchNormalization through x*inv + (beta - mean*inv) "
                     "instead of a fused BN backward; Keras has no switch for it (docs/train-step.md)",
    exporter="jax2onnx",
    cannot_export="Keras exports JAX models through jax2onnx, which needs onnx>=1.20.1, and paddle2onnx in the onnx "
                  "extra pins onnx<=1.17.0: no install holds both",
)
