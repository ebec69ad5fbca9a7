"""Checkpoint files, read and written: one module per ecosystem's formats over the canonical hub.

reader (any checkpoint -> spec + canonical arrays; convert, export and inspect read through it) ·
containers (which nested dict and key prefix hold the ResNet) · heads (a fine-tuned head stored under other
keys, mapped onto the spec's) · origins (which library and layout: timm train checkpoints, mmpretrain and its
style) · identify (which model id keys and
shapes fit) · canonical (the crosscheck safetensors file) · keras_formats / paddle_formats (the files
read without a framework: paddle's, legacy .h5 and .keras) · worker_ops (the reads and writes that need a
framework, run in its worker through the backend's `checkpoints` module, crosscheck/backends/<name>/).
"""
