"""`crosscheck inspect FILE [--json]`: its argument parser and handler (the work is in crosscheck.inspect.summary)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from crosscheck import cli_options
from crosscheck import spec as specs
from crosscheck.checkpoints import reader
from crosscheck.inspect.summary import Summary, inspect

SHOWN_IGNORED = 5  # ignored arrays named in the table; --json lists them all


def add_parser(commands: Any) -> None:
    """Register the `inspect` subcommand on the CLI's subparsers."""
    parser = commands.add_parser(
        "inspect", help="what a checkpoint holds: format, where the model is, model id, head, dtype, NaN/Inf, digest",
        description=f"Formats by extension: {', '.join(reader.FORMATS)}. Nothing in the file runs; only PyTorch "
                    "files and Keras 3 .weights.h5 start a framework worker.")
    parser.add_argument("file", help="checkpoint to describe")
    cli_options.add_model(parser, "expected model id (default: inferred); ids")
    cli_options.add_checkpoint_location(parser)
    parser.add_argument("--json", action="store_true", help="print the description as JSON")
    cli_options.add_timeout(parser)
    parser.set_defaults(handler=cmd_inspect)


def cmd_inspect(args: argparse.Namespace, console: Console) -> int:
    summary = inspect(args.file, args.model, args.key, args.prefix, args.timeout)
    if args.json:
        print(json.dumps(summary.as_dict(), indent=2))
    else:
        print_summary(summary, Console())
    return 0


def print_summary(summary: Summary, console: Console) -> None:
    """Two columns, one fact a row."""
    table = Table(title=summary.path, title_justify="left", show_header=False)
    table.add_column(style="bold")
    table.add_column()
    shown = [f"{array['name']} {array['shape']}" for array in summary.ignored_arrays[:SHOWN_IGNORED]]
    more = summary.ignored_count - len(shown)
    ignored = f"{summary.ignored_count} array(s) not read: {', '.join(shown)}" + (f", and {more} more" if more else "") \
        if summary.ignored_count else "none"
    rows = [
        ("format", f"{summary.format}: {summary.description}"),
        ("keys", f"{summary.naming} naming" + (f": {summary.library} layout" if summary.library else "")),
        ("found in", f'key "{summary.container}"' if summary.container else "top level"),
        ("prefix", repr(summary.prefix) if summary.prefix else "none"),
        ("ignored", ignored),
        ("model", summary.model_id),
        ("head", "no head" if summary.num_classes == specs.NO_HEAD else f"num_classes={summary.num_classes}"),
        ("dtype", ", ".join(summary.dtypes)),
        ("parameters", f"{summary.parameters:,} trainable, {summary.values:,} values with BN statistics"),
        ("NaN/Inf", ", ".join(summary.nonfinite) if summary.nonfinite else "none"),
        ("sha256", f"{summary.sha256} (canonical arrays)"),
        ("frameworks", ", ".join(summary.frameworks_started) or "none started"),
    ]
    for name, value in rows:
        table.add_row(name, escape(value))
    console.print(table, highlight=False)
    for warning in summary.warnings:  # after the table, where the eye lands last
        console.print(f"warning: {warning}", style="bold yellow", highlight=False, markup=False)
