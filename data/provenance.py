"""What made an output: the code's version and the libraries' versions, for every record."""
from __future__ import annotations

import platform
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

DISTRIBUTION = "idr-kit"
# Distributions whose versions explain a change in figures between two runs.
LIBRARIES = ("numpy", "scipy", "scikit-learn", "gensim", "lightgbm", "torch", "fair-esm",
             "transformers", "peft", "metapredict", "matplotlib")


def code_version() -> str:
    """The git commit of this checkout (with ``+dirty`` for local edits), or the package version."""
    here = Path(__file__).resolve().parents[1]
    try:
        sha = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=here, text=True,
                             capture_output=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=here, text=True, capture_output=True, timeout=10).stdout
        return sha + ("+dirty" if dirty.strip() else "")
    except (OSError, subprocess.SubprocessError):
        try:
            return version(DISTRIBUTION)
        except PackageNotFoundError:
            return "unknown"


def library_versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            pass
    return found
