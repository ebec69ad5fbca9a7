"""Run every test tier, each in its own pytest process, and print one summary line per tier.

    python tests/tiers.py              # the default tier of every folder (pyproject's addopts: -m 'not slow')
    python tests/tiers.py -m slow      # the slow tier; any other pytest arguments pass through too

A framework folder imports its framework into the pytest process, and two frameworks must not share one
(tests/conftest.py), so every tier runs in processes of its own. Two lanes, one per core, take parts from one
queue: each of the other tiers whole, then the commands tier file by file (its files share nothing, and it is
the largest tier by far). Each part's output is printed whole when it ends. Exits 1 if any tier failed.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from conftest import TESTS, TIER_FRAMEWORKS  # tests/conftest.py, beside this script

NO_TESTS_COLLECTED = 5
LANES = 2  # one pytest process per core: a third only competes with the two for the cores
BY_FILE = "commands"  # the tier whose test files run as parts of their own
PYTEST_SUMMARY = re.compile(r"^=* ?(?P<counts>\d+ \w.*?) in \d+(\.\d+)?s\b")
PLURAL_NOUNS = ("error", "warning")  # pytest's "1 error", "2 errors"; its other counts are adjectives


@dataclass(frozen=True)
class Part:
    """What one pytest process runs: a tier folder, or one test file of the commands tier."""

    tier: str
    path: Path

    @property
    def size(self) -> int:
        """Bytes of test code, the queue's estimate of how long the part takes."""
        files = [self.path] if self.path.is_file() else self.path.rglob("test_*.py")
        return sum(file.stat().st_size for file in files)


@dataclass
class TierResult:
    tier: str
    exit_code: int
    seconds: float
    counts: str

    @property
    def passed(self) -> bool:
        return self.exit_code in (0, NO_TESTS_COLLECTED)

    def line(self) -> str:
        verdict = "ok" if self.passed else f"FAILED (exit {self.exit_code})"
        return f"{self.tier:<9} {self.seconds:7.1f} s  {verdict:<16} {self.counts}"


def queue(tests: Path = TESTS) -> list[Part]:
    """Every tier's parts, the whole tiers first, then the commands tier's files, each kind largest first: the last
    parts to start are small ones, so both lanes end close together."""
    whole = [Part(tier, tests / tier) for tier in TIER_FRAMEWORKS if tier != BY_FILE]
    files = [Part(BY_FILE, file) for file in (tests / BY_FILE).glob("test_*.py")]
    return [*sorted(whole, key=lambda part: part.size, reverse=True), *sorted(files, key=lambda part: part.size, reverse=True)]


def run_part(part: Part, pytest_args: list[str]) -> TierResult:
    """One part in its own pytest process; its output printed whole when it ends, its summary counts kept."""
    command = [sys.executable, "-m", "pytest", str(part.path), *pytest_args]
    start = time.monotonic()
    process = subprocess.run(command, cwd=TESTS.parent, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    where = part.path.relative_to(TESTS.parent)
    print(f"\n### {where}: {' '.join(command[1:])}\n{process.stdout}", end="", flush=True)
    summaries = [match["counts"] for line in process.stdout.splitlines() if (match := PYTEST_SUMMARY.match(line.strip()))]
    return TierResult(part.tier, process.returncode, time.monotonic() - start, summaries[-1] if summaries else "no summary")


def merged(tier: str, parts: list[TierResult]) -> TierResult:
    """A tier's result from its parts': the first failing exit code, their seconds and pytest's counts summed."""
    failing = [part.exit_code for part in parts if not part.passed]
    collected = [part.exit_code for part in parts if part.exit_code != NO_TESTS_COLLECTED]
    exit_code = failing[0] if failing else 0 if collected else NO_TESTS_COLLECTED
    return TierResult(tier, exit_code, sum(part.seconds for part in parts), summed_counts([part.counts for part in parts]))


def summed_counts(summaries: list[str]) -> str:
    """pytest's summary counts ("3 passed, 1 skipped") added up, in the order they first appear."""
    totals: Counter[str] = Counter()
    for summary in summaries:
        for count in summary.split(", "):
            number, _, word = count.partition(" ")
            if number.isdigit():
                totals[word.removesuffix("s") if word.removesuffix("s") in PLURAL_NOUNS else word] += int(number)
    shown = [f"{n} {word}{'s' if word in PLURAL_NOUNS and n > 1 else ''}" for word, n in totals.items()]
    return ", ".join(shown) or "no summary"


def load() -> str:
    """The machine's 1/5/15-minute load averages: the conditions the times were measured under."""
    return " ".join(f"{average:.2f}" for average in os.getloadavg())


def main(pytest_args: list[str]) -> int:
    started, load_before = time.monotonic(), load()
    parts = queue()
    with ThreadPoolExecutor(LANES) as lanes:  # each lane takes the next part of the queue when it is free
        done = list(lanes.map(run_part, parts, [pytest_args] * len(parts)))
    results = [merged(tier, [part for part in done if part.tier == tier]) for tier in TIER_FRAMEWORKS]
    print(f"\n### tiers (seconds, verdict, pytest's counts); load average {load_before} before, {load()} after")
    for result in results:
        print(result.line())
    total = time.monotonic() - started
    failed = [result.tier for result in results if not result.passed]
    print(f"{'all':<9} {total:7.1f} s  {'FAILED: ' + ', '.join(failed) if failed else 'ok'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
