"""Shared test setup: load the frameworks into this one pytest process in the only order that works.

Two native-library conflicts kill the interpreter (segfault) when TensorFlow is loaded first:
- `import tensorflow` then `import paddle` crashes inside libpaddle;
- `import tensorflow` then `import triton` crashes too, and torch pulls in triton lazily through
  `torch._dynamo` (torchvision, torch.export and torch.onnx all import it).
Tests of all three frameworks share this process, so Paddle and torch's dynamo stack are imported
here, before any test module can pull in TensorFlow, whatever order pytest collects the files in.
The crosscheck tool itself never relies on this: it runs each framework in its own worker process.
"""

import importlib.util

if importlib.util.find_spec("paddle") is not None:
    import paddle  # noqa: F401  (must precede tensorflow)
if importlib.util.find_spec("torch") is not None:
    import torch._dynamo  # noqa: F401  (imports triton, which must precede tensorflow)


import pytest  # noqa: E402  (after the framework imports above)


@pytest.fixture(scope="module")
def pool():
    """Framework workers shared by one test module's conversions (started on first use, closed at its end)."""
    from crosscheck.worker.client import WorkerPool

    workers = WorkerPool()
    yield workers
    workers.close()


@pytest.fixture
def paddle_tf32_switches():
    """Paddle's process-wide cuBLAS/cuDNN TF32 switches, restored after the test (list it before monkeypatch, so
    that it restores after monkeypatch has put the real setters back)."""
    paddle = pytest.importorskip("paddle")
    core = paddle.base.core
    saved = core.get_cublas_switch(), core.get_cudnn_switch()
    yield core
    core.set_cublas_switch(saved[0])
    core.set_cudnn_switch(saved[1])
