"""`crosscheck doctor [--json [PATH]]`: what this environment can do, and what to fix or install.

Exit code 0 when the CPU proof can run (every framework imports in its worker), whatever the GPU
status; 1 when it cannot.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from rich.console import Console

from crosscheck import backends
from crosscheck import cli_options
from crosscheck.doctor.environment import collect
from crosscheck.framework_probe import PROBE_TIMEOUT
from crosscheck.doctor.findings import diagnose
from crosscheck.doctor.report import as_dict, print_report
from crosscheck.files import check_writable, write_json

EXIT_CPU_PROOF_BLOCKED = 1
STDOUT = "-"


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "doctor", help="what this environment can do: versions, CUDA builds, devices, known-bad combinations",
        description="Probes each framework in its own worker process (as `run` does), the ONNX exporters and "
                    "onnxruntime, and lists known-bad combinations with the fix for each.")
    parser.add_argument("--json", nargs="?", const=STDOUT, metavar="PATH",
                        help="write the report as JSON to PATH, or to stdout (instead of the table) without PATH")
    cli_options.add_overwrite(parser, "an existing --json PATH")
    parser.add_argument("--check-import-order", action="store_true",
                        help="also import tensorflow then paddle in a throw-away process and report how it ends")
    cli_options.add_timeout(parser, PROBE_TIMEOUT, "seconds for each framework's probe")
    parser.set_defaults(handler=cmd_doctor)


def cmd_doctor(args: argparse.Namespace, console: Console) -> int:
    if args.json and args.json != STDOUT:
        check_writable(args.json, args.overwrite)  # fail now, not after the probes
    with console.status(f"doctor: probing {', '.join(backends.names())} in their workers"):
        env = collect(timeout=args.timeout, check_import_order=args.check_import_order)
    findings = diagnose(env)
    if args.json == STDOUT:
        sys.stdout.write(json.dumps(as_dict(env, findings), indent=2) + "\n")
    else:
        print_report(env, findings, Console())
        if args.json:
            write_json(args.json, as_dict(env, findings), args.overwrite)
    return 0 if env.cpu_proof_ready else EXIT_CPU_PROOF_BLOCKED
