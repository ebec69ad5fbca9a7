"""Arrays between a worker and its client keep their order and their values (safetensors alone sorts its tensors)."""

from __future__ import annotations

import numpy as np

from crosscheck.worker import transport


def test_arrays_come_back_in_their_order_with_their_dtypes_and_values(tmp_path):
    arrays = {"module.conv1.weight": np.arange(6, dtype=np.float32).reshape(2, 3),
              "module.bn1.weight": np.ones(2, np.float64),
              "module.bn1.num_batches_tracked": np.array(7, np.int64),
              "empty": np.zeros((0, 3), np.float32),
              "a.transposed": np.arange(6, dtype=np.float64).reshape(2, 3).T}
    transport.save(tmp_path / "arrays.safetensors", arrays)
    loaded = transport.load(tmp_path / "arrays.safetensors")
    assert list(loaded) == list(arrays)
    for name, array in arrays.items():
        assert loaded[name].dtype == array.dtype
        np.testing.assert_array_equal(loaded[name], array)
