"""The crosscheck ResNet family in PaddlePaddle, built from `crosscheck.spec`.

`import paddle` in a process that already imported TensorFlow segfaults inside libpaddle, killing
the interpreter. This package refuses to be the one that triggers that and raises ImportError.
"""

import sys

if "tensorflow" in sys.modules and "paddle" not in sys.modules:
    raise ImportError(
        "paddle_impl: TensorFlow is already imported in this process, and importing paddle after "
        "TensorFlow segfaults inside libpaddle. Import paddle (or paddle_impl) before tensorflow, or "
        "run each framework in its own process with crosscheck's workers (crosscheck.worker.client.FrameworkWorker)."
    )

from paddle_impl.preprocess import preprocess_input  # noqa: E402
from paddle_impl.resnet import (  # noqa: E402  (after the import-order guard above)
    BasicBlock,
    BottleneckBlock,
    PreActBottleneckBlock,
    ResNet,
    build,
    load,
    load_state_dict,
    resnet18,
    resnet18_cifar,
    resnet34,
    resnet34_cifar,
    resnet50,
    resnet50_cifar,
    resnet101,
    resnet101_cifar,
    resnet152,
    resnet152_cifar,
    state_dict_problems,
)

__all__ = [
    "BasicBlock",
    "BottleneckBlock",
    "PreActBottleneckBlock",
    "ResNet",
    "build",
    "load",
    "load_state_dict",
    "preprocess_input",
    "resnet18",
    "resnet18_cifar",
    "resnet34",
    "resnet34_cifar",
    "resnet50",
    "resnet50_cifar",
    "resnet101",
    "resnet101_cifar",
    "resnet152",
    "resnet152_cifar",
    "state_dict_problems",
]
