"""ONNX export of a crosscheck Keras model on PyTorch: Keras' own `model.export(format="onnx")`, the same call as on
TensorFlow (crosscheck/backends/keras/onnx_export.py); on this backend Keras hands the model to `torch.onnx.export`."""

from crosscheck.backends.keras.onnx_export import export_onnx

__all__ = ["export_onnx"]
