"""verify's tracer for Keras on PyTorch: not built. verify reads a Keras model's ops from the TensorFlow graph of one
traced call (crosscheck/backends/keras/trace.py); on PyTorch the ops would come from torch's dispatcher, which no
reader here turns into records yet. The same model file verifies with `--framework keras`."""

from crosscheck.backends.keras.untraced import not_built

is_model = float64 = prepare = shapes_only = trace = assign = read = not_built("PyTorch")
