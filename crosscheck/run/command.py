"""`crosscheck run`: its argument parser and handler (the work is in crosscheck.run.session)."""

from __future__ import annotations

import argparse
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from crosscheck import cli_options
from crosscheck import spec as specs
from crosscheck.calibration import WEIGHT_KINDS
from crosscheck.device_check import require_device
from crosscheck.files import check_outputs, write_reports
from crosscheck.metrics import FLOAT32_MIN_RTOL, FLOAT32_ROUNDING_FACTOR, TF32_RTOL
from crosscheck.run.report import markdown, print_report
from crosscheck.run.session import DEFAULT_MODELS, RunConfig, run

EXIT_MISMATCH = 1


def add_parser(commands: Any) -> None:
    """Register the `run` subcommand on the CLI's subparsers."""
    matrix = commands.add_parser("run", help="prove the implementations compute the same function (the main job)")
    matrix.add_argument("--models", type=cli_options.comma_list, default=list(DEFAULT_MODELS),
                        help=f"comma-separated model ids (default: {','.join(DEFAULT_MODELS)}; all: {','.join(specs.MODEL_IDS)})")
    cli_options.add_frameworks(matrix, "comma-separated, two or more unless --onnx (default: torch,keras,paddle)")
    cli_options.add_batch(matrix)
    cli_options.add_seed(matrix, "for weights and inputs")
    matrix.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help="default auto: cuda when present")
    matrix.add_argument("--weights", choices=WEIGHT_KINDS, default="calibrated",
                        help="seeded weights: calibrated (random BN affine and biases) or plain (the reference "
                             "library's default init); BN statistics from a batch in both (default calibrated)")
    cli_options.add_float64_rtol(matrix, "the equivalence proof")
    matrix.add_argument("--rtol", type=float, default=None,
                        help=f"fixed float32 gate on relative L2 error (default: {FLOAT32_ROUNDING_FACTOR:g} x the "
                             f"smallest float32-vs-float64 distance among the model's runs, at least "
                             f"{FLOAT32_MIN_RTOL:g}; {TF32_RTOL:g} with --allow-tf32)")
    matrix.add_argument("--allow-tf32", action="store_true", help="GPU only: keep TF32 convolutions on and use the TF32 gate")
    cli_options.add_timeout(matrix, help="seconds per worker request before it counts as hung")
    cli_options.add_json_output(matrix)
    cli_options.add_markdown_output(matrix)
    cli_options.add_overwrite(matrix, "existing --json/--report files")
    matrix.add_argument("--onnx", action="store_true",
                        help="also export every model from every framework to ONNX and add the onnxruntime runs "
                             "(torch-onnx, keras-onnx, paddle-onnx) to the matrix")
    matrix.set_defaults(handler=cmd_run)


def cmd_run(args: argparse.Namespace, console: Console) -> int:
    config = RunConfig(models=args.models, frameworks=args.frameworks, batch=args.batch, seed=args.seed,
                       device=args.device, weights=args.weights, float64_rtol=args.float64_rtol, rtol=args.rtol,
                       allow_tf32=args.allow_tf32, timeout=args.timeout, onnx=args.onnx)
    config.validate()  # a ValueError: the CLI prints it as one line, exit code 2
    require_device(config.device, config.frameworks, config.timeout)
    check_outputs((args.json, args.report), args.overwrite)  # fail now, not after the run
    with _progress(console) as progress:
        steps = 3 if config.onnx else 2  # load, forward (, export) per model
        tasks = {fw: progress.add_task(fw, total=1 + steps * len(config.models)) for fw in config.frameworks}
        weights = progress.add_task("weights", total=len(config.models))

        def advance(framework: str, what: str) -> None:
            task = tasks.get(framework, weights)
            progress.update(task, advance=1, description=f"{framework or 'weights'}: {what}")

        report = run(config, advance)
    print_report(report, Console())
    write_reports(args.json, args.report, report.as_dict(), markdown(report), args.overwrite)
    return 0 if report.passed else EXIT_MISMATCH


def _progress(console: Console) -> Progress:
    return Progress(TextColumn("{task.description:<32}"), BarColumn(), TimeElapsedColumn(), console=console, transient=True)
