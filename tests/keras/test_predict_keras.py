"""`crosscheck predict` against Keras: keras.utils.load_img's preparation, and keras.applications.ResNet50's
top-5 (tests/torch has the command itself)."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from crosscheck import calibration
from crosscheck import spec as specs
from crosscheck.predict.session import predict
from predict_photos import photos, prepared  # noqa: F401  (tests/ helpers; photos is a fixture)


def test_keras_pipeline_equals_load_img(photos):
    for path in photos:
        reference = keras.utils.img_to_array(keras.utils.load_img(path, target_size=(224, 224)))
        np.testing.assert_array_equal(prepared(path, "keras_v1"), reference)


@pytest.mark.slow
def test_keras_applications_resnet50_weights_predict_as_keras_does(tmp_path, photos):
    """keras.applications.ResNet50's weights (calibrated, saved by Keras): predict's top-5 in every framework equals
    keras.utils.load_img + keras.applications.resnet.preprocess_input + keras.applications.ResNet50."""
    keras = pytest.importorskip("keras")
    from keras.applications import resnet
    from crosscheck.backends.keras import adapter

    spec = specs.get("resnet50_v1")
    model = keras.applications.ResNet50(weights=None, classifier_activation=None)  # logits: softmax saturates
    adapter.set_native(model, spec, specs.to_native(spec, calibration.calibrated_weights("resnet50_v1"), "keras"))
    model.save_weights(tmp_path / "resnet50.weights.h5")
    result = predict(photos, tmp_path / "resnet50.weights.h5")
    assert result.preprocess == "caffe" and result.agree
    batch = np.stack([keras.utils.img_to_array(keras.utils.load_img(p, target_size=(224, 224))) for p in photos])
    expected = np.argsort(-np.asarray(model(resnet.preprocess_input(batch), training=False)), axis=1)[:, :5].tolist()
    for framework, predictions in result.predictions.items():
        assert [list(p.classes) for p in predictions] == expected, framework
