"""`crosscheck verify FILE.py:CALLABLE --framework F --model ID`: is a hand-written ResNet the model it claims?
`... --against SOURCE.py:CALLABLE --against-framework G`: is it a faithful translation of that source?
Several candidates are verified one after another on the same workers; `--watch` verifies one again on every
change to its file.

Exit codes: 0 the candidate matches at the gate; 1 it does not (or is not a ResNet); 2 usage
errors, files that do not import, constructors that raise. Of several candidates, the highest.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from rich.console import Console
from rich.markup import escape

from crosscheck import backends
from crosscheck import cli_options
from crosscheck.files import check_outputs, write_json
from crosscheck.metrics import FLOAT64_RTOL
from crosscheck.verify.report import print_report, save_plot
from crosscheck.verify.session import Target, Verifier, VerifyConfig, VerifyReport, VerifyUsageError, verifier
from crosscheck.verify.watch import watch
from crosscheck.worker.client import WorkerCrashed, WorkerError

EXIT_MISMATCH = 1
EXIT_USAGE = 2
CANDIDATE_ERROR = "CandidateError: "


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "verify", help="check a hand-written ResNet against a model id, layer by layer",
        description="Trace your own ResNet (any names), align it with a model id's layers, load the same "
                    "calibrated weights into both, and name the first layer that diverges and why.")
    parser.add_argument("targets", nargs="+", metavar="FILE.py:CALLABLE",
                        help="a class or function in FILE.py that returns the model; several are verified one after "
                             "another on the same workers")
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
    parser.add_argument("--plot", metavar="PATH.png", help="write the error curve across depth here (one candidate)")
    parser.add_argument("--watch", action="store_true",
                        help="keep the workers warm and verify again each time FILE.py (or --against's file) changes; "
                             "Ctrl-C stops with the last verdict's exit code")
    cli_options.add_overwrite(parser, "existing --json/--plot files")
    parser.set_defaults(handler=cmd_verify)


def configs_from(args: argparse.Namespace) -> list[VerifyConfig]:
    """One configuration per candidate, in the order given; anything malformed raises VerifyUsageError."""
    if len(args.targets) > 1 and (args.watch or args.plot):
        raise VerifyUsageError(f"{'--watch' if args.watch else '--plot'} takes one candidate, got {len(args.targets)}")
    return [config_from(args, target) for target in args.targets]


def config_from(args: argparse.Namespace, target: str) -> VerifyConfig:
    """The configuration of one candidate, `target`; anything malformed raises VerifyUsageError."""
    source, name = _target(target)
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
    configs = configs_from(args)
    check_outputs((args.json, args.plot), args.overwrite)  # fail now, not after the run
    with verifier(args.timeout) as warm:
        if args.watch:
            config = configs[0]
            sources = [config.source] + ([config.against.source] if config.against else [])
            return watch(sources, lambda: _verdict(warm, config, console, args)[0], Console())
        if len(configs) == 1:  # one candidate: its errors are the command's (one line, exit 2)
            report = _checked(warm, configs[0], console)
            _write(report, args)
            return _code(report)
        verdicts = [_verdict(warm, config, console, args) for config in configs]
    if args.json:
        write_json(args.json, [report.as_dict() for _, report in verdicts if report], args.overwrite)
    return max(code for code, _ in verdicts)


def _verdict(warm: Verifier, config: VerifyConfig, console: Console,
             args: argparse.Namespace) -> tuple[int, VerifyReport | None]:
    """Verify one of several candidates (or one watched): a candidate that cannot be built is reported as the
    command's errors are, and the others go on."""
    try:
        report = _checked(warm, config, console)
    except VerifyUsageError as error:
        console.print(f"[red]crosscheck verify: error:[/red] {escape(str(error))}", highlight=False, soft_wrap=True)
        return EXIT_USAGE, None
    if args.watch:
        _write(report, args)
    return _code(report), report


def _checked(warm: Verifier, config: VerifyConfig, console: Console) -> VerifyReport:
    """The candidate's report, printed; worker errors become VerifyUsageError (a crashed worker is started afresh
    by the next run)."""
    try:
        with console.status("verify: starting the worker") as status:
            report = warm.verify(config, lambda what: status.update(f"verify: {what}"))
    except WorkerCrashed as error:
        warm.forget(error.framework)
        raise VerifyUsageError(f"a worker died: {error}\n{error.detail}") from None
    except WorkerError as error:
        message = str(error)
        if CANDIDATE_ERROR in message:
            raise VerifyUsageError(message.split(CANDIDATE_ERROR, 1)[1]) from None
        raise VerifyUsageError(f"{message}\n{error.detail.strip().splitlines()[-1] if error.detail else ''}") from None
    print_report(report, Console())
    return report


def _write(report: VerifyReport, args: argparse.Namespace) -> None:
    """One candidate's --json and --plot (--watch rewrites them at each verdict)."""
    overwrite = args.overwrite or args.watch
    if args.json:
        write_json(args.json, report.as_dict(), overwrite)
    if args.plot and report.points:
        save_plot(report, args.plot, overwrite)


def _code(report: VerifyReport) -> int:
    return 0 if report.passed else EXIT_MISMATCH
