"""The CI matrix: the lowest row pins the lower bounds pyproject.toml declares, and its script runs this suite.

``ST_MM_CI_LOWEST=1 pytest tests/conformance/test_ci_matrix.py`` builds the lowest row's venv (about 4 minutes
the first time) and runs the conformance suite in it.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        match = re.match(r"^([A-Za-z0-9_.-]+)==([^\s#]+)", line.strip())
        if match:
            pins[match.group(1).lower()] = match.group(2)
    return pins


def _lower_bounds() -> dict[str, str]:
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    return {name.lower(): version for name, version in re.findall(r'"([A-Za-z0-9_.-]+)>=([0-9.]+)', text)}


@pytest.mark.parametrize("package", ["sentence-transformers", "transformers"])
def test_lowest_row_pins_the_declared_lower_bound(package):
    pinned = _pins(ROOT / "constraints" / "lowest.txt")[package]
    declared = _lower_bounds()[package]
    assert tuple(map(int, pinned.split("."))) == tuple(map(int, (declared.split(".") + ["0", "0"])[:3]))


def test_rows_pin_the_same_torch_pair():
    assert {k: v for k, v in _pins(ROOT / "constraints" / "lowest.txt").items() if k.startswith("torch")} == \
        _pins(ROOT / "constraints.txt")


@pytest.mark.skipif(os.environ.get("ST_MM_CI_LOWEST") != "1", reason="set ST_MM_CI_LOWEST=1 to build the lowest row and run it")
def test_lowest_row_passes_the_conformance_suite():
    result = subprocess.run([str(ROOT / "scripts" / "ci_lowest.sh"), "-q", "--ignore=tests/conformance/test_ci_matrix.py"],
                            cwd=ROOT, capture_output=True, text=True, timeout=3600)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
