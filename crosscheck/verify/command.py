"""`crosscheck verify FILE.py:CALLABLE --framework F --model ID`: is a hand-written ResNet the model it claims?
`... --against SOURCE.py:CALLABLE --against-framework G`: is it a faithful translation of that source?

Exit codes: 0 the candidate matches at the gate; 1 it does not (or is not a ResNet); 2 usage
errors, files that do not import, constructors that raise.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from rich.console import Console

from crosscheck import backends
from crosscheck import cli_options
from crosscheck.files import check_outputs, write_json
from crosscheck.metrics import FLOAT64_RTOL
from crosscheck.verify.report import print_report, save_plot
from crosscheck.verify.session import Target, VerifyConfig, VerifyUsageError, verify
from crosscheck.worker.client import WorkerCrashed, WorkerError

EXIT_MISMATCH = 1
CANDIDATE_ERROR = "CandidateError: "


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "verify", help="check a hand-written ResNet against a model id, layer by layer",
        description="Trace your own ResNet (any names), align it with a model id's layers, load the same "
                    "calibrated weights into both, and name the first layer that diverges and why.")
    parser.add_argument("target", metavar="FILE.py:CALLABLE", help="a class or function in FILE.py that returns the model")
    parser.add_argument("--framework", required=True, choices=backends.names())
    cli_options.add_model(parser, "the model id to check against", metavar="ID")
    parser.add_argument("--kwargs", default="{}", metavar="JSON", help="keyword arguments for CALLABLE, a JSON object")
    parser.add_argument("--against", metavar="SOURCE.py:CALLABLE",
                        help="check against the model this one translates instead of a model id")
    parser.add_argument("--against-framework", choices=backends.names(), help="the framework of --against")
    parser.add_argument("--against-kwargs", default="{}", metavar="JSON", help="keyword arguments for --against")
    parser.add_argument("--input-shape", metavar="SHAPE",
                        help="one input image: C,H,W for torch/paddle, H,W,C for keras (default: the model id's size, "
                             "3,224,224 or 3,32,32 for the CIFAR ids)")
    cli_options.add_batch(parser)
    cli_options.add_seed(parser, "for weights and inputs")
    parser.add_argument("--rtol", type=float, default=FLOAT64_RTOL,
                        help=f"gate on relative L2 error, both models run in float64 (default {FLOAT64_RTOL:g})")
    parser.add_argument("--no-alternatives", action="store_true", help="on a mismatch, do not try the other model ids")
    cli_options.add_timeout(parser)
    cli_options.add_json_output(parser)
    parser.add_argument("--plot", metavar="PATH.png", help="write the error curve across depth here")
    cli_options.add_overwrite(parser, "existing --json/--plot files")
    parser.set_defaults(handler=cmd_verify)


def config_from(args: argparse.Namespace) -> VerifyConfig:
    """The run's configuration; anything malformed raises VerifyUsageError."""
    source, name = _target(args.target)
    kwargs = _kwargs(args.kwargs, "--kwargs")
    against = None
    if args.against:
        if not args.against_framework:
            raise VerifyUsageError("--against needs --against-framework")
        against = Target(*_target(args.against), args.against_framework, _kwargs(args.against_kwargs, "--against-kwargs"))
    shape = None
    if args.input_shape:
        try:
            shape = tuple(int(v) for v in args.input_shape.split(","))
        except ValueError:
            raise VerifyUsageError(f"--input-shape must be three integers, got {args.input_shape!r}") from None
    config = VerifyConfig(source, name, args.framework, args.model, kwargs, shape, args.batch, args.seed, args.rtol,
                          args.timeout, not args.no_alternatives, against)
    config.validate()
    return config


def _target(text: str) -> tuple[str, str]:
    source, separator, name = text.rpartition(":")
    if not separator or not source or not name:
        raise VerifyUsageError(f"{text!r}: expected FILE.py:CALLABLE")
    return source, name


def _kwargs(text: str, option: str) -> dict[str, Any]:
    try:
        kwargs = json.loads(text)
    except json.JSONDecodeError as error:
        raise VerifyUsageError(f"{option} is not valid JSON: {error}") from None
    if not isinstance(kwargs, dict):
        raise VerifyUsageError(f"{option} must be a JSON object, e.g. '{{\"depth\": 50}}'")
    return kwargs


def cmd_verify(args: argparse.Namespace, console: Console) -> int:
    config = config_from(args)
    check_outputs((args.json, args.plot), args.overwrite)  # fail now, not after the run
    try:
        with console.status("verify: starting the worker") as status:
            report = verify(config, lambda what: status.update(f"verify: {what}"))
    except WorkerCrashed as error:
        raise VerifyUsageError(f"a worker died: {error}\n{error.detail}") from None
    except WorkerError as error:
        message = str(error)
        if CANDIDATE_ERROR in message:
            raise VerifyUsageError(message.split(CANDIDATE_ERROR, 1)[1]) from None
        raise VerifyUsageError(f"{message}\n{error.detail.strip().splitlines()[-1] if error.detail else ''}") from None
    print_report(report, Console())
    if args.json:
        write_json(args.json, report.as_dict(), args.overwrite)
    if args.plot and report.points:
        save_plot(report, args.plot, args.overwrite)
    return 0 if report.passed else EXIT_MISMATCH
