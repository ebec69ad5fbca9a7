"""Command-line options several commands share, defined once; each command adds the ones it takes.

Where an option means something slightly different per command (what --overwrite replaces, which model id
--model names), the command passes that part of the help text.
"""

from __future__ import annotations

import argparse

from crosscheck import spec as specs
from crosscheck.worker.client import DEFAULT_TIMEOUT


def add_model(parser: argparse.ArgumentParser, meaning: str = "model id", **options: object) -> None:
    """--model: a model id; the help text is `meaning` followed by the valid ids."""
    parser.add_argument("--model", help=f"{meaning}: {', '.join(specs.MODEL_IDS)}", **options)


def add_checkpoint_location(parser: argparse.ArgumentParser) -> None:
    """--key and --prefix: where in a checkpoint the ResNet is, when finding it is ambiguous."""
    parser.add_argument("--key", metavar="PATH",
                        help="the nested dict holding the model, e.g. state_dict or model/ema (default: found)")
    parser.add_argument("--prefix", metavar="PREFIX",
                        help="key prefix to strip, e.g. module. or model. ('' for none; default: found)")


def add_timeout(parser: argparse.ArgumentParser, default: float = DEFAULT_TIMEOUT,
                help: str = "seconds per worker request") -> None:
    """--timeout: how long one worker request may take before the worker counts as hung."""
    parser.add_argument("--timeout", type=float, default=default, help=help)


def add_json_output(parser: argparse.ArgumentParser) -> None:
    """--json PATH: the machine-readable report, written atomically (see crosscheck.files)."""
    parser.add_argument("--json", metavar="PATH", help="write the machine-readable report here")


def add_markdown_output(parser: argparse.ArgumentParser) -> None:
    """--report PATH: the report as markdown."""
    parser.add_argument("--report", metavar="PATH", help="write a markdown report here")


def add_overwrite(parser: argparse.ArgumentParser, replaces: str) -> None:
    """--overwrite: without it an existing output is refused before any work; `replaces` names that output."""
    parser.add_argument("--overwrite", action="store_true", help=f"replace {replaces}")
