"""Every model id's canonical keys, shapes, strides and feature-map sizes, from first principles.

The expected layers are written out here from the reference libraries' documented structure
(torchvision / paddle.vision `resnet.py`, keras.applications `resnet.py` / `resnet_v2.py`): stage depths,
stage widths 64..512, basic blocks (two 3x3 convs, expansion 1) and bottlenecks (1x1, 3x3, 1x1, expansion 4),
where each family puts the stride, which convs have a bias, where the shortcut is a projection. Nothing is
read from crosscheck.spec except the ids it offers and what it answers for each.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from crosscheck import spec as specs

DEPTHS = {"resnet18": (2, 2, 2, 2), "resnet34": (3, 4, 6, 3), "resnet50": (3, 4, 6, 3),
          "resnet101": (3, 4, 23, 3), "resnet152": (3, 8, 36, 3)}  # torchvision's and keras.applications' tables
WIDTHS = (64, 128, 256, 512)
# torchvision's documented num_params of each model (ImageNet head, 1000 classes)
TORCHVISION_NUM_PARAMS = {"resnet18": 11_689_512, "resnet34": 21_797_672, "resnet50": 25_557_032,
                          "resnet101": 44_549_160, "resnet152": 60_192_808}


@dataclass(frozen=True)
class Family:
    """How one family builds its blocks, as the reference library's source does."""

    bottleneck: bool
    keras: str | None  # None (torchvision / paddle.vision), "v1" or "v2"
    cifar: bool
    resnet_d: bool = False  # timm's "d": the deep stem and the average-pool shortcut
    se: bool = False  # timm's "se": squeeze-excitation in every block


def family_of(model_id: str) -> tuple[str, Family]:
    """The torchvision depth name behind an id, and its family, read from the id's spelling."""
    resnet_d, se = model_id.endswith("d"), model_id.startswith("se")
    base = model_id.removesuffix("_cifar").removesuffix("_v1").removesuffix("v2").removeprefix("se")
    base = base.removesuffix("d") if resnet_d else base
    keras = "v1" if model_id.endswith("_v1") else "v2" if model_id.endswith("v2") else None
    return base, Family(bottleneck=base not in ("resnet18", "resnet34"), keras=keras, cifar=model_id.endswith("_cifar"),
                        resnet_d=resnet_d, se=se)

# sum(p.numel() for p in timm.create_model(id).parameters()), timm's count (the model cards round it: 25.6M, 28.1M)
TIMM_NUM_PARAMS = {"resnet50d": 25_576_264, "resnet101d": 44_568_392, "seresnet50": 28_088_024}


@dataclass
class Expected:
    """The layers of one model as first principles give them: canonical shapes, conv strides, output sizes."""

    shapes: dict[str, tuple[int, ...]]
    strides: dict[str, int]
    sizes: dict[str, int]  # conv name -> spatial size of its output

    def conv(self, name: str, cin: int, cout: int, k: int, stride: int, size: int, bias: bool) -> None:
        self.shapes[f"{name}.weight"] = (cout, cin, k, k)
        if bias:
            self.shapes[f"{name}.bias"] = (cout,)
        self.strides[name], self.sizes[name] = stride, size

    def bn(self, name: str, channels: int) -> None:
        for param in ("weight", "bias", "running_mean", "running_var"):
            self.shapes[f"{name}.{param}"] = (channels,)


def expected_layers(model_id: str, num_classes: int) -> Expected:
    base, family = family_of(model_id)
    out = Expected({}, {}, {})
    size = 32 if family.cifar else 224 // 2  # the 7x7 stem conv has stride 2; the CIFAR 3x3 stem stride 1
    if family.resnet_d:  # timm's deep stem, stem_width 32: 3x3/2 3->32, BN, 3x3 32->32, BN, 3x3 32->64
        for index, (cin, cout, stride) in enumerate([(3, 32, 2), (32, 32, 1), (32, 64, 1)], start=1):
            out.conv(f"conv1_{index}_conv", cin, cout, 3, stride, size, bias=False)
            if index < 3:
                out.bn(f"conv1_{index}_bn", cout)
    else:
        out.conv("conv1_conv", 3, 64, 3 if family.cifar else 7, 1 if family.cifar else 2, size,
                 bias=family.keras is not None)
    if family.keras != "v2":  # V2 is pre-activation: the stem conv feeds the pool directly
        out.bn("conv1_bn", 64)
    if not family.cifar:
        size //= 2  # the 3x3/2 max-pool
    channels = 64
    for stage, (depth, width) in enumerate(zip(DEPTHS[base], WIDTHS)):
        expansion = 4 if family.bottleneck else 1
        for index in range(depth):
            name = f"conv{stage + 2}_block{index + 1}"
            if family.keras == "v2":  # the stride sits in the LAST block of conv2..conv4
                stride = 2 if index == depth - 1 and stage < 3 else 1
            else:  # in the FIRST block of conv3..conv5
                stride = 2 if index == 0 and stage > 0 else 1
            cout = width * expansion
            if family.keras == "v2":
                out.bn(f"{name}_preact_bn", channels)
            projection = index == 0 if family.keras else (stride != 1 or channels != cout)
            if projection:  # ResNet-D: an average pool strides, the 1x1 does not
                out.conv(f"{name}_0_conv", channels, cout, 1, 1 if family.resnet_d else stride, size // stride,
                         bias=family.keras is not None)
                if family.keras != "v2":
                    out.bn(f"{name}_0_bn", cout)
            if family.bottleneck:
                on_first = family.keras == "v1"  # keras v1: stride on the first 1x1; v1.5 and V2: on the 3x3
                convs = [(channels, width, 1, stride if on_first else 1), (width, width, 3, 1 if on_first else stride),
                         (width, cout, 1, 1)]
                biases = {None: (False,) * 3, "v1": (True,) * 3, "v2": (False, False, True)}[family.keras]
            else:
                convs, biases = [(channels, cout, 3, stride), (cout, cout, 3, 1)], (False, False)
            for role, ((cin, cout_, k, s), bias) in enumerate(zip(convs, biases), start=1):
                size //= s
                out.conv(f"{name}_{role}_conv", cin, cout_, k, s, size, bias)
                if not (family.keras == "v2" and role == 3):  # V2: no BN after the last conv
                    out.bn(f"{name}_{role}_bn", cout_)
            if family.se:  # timm's SEModule(cout): 1x1 convs with bias to cout / 16 (a multiple of 8 here) and back
                out.conv(f"{name}_se_reduce", cout, cout // 16, 1, 1, 1, bias=True)
                out.conv(f"{name}_se_expand", cout // 16, cout, 1, 1, 1, bias=True)
            channels = cout
    if family.keras == "v2":
        out.bn("post_bn", channels)
    if num_classes:
        out.shapes["predictions.weight"], out.shapes["predictions.bias"] = (num_classes, channels), (num_classes,)
    return out


def convs_of(spec: specs.ModelSpec) -> list[specs.LayerSpec]:
    return [layer for layer in spec.layers if layer.kind == "conv"]


@pytest.mark.parametrize("model_id", specs.MODEL_IDS)
def test_canonical_keys_and_shapes_are_the_reference_structure(model_id):
    spec = specs.get(model_id)
    assert spec.canonical_shapes() == expected_layers(model_id, spec.num_classes).shapes


@pytest.mark.parametrize("model_id", specs.MODEL_IDS)
def test_every_conv_has_its_familys_stride_and_output_size(model_id):
    spec, expected = specs.get(model_id), expected_layers(model_id, specs.get(model_id).num_classes)
    assert {layer.name: layer.stride for layer in convs_of(spec)} == expected.strides
    assert {layer.name: layer.output_shape[1:] for layer in convs_of(spec)} == \
        {name: (size, size) for name, size in expected.sizes.items()}


@pytest.mark.parametrize("model_id", specs.MODEL_IDS)
def test_headless_spec_drops_only_the_classifier(model_id):
    headless = specs.get(model_id, specs.NO_HEAD)
    assert headless.headless and headless.canonical_shapes() == expected_layers(model_id, 0).shapes


@pytest.mark.parametrize("model_id", TORCHVISION_NUM_PARAMS)
def test_parameter_count_is_torchvisions_documented_count(model_id):
    assert specs.get(model_id).num_params() == TORCHVISION_NUM_PARAMS[model_id]


@pytest.mark.parametrize("model_id", TIMM_NUM_PARAMS)
def test_parameter_count_is_timms(model_id):
    assert specs.get(model_id).num_params() == TIMM_NUM_PARAMS[model_id]


def test_keras_families_list_layers_in_keras_creation_order():
    """keras.applications creates a block's shortcut before its main branch (V2: after the pre-activation BN), and
    legacy .h5 weights load by that order: the canonical order follows it."""
    v1 = [layer.name for layer in specs.get("resnet50_v1").layers_of("conv2_block1")]
    assert v1 == ["conv2_block1_0_conv", "conv2_block1_0_bn", "conv2_block1_1_conv", "conv2_block1_1_bn",
                  "conv2_block1_2_conv", "conv2_block1_2_bn", "conv2_block1_3_conv", "conv2_block1_3_bn"]
    v2 = [layer.name for layer in specs.get("resnet50v2").layers_of("conv2_block1")]
    assert v2 == ["conv2_block1_preact_bn", "conv2_block1_0_conv", "conv2_block1_1_conv", "conv2_block1_1_bn",
                  "conv2_block1_2_conv", "conv2_block1_2_bn", "conv2_block1_3_conv"]


def test_v2_spatial_sizes_halve_in_the_last_block_of_conv2_to_conv4():
    """keras' resnet_v2: 56 -> 28 at conv2_block3, 28 -> 14 at conv3_block4, 14 -> 7 at conv4_block6; conv5 keeps 7."""
    spec = specs.get("resnet50v2")
    last = {block.name: (block.input_size, block.output_size) for block in spec.blocks if block.stride == 2}
    assert last == {"conv2_block3": (56, 28), "conv3_block4": (28, 14), "conv4_block6": (14, 7)}
    assert [block.shortcut for block in spec.blocks if block.stride == 2] == ["maxpool"] * 3


def test_bn_epsilon_is_each_reference_librarys():
    """torch's and paddle's BatchNorm default 1e-5; keras.applications passes 1.001e-5 to every BN."""
    for model_id in specs.MODEL_IDS:
        _, family = family_of(model_id)
        epsilons = {layer.eps for layer in specs.get(model_id).layers if layer.kind == "bn"}
        assert epsilons == {1.001e-5 if family.keras else 1e-5}, model_id
