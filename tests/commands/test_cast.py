"""The `cast` worker op: a model built and loaded once, then moved to the other precision, computes exactly what a
model built and loaded in that precision computes (run builds each model once and casts it this way)."""

from __future__ import annotations

import numpy as np
import pytest

from crosscheck import calibration
from crosscheck import spec as specs
from crosscheck.checkpoints import canonical

MODEL = "resnet18_cifar"  # 32x32 input: cheap; BN in every block, as the deep ids


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Calibrated weights and an input batch, as files the workers read."""
    folder = tmp_path_factory.mktemp("cast")
    weights = canonical.save(folder / "weights.safetensors", MODEL, calibration.calibrated_weights(MODEL))
    images = folder / "input.npy"
    np.save(images, calibration.sample_input(2, size=specs.get(MODEL).input_size))
    return folder, weights, images


def outputs(pool, framework: str, folder, weights, images, dtypes: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Load in dtypes[0], forward, then cast to each next dtype and forward: the outputs by dtype."""
    worker = pool[framework]
    worker.request("load", model_id=MODEL, weights=weights, dtype=dtypes[0])
    found = {}
    for dtype in dtypes:
        worker.request("cast", model_id=MODEL, dtype=dtype)
        path = folder / f"{framework}-{'-'.join(dtypes)}-{dtype}.npy"
        worker.request("forward", model_id=MODEL, input=images, output=path, dtype=dtype)
        found[dtype] = np.load(path)
    worker.request("release", model_id=MODEL)
    return found


@pytest.mark.parametrize("framework", ["torch", "keras", "paddle"])
def test_a_cast_model_computes_what_a_model_built_in_that_precision_computes(pool, files, framework):
    """float32 -> float64 and float64 -> float32, each bit-identical to a model built and loaded in the target dtype
    (the weights are float32 values, exact in both); float64 differs from float32, so the cast did change it."""
    folder, weights, images = files
    built = {dtype: outputs(pool, framework, folder, weights, images, (dtype,))[dtype] for dtype in specs.PRECISIONS}
    upward = outputs(pool, framework, folder, weights, images, ("float32", "float64"))
    downward = outputs(pool, framework, folder, weights, images, ("float64", "float32"))
    for dtype in specs.PRECISIONS:
        assert upward[dtype].dtype == downward[dtype].dtype == np.dtype(dtype)
        np.testing.assert_array_equal(upward[dtype], built[dtype])
        np.testing.assert_array_equal(downward[dtype], built[dtype])
    assert not np.array_equal(built["float64"].astype(np.float32), built["float32"])


def test_a_cast_before_any_load_names_the_model(pool):
    from crosscheck.worker.client import WorkerError

    with pytest.raises(WorkerError, match=f"{MODEL} has not been loaded in the torch worker"):
        pool["torch"].request("cast", model_id=MODEL, dtype="float64")
