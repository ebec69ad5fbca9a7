"""`crosscheck export`: its argument parser, handler and report (the work is in crosscheck.export.session)."""

from __future__ import annotations

import argparse
from typing import Any

from rich.console import Console
from rich.table import Table

from crosscheck import backends
from crosscheck import cli_options
from crosscheck import spec as specs
from crosscheck.export.session import INPUT_LAYOUTS, MIN_OPSET, VERIFY_BATCH, ExportOptions, ExportResult, export
from crosscheck.onnx_export import DEFAULT_OPSET, participant

EXIT_MISMATCH = 1


def add_parser(commands: Any) -> None:
    """Register the `export` subcommand on the CLI's subparsers."""
    parser = commands.add_parser(
        "export", help="export a model to ONNX with one framework's own exporter, verified in onnxruntime",
        description="The output is written only if onnxruntime reproduces the native model within the gate, "
                    f"at batch {VERIFY_BATCH} and batch 1 (or with --force). Every export takes NCHW input "
                    "[batch, 3, 224, 224] ([batch, 3, 32, 32] for the CIFAR ids) named 'images' unless --input-layout nhwc, "
                    "and yields 'logits'.")
    cli_options.add_model(parser, required=True)
    parser.add_argument("--framework", required=True, choices=backends.names(), help="whose exporter to use")
    parser.add_argument("--weights", metavar="FILE",
                        help="any checkpoint convert reads (.pth, .ckpt, .safetensors, .keras, .h5, .pdparams, ...; "
                             "default: the seeded calibrated weights)")
    cli_options.add_checkpoint_location(parser)
    cli_options.add_backbone_only(parser)
    parser.add_argument("-o", "--output", required=True, metavar="OUT.onnx", help="the ONNX file to write")
    parser.add_argument("--opset", type=int, default=DEFAULT_OPSET,
                        help=f"ONNX opset, >= {MIN_OPSET} (default {DEFAULT_OPSET}; torch needs >= 18)")
    parser.add_argument("--input-layout", choices=INPUT_LAYOUTS, default="nchw",
                        help="layout of the ONNX input (default nchw, for every framework)")
    parser.add_argument("--preprocess", choices=specs.PREPROCESS_CHOICES, default=specs.NO_PREPROCESSING,
                        help="start the graph with this preprocessing, so its input takes RGB float32 in [0, 255] in "
                             "the chosen layout (default none: the model's own input); docs/preprocessing.md "
                             "has the conventions")
    cli_options.add_seed(parser, "of the calibrated weights and the verification input")
    cli_options.add_overwrite(parser, "an existing output file")
    cli_options.add_force(parser, "the output")
    parser.add_argument("--latency", type=int, default=0, metavar="N",
                        help="also time native and onnxruntime inference at batch 1 (median of N runs)")
    cli_options.add_timeout(parser)
    parser.set_defaults(handler=cmd_export)


def cmd_export(args: argparse.Namespace, console: Console) -> int:
    options = ExportOptions(opset=args.opset, input_layout=args.input_layout, seed=args.seed, overwrite=args.overwrite,
                            force=args.force, latency_repeats=args.latency, timeout=args.timeout,
                            key=args.key, prefix=args.prefix, num_classes=args.num_classes,
                            preprocess=args.preprocess)
    console.print(f"exporting {args.model} from {args.framework} ...", highlight=False)
    result = export(args.model, args.framework, args.output, args.weights, options)
    print_result(result, Console())
    return 0 if result.passed else EXIT_MISMATCH


def print_result(result: ExportResult, console: Console) -> None:
    """The verification table (native vs onnxruntime), the latency if measured, and what was written."""
    meta = result.metadata
    # The pair is the same on every row, so it goes in the title: the numbers keep their full width at 80 columns.
    table = Table(title=f"{meta['model_id']}: {result.framework} float64 vs {participant(result.framework)} (ONNX opset "
                        f"{result.opset}, {meta['input_layout']} input; float32 gate vs the float64 truth: "
                        f"rel L2 <= {result.gate:.1e})", title_justify="left")
    for column in ("input", "max abs", "rel L2", "cosine", "top-1", "result"):
        table.add_column(column, justify="left" if column in ("input", "result") else "right", no_wrap=True)
    for check in result.checks:
        a = check.agreement
        verdict = "[green]PASS[/green]" if check.passed else "[red]FAIL[/red]"
        table.add_row(check.label, f"{a.max_abs:.2e}", f"{a.rel_l2:.2e}", f"{a.cosine:.9f}", f"{a.top1:.0%}", verdict)
    console.print(table)
    if "preprocess" in meta:
        console.print(f"input: RGB float32 in [0, 255]; the graph starts with {meta['preprocess']} preprocessing "
                      f"({meta['preprocess_reference']}), checked against {result.framework}'s own preprocess_input "
                      "+ the native model", highlight=False)
    native = f"native float32 vs its float64 truth: rel L2 {result.native_float32_distance:.2e}"
    if result.native_float32_outlier:
        native += (f", above the gate: a precision problem of {result.framework}'s float32 run, not of the file "
                   "(the gate is anchored on the more accurate onnxruntime run)")
    console.print(native, highlight=False)
    console.print(f"export took {result.export_seconds:.1f} s; weights sha256 {meta['weights_sha256'][:16]}...",
                  highlight=False)
    if result.latency:
        console.print(", ".join(f"{name} {seconds * 1000:.1f} ms" for name, seconds in result.latency.items())
                      + " per batch-1 inference (median)", highlight=False)
    if result.written:
        console.print(f"wrote {result.path}" + ("" if result.passed else " [red](--force: verification failed)[/red]"))
    else:
        console.print(f"[red]not written: {result.path}[/red] (onnxruntime does not reproduce the native model; "
                      "--force writes it anyway)")
