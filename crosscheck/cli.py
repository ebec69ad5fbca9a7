"""The `crosscheck` command line."""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from rich.console import Console
from rich.markup import escape

from crosscheck.convert import command as convert_command
from crosscheck.doctor import command as doctor_command
from crosscheck.export import command as export_command
from crosscheck.inspect import command as inspect_command
from crosscheck.predict import command as predict_command
from crosscheck.run import command as run_command
from crosscheck.train_step import command as train_step_command
from crosscheck.verify import command as verify_command

EXIT_USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="crosscheck", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    # Each command package adds its parser here and keeps its handler to itself.
    run_command.add_parser(commands)
    convert_command.add_parser(commands)
    export_command.add_parser(commands)
    inspect_command.add_parser(commands)
    verify_command.add_parser(commands)
    doctor_command.add_parser(commands)
    train_step_command.add_parser(commands)
    predict_command.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    console = Console(stderr=True)
    try:
        return args.handler(args, console)
    except (ValueError, OSError) as error:  # a user error: one clear line, exit code 2, no traceback
        console.print(f"[red]crosscheck {args.command}: error:[/red] {escape(str(error))}", highlight=False, soft_wrap=True)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
