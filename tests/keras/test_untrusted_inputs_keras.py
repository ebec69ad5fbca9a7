"""A legacy Keras HDF5 model whose Lambda carries code converts as weights only and never runs it (Keras builds
the armed file in this process; tests/commands/test_untrusted_inputs.py has the other untrusted inputs)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from crosscheck import spec as specs
from crosscheck.checkpoints import canonical
from crosscheck.cli import main

ROOT = Path(__file__).resolve().parents[2]


def _keras_model():
    import keras_impl

    return keras_impl.build("resnet18", classifier_activation=None)


# A Keras model whose last layer runs Python code: loading it as a model (keras.models.load_model) would
# touch MARKER. As a weights file it is a resnet18 checkpoint like any other.
ARMED_LAMBDA = "lambda t: (__import__('pathlib').Path({marker!r}).touch(), t)[1]"


def test_a_legacy_h5_model_with_a_code_carrying_lambda_is_read_as_weights_only(tmp_path, capsys):
    keras = pytest.importorskip("keras")
    marker = tmp_path / "MARKER"
    model = _keras_model()
    armed = keras.Model(model.inputs, keras.layers.Lambda(eval(ARMED_LAMBDA.format(marker=str(marker))))(model.output))
    source = tmp_path / "armed.h5"
    armed.save(source)  # a legacy full-model HDF5 file: model_config holds the lambda's bytecode
    marker.unlink()  # building the model above ran the lambda once, in this process

    destination = tmp_path / "out.safetensors"
    assert main(["convert", str(source), str(destination)]) == 0, capsys.readouterr().err
    assert not marker.exists()
    _, converted, _ = canonical.load(destination)
    spec = specs.get("resnet18")
    expected = specs.from_native(spec, {f"{layer.name}/{variable.name}": np.asarray(variable)
                                        for layer in model.layers for variable in layer.weights}, "keras")
    for key, array in expected.items():
        np.testing.assert_array_equal(converted[key], array, err_msg=key)

    # The file is really armed: Keras, asked to load it as a model with safe mode off, runs the lambda.
    load = "import keras, sys; keras.models.load_model(sys.argv[1], safe_mode=False)"
    done = subprocess.run([sys.executable, "-c", load, str(source)], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert marker.exists()
