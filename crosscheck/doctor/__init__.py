"""`crosscheck doctor`: what this environment can do, and the up-front device check of the other commands.

worker_ops (the "probe" op, run in each framework's own worker) -> environment (the probes, ONNX
packages, onnxruntime providers, the machine's GPUs) -> findings (known-bad combinations, each with
its fix) -> report / command (terminal table, JSON, exit code). device_check uses the same probes to
refuse `--device cuda` before any work when a framework sees no CUDA device.
"""
