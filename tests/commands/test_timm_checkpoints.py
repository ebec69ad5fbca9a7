"""A timm checkpoint as users have it (`torch.save(timm.create_model('resnet50d').state_dict())`) converted through
every framework's format and back, bit for bit; its keys are timm's own (`conv1.0.weight`, `downsample.1`, ...)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from crosscheck.convert.session import convert
from subprocess_python import load_state, run_python  # tests/ helpers

FLOAT64_GATE = 1e-9  # README: the float64 gate every conversion is proven by

TIMM_FILE = r'''
import sys, torch, timm
torch.manual_seed(0)
model = timm.create_model(sys.argv[2], pretrained=False)
with torch.no_grad():  # non-trivial BN statistics and affine parameters, so a dropped or swapped one shows
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-1, 1); module.running_var.uniform_(0.5, 2)
            module.weight.uniform_(0.5, 1.5); module.bias.uniform_(-0.2, 0.2)
torch.save(model.state_dict(), sys.argv[1])
'''


@pytest.mark.slow
@pytest.mark.parametrize("model_id", ["resnet50d", "seresnet50"])
def test_a_timm_state_dict_cycles_through_keras_and_paddle_bit_identically(pool, tmp_path, model_id):
    """timm .pth -> Keras .weights.h5 -> Paddle .pdparams -> torch .pth, each step proven in float64 by convert; the
    last file, read by torch itself, holds timm's tensors bit for bit (without torch's BN step counters)."""
    start = tmp_path / f"{model_id}-timm.pth"
    run_python(TIMM_FILE, start, model_id)
    chain = [start, tmp_path / "a.weights.h5", tmp_path / "b.pdparams", tmp_path / "c.pth"]
    for src, dst in zip(chain, chain[1:]):
        result = convert(src, dst, pool=pool)
        assert result.spec.model_id == model_id
        assert result.passed and result.written and dst.is_file(), (src, dst, result.agreement)
        assert result.agreement.rel_l2 <= FLOAT64_GATE
    original, returned = load_state("torch", start), load_state("torch", chain[-1])
    weights = {key: array for key, array in original.items() if not key.endswith("num_batches_tracked")}
    assert set(returned) - {k for k in returned if k.endswith("num_batches_tracked")} == set(weights)
    for key, array in weights.items():
        np.testing.assert_array_equal(returned[key], array, err_msg=key)
