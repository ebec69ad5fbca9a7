"""`crosscheck export`: one framework's own ONNX exporter, stamped, checked and proven equal in onnxruntime.

session (weights, native run, export in the worker, onnxruntime verification) -> command (CLI, report).
"""
