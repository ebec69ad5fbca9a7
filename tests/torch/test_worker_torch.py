"""A torch worker's model store, in this process: releasing a model frees every built copy of it."""

from __future__ import annotations

import weakref


def test_release_frees_every_built_copy_of_that_model_and_only_those():
    from crosscheck.worker.ops import op_release
    from crosscheck.worker.state import Worker

    worker = Worker("torch")
    for model_id, dtype in [("resnet18_cifar", "float32"), ("resnet18_cifar", "float64"), ("resnet34_cifar", "float32")]:
        worker.model(model_id, dtype=dtype)
    released = [weakref.ref(model) for key, model in worker.models.items() if key[0] == "resnet18_cifar"]
    op_release(worker, {"model_id": "resnet18_cifar"})
    assert list(worker.models) == [("resnet34_cifar", 10, "float32")]
    assert len(released) == 2 and all(ref() is None for ref in released)  # freed, not only forgotten
