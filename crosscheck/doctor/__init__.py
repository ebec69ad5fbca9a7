"""`crosscheck doctor`: what this environment can do.

crosscheck/framework_probe.py (the shared worker op "probe", run in each framework's own worker)
-> environment (the probes, ONNX packages, onnxruntime providers, the machine's GPUs) -> findings (known-bad
combinations, each with its fix) -> report / command (terminal table, JSON, exit code).
crosscheck/device_check.py uses the same probes to refuse `--device cuda` before any work when a framework
sees no CUDA device.
"""
