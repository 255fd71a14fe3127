"""The code as a reader and Python's compiler see it: no name used that is not defined, no
import left unused (pyflakes' checks, through ruff), in the package, its tests and benchmarks."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from runs import ROOT


def test_no_undefined_names_and_no_unused_imports():
    ruff = Path(sys.executable).parent / "ruff"
    if not ruff.exists():
        pytest.skip("ruff is not installed (the dev extra has it)")
    done = subprocess.run([str(ruff), "check", "--select", "F", "--no-cache", "--exclude",
                           ".venv,.venv-light,build,runs", str(ROOT)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-4000:]
