"""Run every test tier, each in its own pytest process, and print one summary line per tier.

    python tests/tiers.py              # the default tier of every folder (pyproject's addopts: -m 'not slow')
    python tests/tiers.py -m slow      # the slow tier; any other pytest arguments pass through too

A framework folder imports its framework into the pytest process, and two frameworks must not share one
(tests/conftest.py), so every tier runs in a process of its own. The commands tier mostly waits on its worker
processes, so it runs beside the others, which run one after another; each tier's output is printed whole when
it ends. Exits 1 if any tier failed.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from conftest import TESTS, TIER_FRAMEWORKS  # tests/conftest.py, beside this script

NO_TESTS_COLLECTED = 5
BESIDE_THE_OTHERS = "commands"  # the tier that runs in a lane of its own, next to the rest
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
    """One tier in its own pytest process; its output printed whole when it ends, its summary counts kept."""
    command = [sys.executable, "-m", "pytest", str(TESTS / tier), *pytest_args]
    start = time.monotonic()
    process = subprocess.run(command, cwd=TESTS.parent, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    print(f"\n### tests/{tier}: {' '.join(command[1:])}\n{process.stdout}", end="", flush=True)
    summaries = [match["counts"] for line in process.stdout.splitlines() if (match := PYTEST_SUMMARY.match(line.strip()))]
    return TierResult(tier, process.returncode, time.monotonic() - start, summaries[-1] if summaries else "no summary")


def run_lane(tiers: list[str], pytest_args: list[str]) -> list[TierResult]:
    """Tiers one after another."""
    return [run_tier(tier, pytest_args) for tier in tiers]


def load() -> str:
    """The machine's 1/5/15-minute load averages: the conditions the times were measured under."""
    return " ".join(f"{average:.2f}" for average in os.getloadavg())


def main(pytest_args: list[str]) -> int:
    started, load_before = time.monotonic(), load()
    lanes = [[BESIDE_THE_OTHERS], [tier for tier in TIER_FRAMEWORKS if tier != BESIDE_THE_OTHERS]]
    with ThreadPoolExecutor(len(lanes)) as pool:
        by_tier = {result.tier: result for lane in pool.map(run_lane, lanes, [pytest_args] * len(lanes)) for result in lane}
    results = [by_tier[tier] for tier in TIER_FRAMEWORKS]
    print(f"\n### tiers (seconds, verdict, pytest's counts); load average {load_before} before, {load()} after")
    for result in results:
        print(result.line())
    total = time.monotonic() - started
    failed = [result.tier for result in results if not result.passed]
    print(f"{'all':<9} {total:7.1f} s  {'FAILED: ' + ', '.join(failed) if failed else 'ok'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
