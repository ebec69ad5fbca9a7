"""What a new user meets first: output file permissions, the overwrite policy, 80-column tables, clear errors.

Every writer is reached without starting a framework (fake workers, hand-built reports, the CLI's heavy
call replaced), so this file stays in the quick default tier; the real framework writers (.pth,
.pdparams, .weights.h5) are `slow`.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import stat
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console
from rich.table import Table

from crosscheck import calibration, cli, files
from crosscheck import spec as specs
from crosscheck.checkpoints import canonical
from crosscheck.convert import command as convert_command
from crosscheck.convert.session import ConvertOptions, ConvertResult, WorkerPool, convert
from crosscheck.export import command as export_command
from crosscheck.export.session import Check, ExportOptions, ExportResult, export
from crosscheck.metrics import Agreement
from crosscheck.run import command as run_command
from crosscheck.run.session import RunReport
from crosscheck.verify import command as verify_command
from crosscheck.verify import report as verify_report
from crosscheck.verify.counterfactual import Mutation
from crosscheck.verify.diagnose import Finding
from crosscheck.verify.numeric import Point
from crosscheck.verify.session import Alternative, Counterfactual, VerifyConfig, VerifyReport
from crosscheck.worker.client import FrameworkWorker, WorkerCrashed

from console_width import assert_intact, assert_numbers_intact  # tests/ helpers
from test_onnx_export import fake_workers

ROOT = Path(__file__).resolve().parents[2]
CANDIDATE = ROOT / "tests" / "candidates" / "blog_resnet_torch.py"
AGREEMENT = Agreement(max_abs=3.0123e-6, rel_l2=1.2345e-6, cosine=0.99999999871, top1=1.0)


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    """resnet18's calibrated weights in a canonical file, made once (calibration takes seconds)."""
    directory = tmp_path_factory.mktemp("weights")
    return canonical.save(directory / "resnet18.safetensors", "resnet18", calibration.calibrated_weights("resnet18"))


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(params=[0o022, 0o027], ids=["umask022", "umask027"])
def umask(request) -> int:
    """Run the test under this umask (workers inherit it); the mode open() gives a new file is 0666 & ~umask."""
    previous = os.umask(request.param)
    yield request.param
    os.umask(previous)


def open_mode(umask: int) -> int:
    """From first principles: open(path, "w") creates a file 0666 minus the umask."""
    return 0o666 & ~umask


def verify_report_fixture() -> VerifyReport:
    """The README's verify example (stride on the 1x1), built by hand: a finding, a divergence, a counterfactual."""
    config = VerifyConfig(str(CANDIDATE), "BlogResNet", "torch", "resnet50", {"stride_on_1x1": True})
    points = [Point("stem", "block", 0.0), Point("conv2_block3", "block", 0.0),
              Point("conv3_block1_1_conv", "layer", float("inf"), "shape (128, 28, 28), reference (128, 56, 56)"),
              Point("conv3_block1", "block", 3.0512e-1), Point("output", "output", 1.4987e-1)]
    finding = Finding("stride_on_1x1", "error", ["conv3_block1_1_conv", "conv4_block1_1_conv", "conv5_block1_1_conv"],
                      "the strided blocks put stride 2 on their first 1x1 conv; the reference strides the 3x3")
    same = [Point(p.name, p.kind, 0.0) for p in points]
    counterfactuals = [Counterfactual(Mutation("stride_on_1x1", "stride_on", "conv1"), same, config.rtol)]
    alternatives = [Alternative("resnet50_v1", [Finding("bn_eps", "error", ["conv1_bn"])])]
    return VerifyReport(config, "BlogResNet", "", (3, 4, 6, 3), [finding], ["conv1_conv.bias loaded as 0"], [],
                        points, alternatives, counterfactuals)


def export_result(path: Path) -> ExportResult:
    metadata = {"model_id": "resnet50v2", "input_layout": "nchw", "weights_sha256": "0f" * 32}
    checks = [Check("batch 3", AGREEMENT, True), Check("batch 1", AGREEMENT, False)]
    return ExportResult(path, "paddle", 18, metadata, 12.3, checks, True, native_float32_distance=4.5678e-7,
                        gate=2.0e-6, latency={"native": 0.0123, "onnxruntime": 0.0099})


def convert_result() -> ConvertResult:
    return ConvertResult(specs.get("resnet50v2"), "keras", "paddle", AGREEMENT, True, True, np.zeros(1), np.zeros(1), found=None,
                         source_reading="Keras load_weights", destination_reading="Paddle set_state_dict of the file's state_dict",
                         precision="float32")


def table_numbers(agreement: Agreement) -> tuple[str, ...]:
    """The numbers every report prints for an agreement, formatted here from the values."""
    return (f"{agreement.max_abs:.2e}", f"{agreement.rel_l2:.2e}", f"{agreement.cosine:.9f}", f"{agreement.top1:.0%}")


# --- file modes ---------------------------------------------------------------------------------------------

def test_text_outputs_get_the_mode_open_gives(tmp_path, umask):
    files.write_text(tmp_path / "report.json", "{}\n")
    with open(tmp_path / "plain.json", "w") as handle:  # the reference: what a plain open() does here
        handle.write("{}\n")
    assert mode(tmp_path / "report.json") == mode(tmp_path / "plain.json") == open_mode(umask)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp file left


def test_a_replaced_file_keeps_its_mode(tmp_path, umask):
    target = tmp_path / "report.md"
    target.write_text("old")
    target.chmod(0o640)
    files.write_text(target, "new", overwrite=True)
    assert target.read_text() == "new" and mode(target) == 0o640


def test_canonical_weights_get_the_mode_open_gives(tmp_path, umask, weights):
    _, arrays, _ = canonical.load(weights)
    assert mode(canonical.save(tmp_path / "w.safetensors", "resnet18", arrays)) == open_mode(umask)


def test_onnx_export_gets_the_mode_open_gives(tmp_path, umask, weights):
    result = export("resnet18", "torch", tmp_path / "m.onnx", weights, worker_factory=fake_workers(tmp_path, "ok"))
    assert result.written and mode(result.path) == open_mode(umask)


def test_converted_checkpoint_gets_the_mode_open_gives(tmp_path, umask, weights):
    """canonical -> canonical: both sides run in the 'torch' worker, here a fake one; the copy-into-place is real."""
    src = tmp_path / "src.safetensors"
    shutil.copyfile(weights, src)
    src.chmod(0o600)  # a private source: the copy must not inherit it
    pool = WorkerPool()
    pool.workers["torch"] = fake_workers(tmp_path, "ok")("torch")
    try:
        result = convert(src, tmp_path / "dst.safetensors", ConvertOptions(), pool=pool)
    finally:
        pool.close()
    assert result.written and mode(tmp_path / "dst.safetensors") == open_mode(umask)


def test_verify_plot_gets_the_mode_open_gives(tmp_path, umask):
    verify_report.save_plot(verify_report_fixture(), tmp_path / "curve.png")
    assert (tmp_path / "curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert mode(tmp_path / "curve.png") == open_mode(umask)


@pytest.mark.slow
def test_framework_checkpoints_get_the_mode_open_gives(tmp_path, weights):
    """The real writers: torch.save, Keras save_weights, the .pdparams pickle, each staged and copied into place."""
    previous = os.umask(0o027)
    try:
        pool = WorkerPool()
        try:
            for suffix in (".pth", ".pdparams", ".weights.h5"):
                assert convert(weights, tmp_path / f"dst{suffix}", pool=pool).written
        finally:
            pool.close()
    finally:
        os.umask(previous)
    assert {suffix: mode(tmp_path / f"dst{suffix}") for suffix in (".pth", ".pdparams", ".weights.h5")} == \
        dict.fromkeys((".pth", ".pdparams", ".weights.h5"), 0o640)


# --- one output policy: refuse an existing file unless --overwrite --------------------------------------------

def error_text(capsys) -> str:
    return " ".join(capsys.readouterr().err.split())


@pytest.fixture
def no_work(monkeypatch):
    """The commands' heavy calls, replaced by hand-built reports: the output handling around them is real."""
    calls = []

    def fake_run(config, progress):
        calls.append("run")
        return RunReport(config)

    def fake_verify(verifier, config, progress):
        calls.append("verify")
        return verify_report_fixture()

    monkeypatch.setattr(run_command, "run", fake_run)
    monkeypatch.setattr(verify_command.Verifier, "verify", fake_verify)
    return calls


RUN = ["run", "--models", "resnet18"]
VERIFY = ["verify", f"{CANDIDATE}:BlogResNet", "--framework", "torch", "--model", "resnet50"]
OUTPUT_FLAGS = [(RUN, "--json"), (RUN, "--report"), (VERIFY, "--json"), (VERIFY, "--plot"),
                (["export", "--model", "resnet18", "--framework", "torch"], "-o"), (["doctor"], "--json")]


@pytest.mark.parametrize("command, flag", OUTPUT_FLAGS, ids=lambda v: v if isinstance(v, str) else v[0])
def test_an_existing_output_is_refused_before_any_work(tmp_path, capsys, no_work, command, flag):
    existing = tmp_path / "existing.out"
    existing.write_bytes(b"keep me")
    assert cli.main([*command, flag, str(existing)]) == 2
    assert f"{existing}: already exists (pass --overwrite to replace it)" in error_text(capsys)
    assert existing.read_bytes() == b"keep me" and no_work == []


def test_unreadable_export_weights_name_the_file_and_the_formats_that_are_read(tmp_path, capsys):
    weights = tmp_path / "r50.safetensors"
    weights.write_bytes(b"\x00" * 64)  # not a checkpoint of any kind
    assert cli.main(["export", "--model", "resnet50", "--framework", "torch", "--weights", str(weights),
                     "-o", str(tmp_path / "r50.onnx")]) == 2
    message = error_text(capsys)
    assert str(weights) in message and "--weights reads" in message and ".pth" in message and ".pdparams" in message
    assert not (tmp_path / "r50.onnx").exists()


def test_convert_refuses_an_existing_destination(tmp_path, capsys, weights):
    existing = tmp_path / "existing.pdparams"
    existing.write_bytes(b"keep me")
    assert cli.main(["convert", str(weights), str(existing)]) == 2
    assert "already exists (pass --overwrite to replace it)" in error_text(capsys)
    assert existing.read_bytes() == b"keep me"


def test_convert_overwrite_replaces_the_destination(tmp_path, weights):
    existing = tmp_path / "existing.pdparams"
    existing.write_bytes(b"old")
    assert cli.main(["convert", str(weights), str(existing), "--overwrite"]) == 0
    assert existing.read_bytes() != b"old" and existing.stat().st_size > 10_000_000  # resnet18's weights
    assert os.listdir(tmp_path) == ["existing.pdparams"]


@pytest.mark.parametrize("command, flags", [(RUN, ("--json", "--report")), (VERIFY, ("--json", "--plot"))],
                         ids=["run", "verify"])
def test_overwrite_replaces_every_output_of_run_and_verify(tmp_path, no_work, command, flags):
    paths = [tmp_path / "a.out", tmp_path / "b.out"]
    for path in paths:
        path.write_bytes(b"old")
    arguments = [item for flag, path in zip(flags, paths) for item in (flag, str(path))]
    assert cli.main([*command, *arguments, "--overwrite"]) == 1  # an empty run and the verify mismatch both fail
    assert all(path.read_bytes() != b"old" for path in paths) and len(no_work) == 1
    json.loads(paths[0].read_text())  # the JSON report, complete


def test_overwrite_replaces_an_export(tmp_path, weights):
    output = tmp_path / "m.onnx"
    output.write_bytes(b"old")
    result = export("resnet18", "torch", output, weights, ExportOptions(overwrite=True),
                    worker_factory=fake_workers(tmp_path, "ok"))
    assert result.written and output.read_bytes()[:4] != b"old"


@pytest.mark.parametrize("command, flags", [(RUN, ("--json", "--report")), (VERIFY, ("--json", "--plot"))],
                         ids=["run", "verify"])
def test_two_outputs_may_not_be_the_same_file(tmp_path, capsys, no_work, command, flags):
    same = tmp_path / "out"
    assert cli.main([*command, flags[0], str(same), flags[1], str(tmp_path / "." / "out"), "--overwrite"]) == 2
    assert "given for two outputs" in error_text(capsys)
    assert not same.exists() and no_work == []


def documented_commands() -> list[str]:
    """Every `crosscheck ...` command in the code blocks of the README and docs/, continuation lines joined."""
    text = "\n".join(path.read_text() for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))])
    commands = []
    for block in re.findall(r"```(?:bash|text)\n(.*?)```", text, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            for part in line.removeprefix("$ ").split("&&"):
                if re.match(r"crosscheck [a-z]+( |$)", part.strip()):  # not the example output around it
                    commands.append(shlex.join(shlex.split(part, comments=True)[1:]))
    return commands


def test_documented_examples_write_no_tracked_file():
    commands = documented_commands()
    assert {shlex.split(c)[0] for c in commands} >= {"run", "export", "convert", "verify"}
    tracked = set(subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split())
    parser = cli.build_parser()
    for command in commands:
        args = parser.parse_args(shlex.split(command))  # every documented example is a valid command line
        outputs = [getattr(args, name, None) for name in ("json", "report", "plot", "output", "dst")]
        written = {str(Path(path)) for path in outputs if isinstance(path, str)}  # doctor --json alone: stdout
        assert not written & tracked, f"`crosscheck {command}` writes over tracked files {written & tracked}"


# --- 80 columns: numbers are never cut ------------------------------------------------------------------------

def test_export_table_fits_80_columns(tmp_path):
    result = export_result(tmp_path / "resnet50v2.onnx")
    text = assert_numbers_intact(lambda console: export_command.print_result(result, console),
                                 expected=(*table_numbers(AGREEMENT), f"{result.gate:.1e}",
                                           f"{result.native_float32_distance:.2e}"))
    assert "paddle float64 vs paddle-onnx" in " ".join(text.split())


def test_convert_table_fits_80_columns():
    assert_numbers_intact(lambda console: convert_command.print_result(
        convert_result(), "checkpoints/resnet50v2.weights.h5", "out/resnet50v2.pdparams", console),
        expected=table_numbers(AGREEMENT))


def test_verify_report_fits_80_columns():
    assert_numbers_intact(lambda console: verify_report.print_report(verify_report_fixture(), console),
                          expected=("3.05e-01", "1.50e-01", "0.00e+00", "128", "56"))


def test_export_command_honours_columns_80(tmp_path, monkeypatch, capsys):
    """The CLI's own console reads COLUMNS (pipes and CI logs): the same check on the real command's stdout."""
    monkeypatch.setattr(export_command, "export", lambda *args, **kwargs: export_result(tmp_path / "m.onnx"))
    printed = {}
    for width in (1000, 80):
        monkeypatch.setenv("COLUMNS", str(width))
        args = cli.build_parser().parse_args(["export", "--model", "resnet50v2", "--framework", "paddle",
                                              "-o", str(tmp_path / "m.onnx")])
        assert export_command.cmd_export(args, Console(stderr=True)) == 1  # the batch-1 check fails
        printed[width] = capsys.readouterr().out
    assert_intact(printed[80], printed[1000], 80, table_numbers(AGREEMENT))


def test_width_check_catches_a_cut_number():
    """The helper itself: a table too wide for 80 columns is caught (rich cuts it to '…')."""
    def too_wide(console):
        table = Table()
        for name in ("a long first column", "second", "third", "fourth", "fifth", "sixth"):
            table.add_column(name, no_wrap=True)
        table.add_row("x" * 20, *table_numbers(AGREEMENT), "0.123456789")
        console.print(table)

    with pytest.raises(AssertionError, match="cut"):
        assert_numbers_intact(too_wide)


# --- errors that say how to fix them ----------------------------------------------------------------------------

def test_pyproject_refers_to_no_missing_file():
    text = (ROOT / "pyproject.toml").read_text()
    for name in re.findall(r"\b[\w./-]+\.md\b", text):
        assert (ROOT / name).is_file(), f"pyproject.toml refers to {name}, which is not in the repository"


# --- noise ------------------------------------------------------------------------------------------------------

# What TensorFlow 2.21 prints on stderr when the keras worker starts on a CPU machine (copied from one).
TF_START_UP = """\
WARNING: All log messages before absl::InitializeLog() is called are written to STDERR
I0000 00:00:1795446991.971407   20634 cudart_stub.cc:31] Could not find cuda drivers on your machine, GPU will not be used.
I0000 00:00:1795446992.308200   20634 cpu_feature_guard.cc:227] This TensorFlow binary is optimized to use available \
CPU instructions in performance-critical operations.
To enable the following instructions: AVX2 FMA, in other operations, rebuild TensorFlow with the appropriate compiler flags.
E0000 00:00:1795447017.158412   20634 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error: Failed call \
to cuInit: UNKNOWN ERROR (303)
"""


def test_a_worker_crash_report_shows_the_error_not_tensorflow_info_logs():
    script = f"import sys; sys.stderr.write({TF_START_UP!r}); raise RuntimeError('the real cause')"
    worker = FrameworkWorker("keras", command=[sys.executable, "-c", script])
    with pytest.raises(WorkerCrashed) as crash:
        worker.wait_ready()
    worker.close()
    assert "RuntimeError: the real cause" in crash.value.detail
    assert "cuInit" in crash.value.detail  # errors stay: on a GPU machine this one is the cause
    for info in ("cudart_stub", "cpu_feature_guard", "AVX2", "absl::InitializeLog"):
        assert info not in crash.value.detail


@pytest.mark.parametrize("module, message, category", [
    ("paddle.utils.cpp_extension.extension_utils", "No ccache found. Please be aware that recompiling all source "
                                                   "files may be required.", UserWarning),
    ("keras.src.backend.tensorflow.core", "__array__ implementation doesn't accept a copy keyword, so passing "
                                          "copy=False failed.", DeprecationWarning),
])
def test_known_third_party_warnings_are_filtered_and_no_others(module, message, category):
    """pyproject's filterwarnings (active around every test) drops these notices from their module, nothing else."""
    with warnings.catch_warnings(record=True) as seen:
        for text, where in ((message, module), ("a warning of ours", module), (message, "crosscheck.run.session")):
            warnings.warn_explicit(text, category, "somewhere.py", 1, module=where, registry={})
    assert [(str(w.message), w.category) for w in seen] == [("a warning of ours", category), (message, category)]


@pytest.mark.parametrize("existing", [None, b"keep me"], ids=["new", "existing"])
def test_a_write_that_fails_midway_leaves_no_partial_file_and_the_old_file_intact(tmp_path, existing):
    target = tmp_path / "report.json"
    if existing is not None:
        target.write_bytes(existing)
    with pytest.raises(RuntimeError, match="writer died"):
        with files.atomic_output(target, overwrite=True) as temp:
            temp.write_text('{"half": ')
            raise RuntimeError("writer died")
    assert os.listdir(tmp_path) == ([] if existing is None else ["report.json"])
    assert existing is None or target.read_bytes() == existing
