"""The timm ids' origin is timm's own eval pipeline: what `predict` does to an image equals timm's `create_transform`.

Expected values come from timm: each id's `pretrained_cfg` (built with pretrained=False, no download) and the eval
transform `create_transform(**resolve_data_config({}, model=m))` applied to the same images. Both resize with
Pillow's bicubic through the same calls, so the prepared images are compared bit for bit, and so is the
normalised float32 tensor (crosscheck's `preprocess_input` against timm's ToTensor + Normalize).
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from crosscheck import calibration, onnx_export
from crosscheck import spec as specs
from crosscheck.predict import images as pipeline_images
from crosscheck.predict.session import PredictOptions, predict
from predict_photos import photos  # noqa: F401  (tests/ helper; a fixture)

torch = pytest.importorskip("torch")
timm = pytest.importorskip("timm")
from timm.data import create_transform, resolve_data_config  # noqa: E402

import pytorch_impl.preprocess  # noqa: E402

TIMM_IDS = tuple(model_id for model_id, variant in specs.VARIANTS.items() if variant.timm_eval is not None)


@pytest.fixture(scope="module")
def images(photos, tmp_path_factory):  # noqa: F811  (the photos fixture)
    """The predict photos plus noise (the hardest case for an interpolation slip): one to shrink, one to enlarge."""
    directory = tmp_path_factory.mktemp("noise")
    rng = np.random.default_rng(1)
    paths = [directory / "shrink.png", directory / "enlarge.png"]
    Image.fromarray(rng.integers(0, 256, (517, 383, 3), np.uint8)).save(paths[0])
    Image.fromarray(rng.integers(0, 256, (97, 150, 3), np.uint8)).save(paths[1])
    return [*photos, *paths]


@pytest.fixture(scope="module", params=TIMM_IDS)
def timm_eval(request) -> tuple[str, dict, object]:
    """(model id, timm's resolved data config, timm's eval transform) of one timm id."""
    model = timm.create_model(request.param, pretrained=False)
    config = resolve_data_config({}, model=model)
    return request.param, config, create_transform(**config)


def test_the_timm_designs_are_the_timm_origin():
    assert TIMM_IDS == ("resnet50d", "resnet101d", "seresnet50")
    assert {specs.origin(model_id).pipeline.interpolation for model_id in TIMM_IDS} == {"bicubic"}
    assert specs.origin("resnet50").pipeline.interpolation == "bilinear"


def test_origin_matches_timms_pretrained_cfg(timm_eval):
    model_id, config, transform = timm_eval
    origin = specs.origin(model_id)
    resize, crop = transform.transforms[:2]
    assert (origin.pipeline.interpolation, origin.pipeline.mode) == (config["interpolation"], "resize_shorter")
    assert (origin.pipeline.resize, origin.pipeline.crop) == (resize.size, config["input_size"][-1])
    assert tuple(crop.size) == (origin.pipeline.crop, origin.pipeline.crop) and config["crop_mode"] == "center"
    torch_style = specs.PREPROCESSING[origin.preprocessing]
    assert (torch_style.mean, torch_style.std) == (config["mean"], config["std"])


def test_export_metadata_names_timms_eval_pipeline(timm_eval):
    """An exported graph holds no resize: its metadata gives timm's (Resize size, crop, interpolation) to the deployer."""
    model_id, config, transform = timm_eval
    meta = onnx_export.metadata(specs.get(model_id), "digest", "torch", "nchw")
    expected = {"image_resize_mode": "resize_shorter", "image_resize": str(transform.transforms[0].size),
                "image_crop": str(config["input_size"][-1]), "image_interpolation": config["interpolation"]}
    assert {key: meta[key] for key in expected} == expected


def test_predict_pipeline_equals_timms_eval_transform(timm_eval, images):
    """Resize + crop bit-identical to timm's first two steps, and the normalised tensor to timm's whole transform."""
    model_id, _, transform = timm_eval
    pipeline = specs.origin(model_id).pipeline
    resize_and_crop = transform.transforms[:2]
    batch = pipeline_images.load_batch(images, pipeline)
    for path, ours in zip(images, batch):
        theirs = Image.open(path).convert("RGB")
        for step in resize_and_crop:
            theirs = step(theirs)
        np.testing.assert_array_equal(ours.transpose(1, 2, 0), np.asarray(theirs, np.float32), err_msg=str(path))
    normalised = pytorch_impl.preprocess.preprocess_input(torch.from_numpy(batch), "torch")
    reference = torch.stack([transform(Image.open(path).convert("RGB")) for path in images])
    np.testing.assert_array_equal(normalised.numpy(), reference.numpy())


@pytest.mark.slow
def test_predict_gives_timms_top5(images, tmp_path):
    """`predict` of a timm seresnet50 checkpoint (its own state_dict, calibrated weights) in torch ranks the classes as
    timm's whole eval pipeline does: create_transform, then the timm model."""
    model = timm.create_model("seresnet50", pretrained=False).eval()
    native = specs.to_native(specs.get("seresnet50"), calibration.calibrated_weights("seresnet50"), "torch")
    loaded = model.load_state_dict({key: torch.from_numpy(value) for key, value in native.items()}, strict=False)
    assert all(key.endswith("num_batches_tracked") for key in loaded.missing_keys) and not loaded.unexpected_keys
    path = tmp_path / "seresnet50.pth"
    torch.save(model.state_dict(), path)
    result = predict(images, path, PredictOptions(frameworks=("torch",), model_id="seresnet50"))
    transform = create_transform(**resolve_data_config({}, model=model))
    with torch.inference_mode():
        expected = torch.topk(model(torch.stack([transform(Image.open(p).convert("RGB")) for p in images])), 5)
    assert [list(p.classes) for p in result.predictions["torch"]] == expected.indices.tolist()
