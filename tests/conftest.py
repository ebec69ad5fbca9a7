"""Shared test setup.

Importing TensorFlow and then Paddle in one process segfaults inside libpaddle, while Paddle first
works. Tests of all three frameworks share this pytest process, so Paddle is imported here, before
any test module can pull in TensorFlow, whatever order pytest collects the files in.
"""

import importlib.util

if importlib.util.find_spec("paddle") is not None:
    import paddle  # noqa: F401  (import order matters, see above)
