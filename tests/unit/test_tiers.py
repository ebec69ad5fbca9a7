"""The test tiers themselves: every folder is run by tests/tiers.py, two framework folders never share a pytest
process, a tier that imports a framework it may not is stopped naming the test, and the README's test command
is what CI runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import conftest
import tiers

TESTS = Path(__file__).resolve().parents[1]
ROOT = TESTS.parent


def pytest_in(directory: Path, *args: str) -> subprocess.CompletedProcess:
    """pytest run from `directory` (no project ini options), its output kept."""
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args], cwd=directory,
                          capture_output=True, text=True)


@pytest.fixture
def suite(tmp_path: Path) -> Path:
    """A copy of this suite's conftest in a tests/ folder of its own, with empty tier folders."""
    tests = tmp_path / "tests"
    for tier in conftest.TIER_FRAMEWORKS:
        (tests / tier).mkdir(parents=True)
    (tests / "conftest.py").write_text((TESTS / "conftest.py").read_text())
    return tests


def fake_import(module: str) -> str:
    """Test-module source that puts `module` into sys.modules as an import would (no real framework is loaded)."""
    return f"import sys, types\nsys.modules[{module!r}] = types.ModuleType({module!r})\n"


def test_every_test_file_is_in_a_tier_the_runner_runs():
    folders = {path.parent.name for path in TESTS.glob("*/test_*.py")}
    assert folders == set(conftest.TIER_FRAMEWORKS)
    assert [path.name for path in TESTS.glob("test_*.py")] == []  # beside the tier folders, no tier would run it


def test_two_framework_folders_in_one_session_are_refused_naming_the_runner(suite):
    for tier in ("torch", "keras"):
        (suite / tier / f"test_{tier}_side.py").write_text("def test_nothing():\n    pass\n")
    done = pytest_in(suite.parent, "tests/torch", "tests/keras")
    assert done.returncode == pytest.ExitCode.USAGE_ERROR, done.stdout + done.stderr
    assert "tests/keras, tests/torch import different frameworks" in done.stderr
    assert conftest.RUNNER in done.stderr
    assert pytest_in(suite.parent, "tests").returncode == pytest.ExitCode.USAGE_ERROR  # the whole suite spans all
    assert pytest_in(suite.parent, "tests/torch", "tests/unit").returncode == pytest.ExitCode.OK


def test_a_framework_imported_by_a_unit_test_is_an_error_naming_the_test(suite):
    (suite / "unit" / "test_leaky.py").write_text(
        f"def test_imports_paddle():\n    {fake_import('paddle').strip().replace(chr(10), chr(10) + '    ')}\n\n"
        "def test_after_it():\n    pass\n")
    done = pytest_in(suite.parent, "tests/unit")
    assert done.returncode == pytest.ExitCode.TESTS_FAILED, done.stdout
    assert "2 passed, 1 error" in done.stdout and "ERROR at teardown of test_imports_paddle" in done.stdout
    assert "tests/unit/test_leaky.py::test_imports_paddle imported paddle into the pytest process" in done.stdout


def test_a_test_module_importing_another_framework_is_a_collection_error(suite):
    (suite / "torch" / "test_mixed.py").write_text(fake_import("torch") + fake_import("tensorflow") +
                                                  "def test_nothing():\n    pass\n")
    done = pytest_in(suite.parent, "tests/torch")
    assert done.returncode == pytest.ExitCode.INTERRUPTED, done.stdout
    assert "tests/torch/test_mixed.py imported tensorflow into the pytest process" in done.stdout


def test_a_framework_folder_may_import_its_own_framework(suite):
    (suite / "keras" / "test_own.py").write_text(fake_import("keras") + fake_import("tensorflow") +
                                                "def test_nothing():\n    pass\n")
    done = pytest_in(suite.parent, "tests/keras")
    assert done.returncode == pytest.ExitCode.OK, done.stdout


@pytest.mark.parametrize("line, counts", [
    ("======== 3 passed, 1 skipped, 2 deselected in 4.20s ========", "3 passed, 1 skipped, 2 deselected"),
    ("12 passed in 0.50s", "12 passed"),
    ("==== 1 failed, 5 passed in 61.02s (0:01:01) ====", "1 failed, 5 passed"),
])
def test_the_runner_reads_pytests_summary_line(line, counts):
    assert tiers.PYTEST_SUMMARY.match(line)["counts"] == counts


def test_the_runner_fails_when_any_tier_fails_and_prints_a_line_per_tier(monkeypatch, capsys):
    exits = {tier: 0 for tier in conftest.TIER_FRAMEWORKS} | {"commands": 5, "torch": 1}  # 5: no test selected
    monkeypatch.setattr(tiers, "run_part", lambda part, args: tiers.TierResult(part.tier, exits[part.tier], 1.5, "1 passed"))
    assert tiers.main(["-m", "slow"]) == 1
    out = capsys.readouterr().out
    assert all(f"\n{tier:<9}" in out for tier in exits) and "FAILED: torch" in out
    exits["torch"] = 0
    assert tiers.main([]) == 0


def test_the_queue_holds_every_other_tier_whole_then_each_commands_file_largest_first(suite):
    for name, lines in [("test_small.py", 1), ("test_large.py", 30), ("test_middle.py", 10)]:
        (suite / "commands" / name).write_text("def test_nothing():\n    pass\n" * lines)
    (suite / "torch" / "test_side.py").write_text("def test_nothing():\n    pass\n")
    parts = tiers.queue(suite)
    whole = [part.tier for part in parts if part.path.is_dir()]
    assert sorted(whole) == sorted(set(conftest.TIER_FRAMEWORKS) - {"commands"})
    assert parts[len(whole):] == [tiers.Part("commands", suite / "commands" / name)
                                  for name in ("test_large.py", "test_middle.py", "test_small.py")]


def test_a_tier_in_parts_fails_when_one_part_fails_and_adds_up_their_counts():
    parts = [tiers.TierResult("commands", 0, 2.0, "3 passed, 1 skipped"),
             tiers.TierResult("commands", 1, 1.0, "1 failed, 1 passed, 1 error"),
             tiers.TierResult("commands", 5, 0.5, "2 deselected"),
             tiers.TierResult("commands", 0, 0.5, "1 passed, 2 errors, 2 warnings")]
    tier = tiers.merged("commands", parts)
    assert (tier.exit_code, tier.seconds, tier.passed) == (1, 4.0, False)
    assert tier.counts == "5 passed, 1 skipped, 1 failed, 3 errors, 2 deselected, 2 warnings"
    assert tiers.merged("commands", [parts[0], parts[2]]).exit_code == 0
    assert tiers.merged("commands", [parts[2]]).exit_code == tiers.NO_TESTS_COLLECTED  # nothing selected anywhere


def test_ci_runs_the_readme_test_command_verbatim_then_the_slow_tier_through_the_runner():
    readme = (ROOT / "README.md").read_text()
    [command] = [line.split("#")[0].strip() for line in readme.splitlines() if line.startswith('pip install -e ".[all,test]"')]
    assert command.endswith("python tests/tiers.py")
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert command in ci and "python tests/tiers.py -m slow" in ci
