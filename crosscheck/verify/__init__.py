"""`crosscheck verify`: check a hand-written ResNet against a model id, layer by layer.

graph (structure from a trace) -> diagnose (named structural findings) -> numeric (weights mapped
through the alignment, per-point errors) -> counterfactual (the reference with one finding put in)
-> session (the worker run) -> report / command (terminal, JSON, plot, exit code).
"""
