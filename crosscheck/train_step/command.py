"""`crosscheck train-step --model ID`: its argument parser, terminal and markdown reports, and exit code.

Exit codes: 0 every pair agrees in float64; 1 a pair does not (or a framework failed); 2 bad input.
"""

from __future__ import annotations

import argparse
from typing import Any

from rich.console import Console
from rich.table import Table

from crosscheck import backends
from crosscheck import cli_options
from crosscheck.files import check_outputs, write_reports
from crosscheck.training_conventions import Hyperparameters
from crosscheck.train_step.session import QUANTITIES, TrainConfig, TrainReport, train_step

EXIT_MISMATCH = 1
DEFAULTS = Hyperparameters()


def add_parser(commands: Any) -> None:
    """Register the `train-step` subcommand on the CLI's subparsers."""
    parser = commands.add_parser(
        "train-step", help="prove one training step (BN in training mode, backward, SGD) is the same in every framework",
        description="Same weights, batch and labels in each framework: N steps of training-mode forward, softmax "
                    "cross-entropy on the logits, backward and SGD with momentum and weight decay. Hyperparameters "
                    "are given once, in PyTorch's convention, and translated into each framework's.")
    cli_options.add_model(parser, required=True, metavar="ID")
    cli_options.add_frameworks(parser, "comma-separated (default: torch,keras,paddle)")
    parser.add_argument("--steps", type=int, default=2, help="SGD steps (default 2: momentum first acts in step 2)")
    parser.add_argument("--lr", type=float, default=DEFAULTS.lr, help=f"learning rate (default {DEFAULTS.lr:g})")
    parser.add_argument("--momentum", type=float, default=DEFAULTS.momentum,
                        help=f"SGD momentum, v = momentum * v + g (default {DEFAULTS.momentum:g})")
    parser.add_argument("--weight-decay", type=float, default=DEFAULTS.weight_decay,
                        help=f"L2 weight decay added to the gradient before momentum, torch's (default {DEFAULTS.weight_decay:g})")
    parser.add_argument("--bn-momentum", type=float, default=DEFAULTS.bn_momentum,
                        help=f"BN momentum in torch's meaning, the weight of the new batch; Keras/Paddle get 1 - it "
                             f"(default {DEFAULTS.bn_momentum:g})")
    cli_options.add_batch(parser, "batch size (default 2)")
    parser.add_argument("--image-size", type=int, help="square input size (default 256 for the ImageNet ids: Paddle's float64 global-pool "
                             "backward is exact only for a power-of-two final area; 32 for the CIFAR ids)")
    parser.add_argument("--num-classes", type=int, help="classes of the head (default: the id's)")
    cli_options.add_seed(parser, "for weights, batch and labels")
    cli_options.add_float64_rtol(parser, "per quantity")
    cli_options.add_timeout(parser)
    cli_options.add_json_output(parser)
    cli_options.add_markdown_output(parser)
    cli_options.add_overwrite(parser, "existing --json/--report files")
    parser.set_defaults(handler=cmd_train_step)


def cmd_train_step(args: argparse.Namespace, console: Console) -> int:
    hyper = Hyperparameters(args.lr, args.momentum, args.weight_decay, args.bn_momentum)
    config = TrainConfig(args.model, args.frameworks, args.steps, hyper, args.batch, args.image_size, args.num_classes,
                         args.seed, args.float64_rtol, args.timeout)
    config.validate()  # ValueError: one line, exit 2
    check_outputs((args.json, args.report), args.overwrite)
    with console.status("train-step: starting the workers") as status:
        report = train_step(config, lambda what: status.update(f"train-step: {what}"))
    print_report(report, Console())
    write_reports(args.json, args.report, report.as_dict(), markdown(report), args.overwrite)
    return 0 if report.passed else EXIT_MISMATCH


def rows(report: TrainReport) -> tuple[list[str], list[list[str]]]:
    """The float64 table: quantity x pair, relative L2 (FAIL beyond the gate)."""
    header = ["quantity (float64)", *(f"{p.a} vs {p.b}" for p in report.pairs)]
    body = [[q, *(f"{c.float64:.1e}" + ("" if c.passed else " FAIL") for p in report.pairs for c in p.comparisons
                  if c.quantity == q)] for q in QUANTITIES]
    body.append(["running_var raw", *(f"{p.raw_running_var_float64:.1e}" for p in report.pairs)])
    return header, body


def float32_rows(report: TrainReport) -> tuple[list[str], list[list[str]]]:
    """Each framework's float32 distance from its own float64 truth, per quantity (reported, not gated)."""
    live = list(next(iter(report.float32_distance.values()), {}))
    return (["quantity (float32 vs float64)", *live],
            [[q, *(f"{report.float32_distance[q][fw]:.1e}" for fw in live)] for q in QUANTITIES])


def lines(report: TrainReport) -> list[str]:
    """Hyperparameters as used, then the verdict of every pair with its first divergence and cause."""
    config, used = report.config, report.hyper_used
    out = [f"hyperparameters (torch's convention): lr {used.lr:g}, momentum {used.momentum!r}, weight decay "
           f"{used.weight_decay!r} (coupled L2), BN momentum {used.bn_momentum!r}"
           + ("" if used == config.hyper else " (given values rounded so that every framework represents them exactly)")]
    out += [f"  {fw}: BN momentum {native['bn_momentum']!r}, BN epsilon {native['bn_epsilon']!r}"
            for fw, native in report.native_hyper.items()]
    out += [f"float32 gradients, {fw}: {backends.get(fw).float32_training}"
            for fw in next(iter(report.float32_distance.values()), {}) if backends.get(fw).float32_training]
    for framework, error in report.errors.items():
        out.append(f"FAIL {framework}: {error.splitlines()[0]}")
    for pair in report.pairs:
        failure = pair.first_failure
        if failure is None:
            out.append(f"PASS {pair.a} vs {pair.b}: loss, gradients, updated parameters and BN statistics agree in float64")
        else:
            where = f" first at {failure.first_key}" if failure.first_key else ""
            out.append(f"FAIL {pair.a} vs {pair.b}: {failure.quantity} differ{where} (rel L2 {failure.float64:.2e}); "
                       f"cause: {pair.cause}")
    return out


def print_report(report: TrainReport, console: Console) -> None:
    config = report.config
    console.print(f"train-step {config.model_id}: {config.steps} step(s), batch {config.batch}, {config.size}x{config.size}, "
                  f"{config.spec.num_classes} classes; relative L2, float64 gate {config.float64_rtol:.0e}",
                  highlight=False, markup=False)
    for header, body in (rows(report), float32_rows(report)):
        table = Table(box=None, padding=(0, 1))
        for column in header:
            table.add_column(column, justify="left" if column.startswith("quantity") else "right", no_wrap=True)
        for row in body:
            table.add_row(*row)
        console.print(table)
    for line in lines(report):
        console.print(line, highlight=False, markup=False)


def markdown(report: TrainReport) -> str:
    config = report.config
    out = [f"# crosscheck train-step {config.model_id}", ""]
    for header, body in (rows(report), float32_rows(report)):
        out += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header), *("| " + " | ".join(r) + " |" for r in body), ""]
    return "\n".join([*out, *(f"- {line}" for line in lines(report)), ""])
