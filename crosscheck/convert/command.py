"""`crosscheck convert SRC DST`: its argument parser and handler (the work is in crosscheck.convert.session)."""

from __future__ import annotations

import argparse
from typing import Any

from rich.console import Console
from rich.table import Table

from crosscheck import cli_options
from crosscheck.checkpoints.hubs.targets import TARGETS
from crosscheck.checkpoints.reader import FORMATS, READ_ONLY
from crosscheck.convert.session import ConvertOptions, ConvertResult, ManyResult, convert, convert_many
from crosscheck.metrics import FLOAT64_RTOL

EXIT_MISMATCH = 1
AUTO = "auto"


def add_parser(commands: Any) -> None:
    """Register the `convert` subcommand on the CLI's subparsers."""
    parser = commands.add_parser(
        "convert", help="convert a checkpoint between PyTorch, Keras, Paddle and safetensors, verified",
        description=f"Formats by extension: {', '.join(FORMATS)}. DST is written only if the source and "
                    "converted models agree within the gate (or with --force).")
    parser.add_argument("paths", nargs="+", metavar="PATH",
                        help="SRC DST: the checkpoint to read and the one to write (a directory for --to transformers "
                             "and keras-hub); with --to-dir, every SRC to convert")
    parser.add_argument("--to", choices=sorted(TARGETS), default=None,
                        help="write a library's layout: transformers (a save_pretrained directory: config.json + "
                             "model.safetensors), keras-hub (a save_to_preset directory), paddleclas (a .pdparams of "
                             "PaddleClas' keys), timm (a .pth timm's resnet load_state_dict takes: torchvision's keys); "
                             "default: DST's extension says, or an existing transformers or keras-hub directory")
    parser.add_argument("--to-dir", metavar="DIR", help="convert every SRC into DIR (one pool of workers for all; "
                        "all or nothing: written only if every file converts and passes)")
    parser.add_argument("--to-format", metavar="SUFFIX", choices=[f for f in FORMATS if f not in READ_ONLY],
                        help=f"with --to-dir: the format written, by extension ({', '.join(f for f in FORMATS if f not in READ_ONLY)})")
    cli_options.add_model(parser, "model id, or 'auto' (default): infer it from keys and shapes; ids", default=AUTO)
    cli_options.add_checkpoint_location(parser)
    cli_options.add_backbone_only(parser)
    cli_options.add_overwrite(parser, "an existing DST")
    cli_options.add_force(parser, "DST")
    cli_options.add_seed(parser, "of the verification input")
    cli_options.add_timeout(parser)
    parser.set_defaults(handler=cmd_convert)


def cmd_convert(args: argparse.Namespace, console: Console) -> int:
    options = ConvertOptions(model_id=None if args.model == AUTO else args.model, key=args.key, prefix=args.prefix,
                             num_classes=args.num_classes, overwrite=args.overwrite, to=args.to,
                             force=args.force, seed=args.seed, timeout=args.timeout)
    say = lambda message: console.print(message, highlight=False, markup=False)  # noqa: E731
    if args.to_dir is None:
        if args.to_format or len(args.paths) != 2:
            raise ValueError("convert takes SRC DST, or several SRC with --to-dir DIR --to-format SUFFIX")
        src, dst = args.paths
        result = convert(src, dst, options, progress=say)
        print_result(result, src, dst, Console())
        _warn(result)
        return 0 if result.passed else EXIT_MISMATCH
    if args.to_format is None:
        raise ValueError("--to-dir needs --to-format: the format to write, by extension (e.g. .pdparams)")
    many = convert_many(args.paths, args.to_dir, args.to_format, options, progress=say)
    print_many(many, Console())
    return 0 if many.passed else EXIT_MISMATCH


def print_many(many: ManyResult, console: Console) -> None:
    """Each file's match report and proof, then what was written and how many workers served them all."""
    for source, target, result in many.conversions:
        print_result(result, str(source), str(target), console, written=many.written)
        _warn(result)
    count = len(many.conversions)
    workers = f"{len(many.workers_started)} worker(s) ({', '.join(many.workers_started)}) started once for {count} files"
    if many.written:
        console.print(f"wrote {count} files; {workers}", highlight=False, markup=False)
    else:
        failed = ", ".join(str(source) for source, _, result in many.conversions if not result.passed)
        console.print(f"[red]nothing written[/red] (all or nothing): {failed} failed the proof; --force writes "
                      f"them all anyway; {workers}", highlight=False)


def _warn(result: ConvertResult) -> None:
    for warning in result.found.warnings:  # last, where it cannot scroll past unseen
        Console().print(f"warning: {warning}", style="bold yellow", highlight=False, markup=False)


def print_result(result: ConvertResult, src: str, dst: str, console: Console, written: bool | None = None) -> None:
    """The match report: source framework vs destination framework on the same input; `written` overrides
    whether DST was written (several files are written all together or not at all)."""
    head = "no head: pooled features compared" if result.spec.headless else f"num_classes={result.spec.num_classes}"
    table = Table(title=f"{src} -> {dst}: {result.spec.model_id}, {head}  "
                        f"(float64 gate: rel L2 <= {FLOAT64_RTOL:.0e})", title_justify="left")
    for column in ("pair", "max abs", "rel L2", "cosine", "top-1", "result"):
        # Only the pair wraps; the numbers keep their full width (the table fits 80 columns).
        table.add_column(column, justify="left" if column in ("pair", "result") else "right", no_wrap=column != "pair")
    a = result.agreement
    verdict = "[green]PASS[/green]" if result.passed else "[red]FAIL[/red]"
    table.add_row(f"{result.source_framework} (source) vs {result.destination_framework} (converted)",
                  f"{a.max_abs:.2e}", f"{a.rel_l2:.2e}", f"{a.cosine:.9f}", f"{a.top1:.0%}", verdict)
    console.print(table)
    console.print(f"proof, file to file: {src} read by {result.source_reading}; {dst} read by "
                  f"{result.destination_reading}", highlight=False, markup=False)
    if result.precision == "float64":
        console.print(f"{src} holds float64 tensors: {dst} is written in float64, without rounding", highlight=False,
                      markup=False)
    if result.preprocessing:
        console.print(result.preprocessing, highlight=False, markup=False)
    if result.written if written is None else written:
        console.print(f"wrote {dst}" + ("" if result.passed else " [red](--force: verification failed)[/red]"))
    elif not result.passed:
        console.print(f"[red]not written: {dst}[/red] (the converted model does not reproduce the source; "
                      "--force writes it anyway)")
    else:
        console.print(f"not written: {dst} (another file failed; all or nothing)", highlight=False, markup=False)
