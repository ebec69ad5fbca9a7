"""Checkpoint files, read and written: one module per ecosystem's formats over the canonical hub.

canonical (the crosscheck safetensors file) · identify (which model id keys and shapes fit) ·
torch_formats / keras_formats / paddle_formats (each ecosystem's files; paddle's are read without
Paddle) · worker_ops (the reads and writes that need a framework, run in its worker).
"""
