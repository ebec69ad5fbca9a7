"""The crosscheck ResNet family in PyTorch, built from `crosscheck.spec` (torchvision-compatible state_dicts).

Every spec id has a named constructor here (`pytorch_impl.resnet50()`, `pytorch_impl.resnet18_cifar()`, ...),
generated from `crosscheck.spec.MODEL_IDS`.
"""

from pytorch_impl.preprocess import preprocess_input
from pytorch_impl.resnet import (
    CONSTRUCTORS,
    BasicBlock,
    Bottleneck,
    PreActBottleneck,
    ResNet,
    build,
    load,
    load_state_dict,
    state_dict_problems,
)

globals().update(CONSTRUCTORS)

__all__ = [
    "BasicBlock",
    "Bottleneck",
    "PreActBottleneck",
    "ResNet",
    "build",
    "load",
    "load_state_dict",
    "preprocess_input",
    "state_dict_problems",
    *CONSTRUCTORS,
]
