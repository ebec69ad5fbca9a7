"""Run every test tier, each in its own pytest process, and print one summary line per tier.

    python tests/tiers.py              # the default tier of every folder (pyproject's addopts: -m 'not slow')
    python tests/tiers.py -m slow      # the slow tier; any other pytest arguments pass through too

A framework folder imports its framework into the pytest process, and two frameworks must not share one
(tests/conftest.py), so the tiers run one after another in separate processes. Exits 1 if any tier failed.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from conftest import TESTS, TIER_FRAMEWORKS  # tests/conftest.py, beside this script

NO_TESTS_COLLECTED = 5
PYTEST_SUMMARY = re.compile(r"^=* ?(?P<counts>\d+ \w.*?) in \d+(\.\d+)?s\b")


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


def run_tier(tier: str, pytest_args: list[str]) -> TierResult:
    """One tier in its own pytest process, its output streamed through, its summary counts kept."""
    command = [sys.executable, "-m", "pytest", str(TESTS / tier), *pytest_args]
    print(f"\n### tests/{tier}: {' '.join(command[1:])}", flush=True)
    counts = "no summary"
    start = time.monotonic()
    with subprocess.Popen(command, cwd=TESTS.parent, stdout=subprocess.PIPE, text=True, bufsize=1) as process:
        for line in process.stdout:
            sys.stdout.write(line)
            if match := PYTEST_SUMMARY.match(line.strip()):
                counts = match["counts"]
    return TierResult(tier, process.returncode, time.monotonic() - start, counts)


def load() -> str:
    """The machine's 1/5/15-minute load averages: the conditions the times were measured under."""
    return " ".join(f"{average:.2f}" for average in os.getloadavg())


def main(pytest_args: list[str]) -> int:
    load_before = load()
    results = [run_tier(tier, pytest_args) for tier in TIER_FRAMEWORKS]
    print(f"\n### tiers (seconds, verdict, pytest's counts); load average {load_before} before, {load()} after")
    for result in results:
        print(result.line())
    total = sum(result.seconds for result in results)
    failed = [result.tier for result in results if not result.passed]
    print(f"{'all':<9} {total:7.1f} s  {'FAILED: ' + ', '.join(failed) if failed else 'ok'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
