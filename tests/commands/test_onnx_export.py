"""ONNX export from all three frameworks: each export equals its native model and the other exports in onnxruntime.

The default run exports resnet18 from torch, keras and paddle once (module fixture) and checks those
files; deeper models, every layout and `run --onnx` are `slow`. Bad input runs against fake workers
(a subprocess that speaks the worker protocol), so the failure paths cost no framework start-up.
"""

from __future__ import annotations

import itertools
import json
import re
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import onnx
import pytest

from crosscheck import backends
from crosscheck import calibration, onnx_tools
from crosscheck.checkpoints import canonical
from crosscheck import spec as specs
from crosscheck.cli import main
from crosscheck.export.session import ExportError, ExportOptions, ExportResult, export
from crosscheck.metrics import rel_l2

FLOAT32_GATE = 1e-5  # README: the float32 gate never tighter than 1e-5; resnet18 rounds at ~1e-6
from crosscheck.worker.client import FrameworkWorker

FAKE_WORKER = r'''
import json, sys
import numpy as np
import onnx
from onnx import TensorProto, helper

mode = sys.argv[1]
print(json.dumps({"ok": True, "result": {"ready": "fake"}}), flush=True)
for line in sys.stdin:
    request = json.loads(line)
    reply = {"ok": True, "result": {}, "seconds": 0.0}
    if request["op"] in ("forward", "file_outputs"):  # the tiny model below: global average pool over H, W
        logits = np.load(request["input"]).mean(axis=(2, 3))
        if mode == "native32_broken" and logits.dtype == np.float32:  # a float32-only defect of the native model
            logits = logits * np.float32(1 + 1e-3)
        np.save(request["output"], logits + (1.0 if mode == "mismatch" else 0.0))
    elif request["op"] == "export_onnx" and mode in ("ok", "mismatch", "native32_broken", "onnx_off"):
        images = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 224, 224])
        logits = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])
        scale = helper.make_tensor("scale", TensorProto.FLOAT, [], [1 + 1e-3 if mode == "onnx_off" else 1.0])
        graph = helper.make_graph([helper.make_node("GlobalAveragePool", ["x"], ["pooled"]),
                                   helper.make_node("Flatten", ["pooled"], ["flat"]),
                                   helper.make_node("Mul", ["flat", "scale"], ["y"])], "tiny", [images], [logits],
                                  initializer=[scale])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", request["opset"])])
        onnx.save(model, request["output"])
    elif request["op"] == "export_onnx":  # an exporter that dies, or logs and "succeeds", half-way through writing
        with open(request["output"], "wb") as handle:
            handle.write(b"\x08\x07\x12\x05half-written")
        if mode == "error":
            reply = {"ok": False, "error": "RuntimeError: simulated exporter failure", "traceback": ""}
    print(json.dumps(reply), flush=True)
'''


def error_text(capsys) -> str:
    """What the CLI printed on stderr, with rich's line wrapping undone."""
    return " ".join(capsys.readouterr().err.split())


def fake_workers(tmp_path: Path, mode: str):
    script = tmp_path / "fake_worker.py"
    script.write_text(FAKE_WORKER)
    return lambda framework: FrameworkWorker(framework, command=[sys.executable, str(script), mode])


def export_all(model_id: str, directory: Path, input_layout: str = "nchw",
               frameworks: tuple[str, ...] = backends.default_names()) -> dict[str, ExportResult]:
    """Export `model_id` (seed-0 calibrated weights, one shared file) from `frameworks`, concurrently."""
    weights = canonical.save(directory / f"{model_id}.safetensors", model_id, calibration.calibrated_weights(model_id))
    options = ExportOptions(input_layout=input_layout)

    def one(framework: str) -> ExportResult:
        return export(model_id, framework, directory / f"{framework}-{model_id}-{input_layout}.onnx", weights, options)

    with ThreadPoolExecutor(max_workers=len(frameworks)) as pool:
        return dict(zip(frameworks, pool.map(one, frameworks)))


def assert_exports_agree(results: dict[str, ExportResult]) -> None:
    """Every export matches its native float64 truth (batch 3 and 1) and every other export, at the README's
    float32 gate: max(1e-5, 4 x the smaller of the native float32 and the onnxruntime batch-3 distances)."""
    for framework, result in results.items():
        assert result.written and result.passed, (framework, result.checks)
        assert [check.label for check in result.checks] == ["batch 3", "batch 1"]
        assert 0 < result.native_float32_distance < 1e-4  # resnet18: ~1e-6; resnet50: ~1.4e-5
        smaller = min(result.native_float32_distance, result.checks[0].agreement.rel_l2)
        assert result.gate == pytest.approx(max(FLOAT32_GATE, 4 * smaller)) and not result.native_float32_outlier
        assert all(check.agreement.rel_l2 <= result.gate for check in result.checks)
    spec = specs.get(next(iter(results.values())).metadata["model_id"])
    images = calibration.sample_input(3, seed=7, size=spec.input_size)
    logits = {fw: onnx_tools.run(onnx_tools.session(r.path), images) for fw, r in results.items()}
    for a, b in itertools.combinations(logits, 2):  # two float32 runs: at most the sum of their distances
        assert rel_l2(logits[a], logits[b]) <= max(results[a].gate, results[b].gate), (a, b)


@pytest.fixture(scope="module")
def resnet18_exports(tmp_path_factory) -> dict[str, ExportResult]:
    return export_all("resnet18", tmp_path_factory.mktemp("onnx"))


def test_resnet18_exports_match_native_and_each_other(resnet18_exports):
    assert_exports_agree(resnet18_exports)


def test_exports_are_checked_named_and_stamped(resnet18_exports):
    """checker passes; one NCHW input `images`, output `logits`, opset 18; metadata names the exact weights."""
    spec = specs.get("resnet18")
    digest = canonical.digest(spec, calibration.calibrated_weights("resnet18"))
    for framework, result in resnet18_exports.items():
        onnx.checker.check_model(str(result.path), full_check=True)
        model = onnx.load(str(result.path))
        assert [(entry.domain, entry.version) for entry in model.opset_import if entry.domain in ("", "ai.onnx")] == [("", 18)]
        dims = [[d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]
                for value in (model.graph.input[0], model.graph.output[0])]
        assert [model.graph.input[0].name, model.graph.output[0].name] == ["images", "logits"]
        assert dims == [["batch", 3, 224, 224], ["batch", 1000]]
        assert onnx_tools.read_metadata(result.path) == {
            "format": "crosscheck-onnx", "model_id": "resnet18", "num_classes": "1000", "spec_version": specs.SPEC_VERSION,
            "source_framework": framework, "input_layout": "nchw", "input_size": "224", "weights_sha256": digest,
            # torchvision ResNet18_Weights.IMAGENET1K_V1.transforms(): Resize(256, bilinear) + CenterCrop(224)
            "image_origin": "torchvision / paddle.vision", "image_resize_mode": "resize_shorter", "image_resize": "256",
            "image_crop": "224", "image_interpolation": "bilinear",
        }


@pytest.mark.parametrize("frameworks", [("torch",), pytest.param(backends.default_names(), marks=pytest.mark.slow),
                                        pytest.param(("keras_torch",), marks=pytest.mark.slow)],
                         ids=["torch", "all", "keras_torch"])
def test_resnet18_cifar_exports_take_32x32_with_a_dynamic_batch(tmp_path, frameworks):
    """The CIFAR id exports at its own input size and head, [batch, 3, 32, 32] -> [batch, 10], equal to its native
    model; the quick tier exports from torch (where CIFAR ResNets are trained), the slow one from all three."""
    results = export_all("resnet18_cifar", tmp_path, frameworks=frameworks)
    assert_exports_agree(results)
    images = calibration.sample_input(3, seed=3, size=32)
    for framework, result in results.items():
        model = onnx.load(str(result.path))
        dims = [[d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]
                for value in (model.graph.input[0], model.graph.output[0])]
        assert dims == [["batch", 3, 32, 32], ["batch", 10]], framework
        meta = onnx_tools.read_metadata(result.path)
        assert (meta["model_id"], meta["input_size"], meta["num_classes"]) == ("resnet18_cifar", "32", "10")
        session = onnx_tools.session(result.path)
        three, one = onnx_tools.run(session, images), onnx_tools.run(session, images[1:2])
        assert three.shape == (3, 10) and rel_l2(one[0], three[1]) <= FLOAT32_GATE, framework


def test_batch_dimension_is_dynamic(resnet18_exports):
    """One file runs batch 1 and batch 3; each image's logits do not depend on its batch."""
    images = calibration.sample_input(3, seed=3)
    for result in resnet18_exports.values():
        session = onnx_tools.session(result.path)
        three, one = onnx_tools.run(session, images), onnx_tools.run(session, images[2:])
        assert three.shape == (3, 1000) and one.shape == (1, 1000)
        assert rel_l2(one[0], three[2]) <= FLOAT32_GATE


def test_nhwc_layout_takes_channels_last_input_and_computes_the_same(resnet18_exports, tmp_path):
    weights = canonical.save(tmp_path / "w.safetensors", "resnet18", calibration.calibrated_weights("resnet18"))
    result = export("resnet18", "paddle", tmp_path / "nhwc.onnx", weights, ExportOptions(input_layout="nhwc"))
    assert result.passed and onnx_tools.read_metadata(result.path)["input_layout"] == "nhwc"
    session = onnx_tools.session(result.path)
    assert session.get_inputs()[0].shape == ["batch", 224, 224, 3]
    images = calibration.sample_input(2, seed=5)
    nhwc = session.run(None, {"images": images.transpose(0, 2, 3, 1).copy()})[0]
    nchw = onnx_tools.run(onnx_tools.session(resnet18_exports["paddle"].path), images)
    assert rel_l2(nhwc, nchw) <= FLOAT32_GATE


def test_digest_names_the_values_not_the_container():
    spec = specs.get("resnet18")
    arrays = calibration.calibrated_weights("resnet18")
    reordered = {key: arrays[key].astype(np.float64) for key in reversed(list(arrays))}
    assert canonical.digest(spec, reordered) == canonical.digest(spec, arrays)
    changed = dict(arrays, **{"conv1_conv.weight": arrays["conv1_conv.weight"].copy()})
    changed["conv1_conv.weight"].flat[0] += 1e-3
    assert canonical.digest(spec, changed) != canonical.digest(spec, arrays)


def test_fake_exporter_round_trip_is_finalised(tmp_path):
    """The framework-free half on its own: names normalised, metadata written, file published."""
    result = export("resnet18", "torch", tmp_path / "tiny.onnx", options=ExportOptions(), worker_factory=fake_workers(tmp_path, "ok"))
    assert result.written and result.passed
    session = onnx_tools.session(result.path)
    assert [i.name for i in session.get_inputs()] == ["images"] and session.get_inputs()[0].shape[0] == "batch"
    assert onnx_tools.read_metadata(result.path)["source_framework"] == "torch"


def test_failing_gate_writes_nothing_unless_forced(tmp_path):
    output = tmp_path / "out.onnx"
    result = export("resnet18", "paddle", output, worker_factory=fake_workers(tmp_path, "mismatch"))
    assert not result.passed and not result.written and not output.exists()
    forced = export("resnet18", "paddle", output, options=ExportOptions(force=True),
                    worker_factory=fake_workers(tmp_path, "mismatch"))
    assert not forced.passed and forced.written and output.is_file()


def test_an_export_off_by_1e_3_fails_against_a_correct_native_float32(tmp_path):
    """The ONNX graph scales the logits by 1 + 1e-3; the native float32 model is right (~1e-8): the gate stays at the
    floor, the export fails and nothing is written."""
    output = tmp_path / "out.onnx"
    result = export("resnet18", "torch", output, worker_factory=fake_workers(tmp_path, "onnx_off"))
    assert result.native_float32_distance < 1e-6 and result.checks[0].agreement.rel_l2 == pytest.approx(1e-3, rel=0.01)
    assert result.gate == FLOAT32_GATE and not result.native_float32_outlier
    assert not result.passed and not result.written and not output.exists()


def test_a_broken_native_float32_does_not_loosen_the_gate_and_is_named(tmp_path, monkeypatch, capsys):
    """The native float32 run is off by 1e-3 (TF32 left on, say), the file is right: the gate is anchored on the
    onnxruntime run (1e-5, where the native model's own error would have made it 4e-3), the file passes and is
    written, and the report names the native float32 run as the precision problem."""
    script = tmp_path / "fake_worker.py"
    script.write_text(FAKE_WORKER)
    monkeypatch.setattr("crosscheck.worker.client.FrameworkWorker", lambda framework, timeout: FrameworkWorker(
        framework, command=[sys.executable, str(script), "native32_broken"], timeout=timeout))
    output = tmp_path / "out.onnx"
    assert main(["export", "--model", "resnet18", "--framework", "torch", "-o", str(output)]) == 0
    text = " ".join(capsys.readouterr().out.split())
    gate = float(re.search(r"float32 gate vs the float64 truth: rel L2 <= (\S+)\)", text).group(1))
    assert gate < 1e-4 and output.is_file()  # 4 x onnxruntime's rounding (~3e-6), not 4 x the native's 1e-3
    assert "native float32 vs its float64 truth: rel L2 1.00e-03, above the gate: a precision problem of torch's " \
           "float32 run, not of the file" in text


@pytest.mark.parametrize("mode, message", [("error", "simulated exporter failure"),
                                           ("garbage", "not a loadable ONNX model")])
def test_exporter_failure_leaves_no_file(tmp_path, mode, message):
    (tmp_path / "out").mkdir()
    with pytest.raises(ExportError if mode == "error" else ValueError, match=message):
        export("resnet18", "keras", tmp_path / "out" / "model.onnx", worker_factory=fake_workers(tmp_path, mode))
    assert list((tmp_path / "out").iterdir()) == []


def test_torch_refuses_an_opset_its_exporter_cannot_emit(tmp_path, capsys):
    code = main(["export", "--model", "resnet18", "--framework", "torch", "-o", str(tmp_path / "m.onnx"), "--opset", "17"])
    assert code == 2
    assert "opset >= 18" in error_text(capsys)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("argv, message", [
    (["--model", "resnet19", "--framework", "torch"], "resnet19"),
    (["--model", "resnet18", "--framework", "torch", "--opset", "16"], "opset must be >= 17"),
    (["--model", "resnet18", "--framework", "torch", "--weights", "missing.safetensors"], "missing.safetensors"),
])
def test_bad_arguments_are_a_clear_error_with_exit_2(tmp_path, capsys, argv, message):
    assert main(["export", *argv, "-o", str(tmp_path / "m.onnx")]) == 2
    assert message in error_text(capsys)
    assert not (tmp_path / "m.onnx").exists()


def test_unknown_framework_is_rejected_by_the_parser(tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        main(["export", "--model", "resnet18", "--framework", "jax", "-o", str(tmp_path / "m.onnx")])
    assert exit_info.value.code == 2


def test_existing_output_is_kept_without_overwrite(tmp_path, capsys):
    output = tmp_path / "m.onnx"
    output.write_bytes(b"original")
    assert main(["export", "--model", "resnet18", "--framework", "paddle", "-o", str(output)]) == 2
    assert "already exists" in error_text(capsys)
    assert output.read_bytes() == b"original"


@pytest.mark.parametrize("relative, message", [("no/such/dir/m.onnx", "does not exist"), (".", "is a directory")])
def test_unwritable_output_fails_before_any_work(tmp_path, capsys, relative, message):
    assert main(["export", "--model", "resnet18", "--framework", "keras", "-o", str(tmp_path / relative), "--overwrite"]) == 2
    assert message in error_text(capsys)


@pytest.mark.slow
def test_resnet50_exports_from_every_framework(tmp_path):
    """A deep id through `export` (the keras-family ids go through `run --onnx` below)."""
    assert_exports_agree(export_all("resnet50", tmp_path))


@pytest.mark.slow
@pytest.mark.parametrize("model_id", ["resnet50d", "seresnet50"])
def test_timm_ids_export_from_every_framework(tmp_path, model_id):
    """The deep stem, the average-pool shortcut and squeeze-excitation (mean, sigmoid, multiply) through every exporter,
    each export checked in onnxruntime against its native float64 truth."""
    assert_exports_agree(export_all(model_id, tmp_path))


@pytest.mark.slow
@pytest.mark.parametrize("model_id", ["resnext50_32x4d", "wide_resnet50_2"])
def test_grouped_and_wide_ids_export_from_torch_and_paddle(tmp_path, model_id):
    """Grouped 3x3 convs (ResNeXt) and wide bottlenecks through torch's and paddle's exporters, each export against its
    native float64 truth in onnxruntime (the 101-layer ids are the same layers, deeper and wider)."""
    assert_exports_agree(export_all(model_id, tmp_path, frameworks=("torch", "paddle")))


@pytest.mark.slow
def test_grouped_ids_export_from_keras(tmp_path):
    """Keras runs a grouped conv on the CPU through an XLA-compiled function; the export traces it as a plain conv,
    which becomes an ONNX Conv with `group` (32 here, torchvision's resnext50_32x4d), proven against float64 truth."""
    results = export_all("resnext50_32x4d", tmp_path, frameworks=("keras",))
    assert_exports_agree(results)
    nodes = onnx.load(results["keras"].path).graph.node
    assert all(node.domain == "" and onnx.defs.has(node.op_type) for node in nodes)  # no StatefulPartitionedCall
    groups = [attr.i for node in nodes if node.op_type == "Conv" for attr in node.attribute if attr.name == "group"]
    assert [group for group in groups if group != 1] == [32] * (3 + 4 + 6 + 3)  # torchvision: one grouped 3x3 conv per bottleneck, [3, 4, 6, 3]


@pytest.mark.slow
def test_nhwc_exports_from_every_framework_agree(tmp_path):
    results = export_all("resnet18", tmp_path, input_layout="nhwc")
    assert_exports_agree(results)
    assert {onnx_tools.read_metadata(r.path)["input_layout"] for r in results.values()} == {"nhwc"}


@pytest.mark.slow
def test_run_onnx_adds_every_export_to_the_matrix_model_after_model(tmp_path):
    """`run --onnx`: each framework's export joins the matrix, judged in float32 against its source's float64 truth.
    The keras-family ids (conv biases, the v2 max-pool shortcut) go one after the other through each worker:
    regression, in-process paddle2onnx garbled resnet50v2 exported after resnet50_v1 (rel L2 1e28)."""
    report_json = tmp_path / "report.json"
    assert main(["run", "--models", "resnet50_v1,resnet50v2", "--onnx", "--json", str(report_json)]) == 0
    report = json.loads(report_json.read_text())
    assert [model["model_id"] for model in report["models"]] == ["resnet50_v1", "resnet50v2"]
    participants = ["torch", "keras", "paddle", "torch-onnx", "keras-onnx", "paddle-onnx"]
    for model in report["models"]:
        distances = model["float32_vs_float64_rel_l2"]
        assert set(distances) == set(participants)
        gate = max(FLOAT32_GATE, 4 * min(distances.values()))  # README's float32 gate
        assert model["float32_gate"] == gate and all(d <= gate for d in distances.values())
        pairs = model["pairs"]
        assert [(p["a"], p["b"]) for p in pairs] == list(itertools.combinations(participants, 2))
        assert all(p["passed"] and p["float32_rel_l2"] <= gate for p in pairs)
        assert all((p["float64_rel_l2"] is None) == p["b"].endswith("-onnx") for p in pairs)  # onnxruntime: float32 only
    assert all(report["overlapped_seconds"][f"onnx export + onnxruntime {fw}"] > 0 for fw in ("torch", "keras", "paddle"))


# onnxscript < 0.5.7 fused ResNet conv+BN wrongly (README): the torch exporter refuses it.
OLD_ONNXSCRIPT_WORKER = ("import importlib.metadata as metadata; real = metadata.version; "
                         "metadata.version = lambda name: '0.5.6' if name == 'onnxscript' else real(name); "
                         "from crosscheck.worker.server import serve; serve('torch')")


def test_export_with_an_old_onnxscript_in_the_worker_exits_2_and_writes_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("crosscheck.worker.client.FrameworkWorker", lambda framework, timeout: FrameworkWorker(
        framework, command=[sys.executable, "-c", OLD_ONNXSCRIPT_WORKER], timeout=timeout))
    assert main(["export", "--model", "resnet18", "--framework", "torch", "-o", str(tmp_path / "m.onnx")]) == 2
    error = error_text(capsys)
    assert "onnxscript 0.5.6 fuses ResNet conv+BN wrongly" in error and "pip install 'onnxscript>=0.5.7'" in error
    assert list(tmp_path.iterdir()) == []
