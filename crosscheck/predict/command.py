"""`crosscheck predict IMAGE... --weights FILE`: its argument parser, handler and report (the work is in session)."""

from __future__ import annotations

import argparse
from typing import Any

from rich.console import Console
from rich.table import Table

from crosscheck import backends
from crosscheck import cli_options
from crosscheck import spec as specs
from crosscheck.predict.session import TOP, PredictOptions, PredictResult, predict

EXIT_DISAGREE = 1
ALL = "all"
ORIGIN = "origin"


def add_parser(commands: Any) -> None:
    """Register the `predict` subcommand on the CLI's subparsers."""
    parser = commands.add_parser(
        "predict", help="top-5 classes of real images in every framework, preprocessed as the weights expect",
        description="Reads the checkpoint as convert does, resizes/crops each image as the weights' origin does "
                    "(torchvision/paddle.vision: shorter side 256 + centre crop 224; timm: bicubic, its pretrained_cfg's "
                    "crop; keras.applications: 224x224 "
                    "nearest; CIFAR ids: 32x32), applies the origin's preprocessing in each framework and prints "
                    "the top classes and whether the frameworks agree (exit 1 if not, 2 for bad input).")
    parser.add_argument("images", nargs="+", metavar="IMAGE", help="image files (any format Pillow decodes)")
    parser.add_argument("--weights", required=True, metavar="FILE", help="any checkpoint convert reads")
    parser.add_argument("--framework", choices=(*backends.names(), ALL), default=ALL, help="which to run (default all: the default participants; name keras_jax or keras_torch to run one of them)")
    cli_options.add_model(parser, "model id (default: inferred from the checkpoint); ids")
    cli_options.add_checkpoint_location(parser)
    parser.add_argument("--preprocess", choices=(ORIGIN, *specs.PREPROCESS_CHOICES), default=ORIGIN,
                        help="input preprocessing (default origin: the style the weights' origin trains with; "
                             "none: feed RGB in [0, 255] as is)")
    parser.add_argument("--top", type=int, default=TOP, help=f"how many classes to list (default {TOP})")
    cli_options.add_timeout(parser)
    parser.set_defaults(handler=cmd_predict)


def cmd_predict(args: argparse.Namespace, console: Console) -> int:
    if args.top < 1:
        raise ValueError(f"--top must be >= 1, got {args.top}")
    options = PredictOptions(frameworks=backends.default_names() if args.framework == ALL else (args.framework,),
                             model_id=args.model, key=args.key, prefix=args.prefix, top=args.top,
                             preprocess=None if args.preprocess == ORIGIN else args.preprocess, timeout=args.timeout)
    result = predict(args.images, args.weights, options,
                     progress=lambda message: console.print(message, highlight=False, markup=False))
    print_result(result, Console())
    return 0 if result.agree else EXIT_DISAGREE


def print_result(result: PredictResult, console: Console) -> None:
    """Per image: the top classes with each framework's probability; then whether the frameworks agree."""
    frameworks = list(result.predictions)
    first = frameworks[0]
    if result.names is None and result.spec.num_classes == 1000:
        console.print("class names need torchvision (pip install 'crosscheck[torch]'); printing class indices")
    for index, path in enumerate(result.images):
        table = Table(title=f"{path} ({result.spec.model_id}, {result.preprocess} preprocessing)", title_justify="left")
        table.add_column("class")
        for framework in frameworks:
            table.add_column(framework, justify="right")
        reference = result.predictions[first][index]
        for rank, label in enumerate(reference.classes):
            cells = []
            for framework in frameworks:
                own = result.predictions[framework][index]
                cells.append(f"{own.probabilities[rank]:.4f}" if own.classes[rank] == label
                             else f"[red]{result.label(own.classes[rank])} {own.probabilities[rank]:.4f}[/red]")
            table.add_row(result.label(label), *cells)
        console.print(table)
    if len(frameworks) == 1:
        return
    if result.agree:
        console.print(f"[green]frameworks agree[/green]: {', '.join(frameworks)} give every image the same top "
                      f"{len(reference.classes)} (float32 logits rel L2 <= {result.logits_rel_l2:.1e})")
    else:
        console.print(f"[red]frameworks disagree[/red] on the top {len(reference.classes)} "
                      f"(float32 logits rel L2 up to {result.logits_rel_l2:.1e})")
