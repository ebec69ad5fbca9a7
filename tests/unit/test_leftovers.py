"""The test suite cleans up after itself: a passing test's tmp_path is gone when pytest exits.

Model checkpoints and ONNX exports fill tmp_path (hundreds of MB per deep model), and pytest keeps every
test's tmp_path of the last three runs by default; pyproject's retention policy keeps only failed tests'.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

INNER_TESTS = '''
def test_passes(tmp_path):
    (tmp_path / "checkpoint.bin").write_bytes(bytes(1 << 20))

def test_fails(tmp_path):
    (tmp_path / "evidence.bin").write_bytes(bytes(1 << 10))
    assert False
'''


def test_only_failed_tests_leave_their_tmp_path(tmp_path: Path) -> None:
    (tmp_path / "test_inner.py").write_text(INNER_TESTS)
    basetemp_root = tmp_path / "temp"
    basetemp_root.mkdir()
    # The project's own ini options, with rootdir-relative paths; PYTEST_DEBUG_TEMPROOT moves pytest's base temp.
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-c", str(ROOT / "pyproject.toml"),
                    "--rootdir", str(tmp_path), str(tmp_path / "test_inner.py")],
                   env={"PYTEST_DEBUG_TEMPROOT": str(basetemp_root), "PATH": ""}, capture_output=True, check=False)
    left = [path.name for path in basetemp_root.rglob("*.bin")]
    assert left == ["evidence.bin"]
