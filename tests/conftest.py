"""Fixtures shared by the test files."""
from pathlib import Path

import pytest

# CI clones the repository with shared/ beside it; the data is never looked up by working directory.
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The folder of real DisProt/CAID files (see its README.md); skips when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    return SHARED_DATA
