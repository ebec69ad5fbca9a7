"""`crosscheck predict`: images prepared as each origin's reference pipeline does, and the same top-5 everywhere.

Expected values come from the reference libraries: torchvision's Resize(256) + CenterCrop(224) (paddle.vision's
and keras.utils.load_img in tests/paddle and tests/keras); torchvision's class names; and, for the
predictions, torchvision's whole pipeline (transforms + torchvision.models.resnet18) run in this process.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from crosscheck import backends
from crosscheck import calibration
from crosscheck import spec as specs
from crosscheck.checkpoints import canonical
from crosscheck.cli import main
from crosscheck.predict.categories import imagenet_categories
from crosscheck.predict.session import PredictOptions, predict
from predict_photos import photos, prepared  # noqa: F401  (tests/ helpers; photos is a fixture)

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")
from torchvision import transforms  # noqa: E402


def test_torchvision_pipeline_equals_resize_and_center_crop(photos):
    reference = transforms.Compose([transforms.Resize(256), transforms.CenterCrop(224)])
    for path in photos:
        np.testing.assert_array_equal(prepared(path, "torchvision"), np.asarray(reference(Image.open(path).convert("RGB"))))


def test_class_names_are_torchvisions():
    assert imagenet_categories() == tuple(torchvision.models.ResNet50_Weights.IMAGENET1K_V1.meta["categories"])


@pytest.fixture(scope="module")
def resnet18_weights(tmp_path_factory):
    """torchvision.models.resnet18 with calibrated weights, saved by torch itself as a .pth state_dict."""
    import pytorch_impl

    model = torchvision.models.resnet18()
    reference = pytorch_impl.resnet18()
    spec = specs.get("resnet18")
    native = specs.to_native(spec, calibration.calibrated_weights("resnet18"), "torch")
    reference.load_state_dict({key: torch.from_numpy(value) for key, value in native.items()}, strict=False)
    model.load_state_dict(reference.state_dict())
    path = tmp_path_factory.mktemp("weights") / "resnet18.pth"
    torch.save(model.state_dict(), path)
    return path, model.eval()


def test_predict_gives_torchvisions_top5_in_all_three_frameworks(photos, resnet18_weights):
    """Every framework's top-5 equals torchvision's own pipeline on the same file (Resize, CenterCrop, ToTensor,
    Normalize, torchvision.models.resnet18), class for class and in order."""
    path, model = resnet18_weights
    result = predict(photos, path)
    assert result.agree and set(result.predictions) == set(backends.default_names())
    assert result.preprocess == "torch" and result.logits_rel_l2 < 1e-5  # float32 pairs of resnet18: ~1e-6
    weights = torchvision.models.ResNet18_Weights.IMAGENET1K_V1
    reference = transforms.Compose([transforms.Resize(256), transforms.CenterCrop(224), transforms.ToTensor(),
                                    transforms.Normalize(weights.meta.get("mean", (0.485, 0.456, 0.406)),
                                                         weights.meta.get("std", (0.229, 0.224, 0.225)))])
    batch = torch.stack([reference(Image.open(p).convert("RGB")) for p in photos])
    with torch.inference_mode():
        expected = torch.topk(model(batch), 5).indices.tolist()
    for framework, predictions in result.predictions.items():
        assert [list(p.classes) for p in predictions] == expected, framework
    assert result.label(expected[0][0]) == f"{expected[0][0]} {weights.meta['categories'][expected[0][0]]}"


def test_predict_cli_prints_names_and_agreement(photos, resnet18_weights, capsys):
    path, _ = resnet18_weights
    assert main(["predict", str(photos[0]), "--weights", str(path), "--framework", "paddle", "--top", "3"]) == 0
    out = " ".join(capsys.readouterr().out.split())  # rich wraps the title at 80 columns
    assert "portrait.png (resnet18, torch preprocessing)" in out and out.count("│ 0.") == 3


@pytest.mark.parametrize("make, message", [
    (lambda d: d / "missing.png", "missing.png: no such file"),
    (lambda d: (d / "broken.jpg").write_bytes(b"\xff\xd8 not a jpeg") and d / "broken.jpg", "broken.jpg: not a decodable image"),
])
def test_bad_image_is_one_error_naming_it(tmp_path, capsys, make, message):
    weights = canonical.save(tmp_path / "w.safetensors", "resnet18_cifar", calibration.calibrated_weights("resnet18_cifar"))
    assert main(["predict", str(make(tmp_path)), "--weights", str(weights)]) == 2
    assert message in " ".join(capsys.readouterr().err.split())


def test_weights_that_do_not_fit_the_model_are_one_error_naming_the_file(tmp_path, photos, capsys):
    weights = canonical.save(tmp_path / "w.safetensors", "resnet18_cifar", calibration.calibrated_weights("resnet18_cifar"))
    assert main(["predict", str(photos[0]), "--weights", str(weights), "--model", "resnet50"]) == 2
    assert f"{weights}: checkpoint is not resnet50" in " ".join(capsys.readouterr().err.split())


def test_cifar_ids_use_the_cifar_convention_and_print_indices(tmp_path, photos):
    weights = canonical.save(tmp_path / "w.safetensors", "resnet18_cifar", calibration.calibrated_weights("resnet18_cifar"))
    result = predict(photos[:1], weights, PredictOptions(frameworks=("torch",)))
    assert result.preprocess == "cifar" and result.names is None
    assert result.label(3) == "3" and len(result.predictions["torch"][0].classes) == 5


def test_headless_checkpoint_is_refused(tmp_path, photos, capsys):
    arrays = {k: v for k, v in calibration.calibrated_weights("resnet18_cifar").items() if not k.startswith("predictions.")}
    weights = canonical.save(tmp_path / "backbone.safetensors", "resnet18_cifar", arrays)
    assert main(["predict", str(photos[0]), "--weights", str(weights)]) == 2
    assert "backbone.safetensors: resnet18_cifar without a classifier head has no classes" in " ".join(capsys.readouterr().err.split())
