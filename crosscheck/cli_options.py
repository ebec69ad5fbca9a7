"""Command-line options several commands share, defined once; each command adds the ones it takes.

Where an option means something slightly different per command (what --overwrite replaces, which model id
--model names), the command passes that part of the help text.
"""

from __future__ import annotations

import argparse

from crosscheck import backends
from crosscheck import spec as specs
from crosscheck.metrics import FLOAT64_RTOL
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


def add_force(parser: argparse.ArgumentParser, writes: str) -> None:
    """--force: write the output even when the proof fails; the exit code still says it failed."""
    parser.add_argument("--force", action="store_true", help=f"write {writes} even if verification fails (exit code stays 1)")


def comma_list(text: str) -> list[str]:
    """A comma-separated option's items, blanks dropped: 'torch, keras,' -> ['torch', 'keras']."""
    return [item.strip() for item in text.split(",") if item.strip()]


def add_frameworks(parser: argparse.ArgumentParser, help: str) -> None:
    """--frameworks: comma-separated framework names, the default participants by default (the command checks the
    names)."""
    parser.add_argument("--frameworks", type=comma_list, default=list(backends.default_names()),
                        help=f"{help}; all: {','.join(backends.names())}")


def add_seed(parser: argparse.ArgumentParser, seeds: str) -> None:
    """--seed: the seed of everything the command draws at random; `seeds` says what that is."""
    parser.add_argument("--seed", type=int, default=0, help=f"seed {seeds} (default 0)")


def add_batch(parser: argparse.ArgumentParser, help: str = "input batch size (default 2)") -> None:
    """--batch: how many inputs the proof runs on."""
    parser.add_argument("--batch", type=int, default=2, help=help)


def add_float64_rtol(parser: argparse.ArgumentParser, judged: str) -> None:
    """--float64-rtol: the float64 gate, the equivalence proof; `judged` says what it is applied to."""
    parser.add_argument("--float64-rtol", type=float, default=FLOAT64_RTOL,
                        help=f"float64 gate on relative L2 error, {judged} (default {FLOAT64_RTOL:g})")
