"""Keras 3 on PyTorch: the same keras_impl and Keras weight files as `keras`, computed by ATen in a keras_torch
worker."""

from dataclasses import replace

from crosscheck.backends.keras import BACKEND as KERAS
from crosscheck.backends.torch import TORCH_CU126_INDEX

BACKEND = replace(
    KERAS,  # keras_impl, keras.applications' naming, channels last, Keras' training conventions and files
    name="keras_torch",
    extra="keras-torch",
    gpu_install=f"pip install torch==2.14.1 --index-url {TORCH_CU126_INDEX} && pip install keras==3.15.1",
    environment={"KERAS_BACKEND": "torch"},
    kept_out_of_import=("jax", "matplotlib"),  # Keras' orbax callback; Keras' image galleries
    in_default_run=False,
    float32_training="Keras on torch computes BatchNormalization's batch variance as E[x^2] - E[x]^2 and "
                     "differentiates the composed ops instead of torch's fused BN backward; Keras has no switch for "
                     "it (docs/train-step.md)",
    exporter="onnxscript",  # Keras calls torch.onnx.export
)
