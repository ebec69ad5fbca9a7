"""Worker op for preprocessing: the framework's own `preprocess_input`, arrays through files.

It runs inside a framework worker (crosscheck.worker): `export --preprocess` gets its reference input from
it, and `predict` feeds each framework its input through it, so every framework preprocesses as its
implementation does (tests/test_preprocess.py holds those to keras.applications, torchvision, paddle.vision).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from crosscheck.worker import Worker


def op_preprocess(worker: Worker, request: dict[str, Any]) -> dict[str, Any]:
    """`input` (NCHW RGB in [0, 255]) through the impl's preprocess_input(`style`) to `output`, in the input's dtype."""
    images = np.load(request["input"])
    np.save(request["output"], np.asarray(worker.adapter.preprocess(images, request["style"]), images.dtype))
    return {}


PREDICT_OPS = {"preprocess": op_preprocess}
