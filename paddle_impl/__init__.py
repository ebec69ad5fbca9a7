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
    CONSTRUCTORS,
    BasicBlock,
    BottleneckBlock,
    PreActBottleneckBlock,
    ResNet,
    build,
    load,
    load_state_dict,
    state_dict_problems,
)

globals().update(CONSTRUCTORS)  # a named constructor per spec id: paddle_impl.resnet50(), .resnet18_cifar(), ...

__all__ = [
    "BasicBlock",
    "BottleneckBlock",
    "PreActBottleneckBlock",
    "ResNet",
    "build",
    "load",
    "load_state_dict",
    "preprocess_input",
    "state_dict_problems",
    *CONSTRUCTORS,
]
