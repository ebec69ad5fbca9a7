"""Render console output at a fixed width and check that no number was cut, wrapped or folded.

Pipes and CI logs are 80 columns wide (rich falls back to 80, or reads COLUMNS). A table that does
not fit makes rich cut a cell to `3.01e-…` or fold it over two lines; either corrupts a number.
Use: `assert_numbers_intact(lambda console: print_report(report, console))`, or `assert_intact(narrow, wide)`
on text a command printed with COLUMNS=80 and COLUMNS=1000.
"""

from __future__ import annotations

import io
import re
from collections import Counter
from typing import Callable

from rich.console import Console

# A number as the reports print it: 1.23e-05, 0.999999999, 100%, -3, inf, nan (not digits inside a word).
NUMBER = re.compile(r"(?<![\w.])[-+]?(?:\d+(?:\.\d+)?(?:e[-+]?\d+)?%?|inf|nan)(?![\w.])")
WIDE = 1000

Render = Callable[[Console], None]


def render(printer: Render, width: int) -> str:
    """What `printer` shows on a plain (no colour, not a terminal) console `width` columns wide."""
    buffer = io.StringIO()
    printer(Console(file=buffer, width=width, color_system=None, force_terminal=False, legacy_windows=False))
    return buffer.getvalue()


def numbers(text: str) -> Counter[str]:
    return Counter(NUMBER.findall(text))


def assert_numbers_intact(printer: Render, width: int = 80, expected: tuple[str, ...] = ()) -> str:
    """Render `printer` at `width` and on a 1000-column console; assert_intact on the two. Returns the narrow text."""
    narrow = render(printer, width)
    assert_intact(narrow, render(printer, WIDE), width, expected)
    return narrow


def assert_intact(narrow: str, wide: str, width: int = 80, expected: tuple[str, ...] = ()) -> None:
    """At `width`: no '…', and the same numbers, each whole, as in the wide rendering.

    `expected` are number strings (formatted by the test from its data) that must appear whole. A line
    longer than `width` is allowed: rich emits one only for a soft-wrapped print, which the terminal
    wraps without losing a character (a table that does not fit is shrunk, and caught here if cut).
    """
    assert "…" not in wide, f"cut even when wide:\n{wide}"
    assert "…" not in narrow, f"a cell was cut at {width} columns:\n{narrow}"
    missing = numbers(wide) - numbers(narrow)
    assert not missing, f"numbers cut or folded at {width} columns: {sorted(missing)}\n{narrow}"
    for value in expected:
        assert NUMBER.fullmatch(value), f"{value!r} is not a number as printed"
        assert value in numbers(narrow), f"{value} is not shown whole at {width} columns:\n{narrow}"
