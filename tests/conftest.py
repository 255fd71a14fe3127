"""Fixtures shared by the test files."""
import pickle
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


def dump_pickle(path: Path, items) -> Path:
    """``items`` pickled into ``path`` (the competition's files are pickles)."""
    with open(path, "wb") as handle:
        pickle.dump(items, handle)
    return path


@pytest.fixture(scope="module")
def small_competition(tmp_path_factory, shared_data) -> Path:
    """A folder of its own for each test module: 60 training proteins (train.pkl) and 4 to
    predict (test.pkl, no labels) in the competition's layout, and 6 labelled proteins of
    valid.fasta (valid.fasta, CAID 3-line)."""
    folder = tmp_path_factory.mktemp("competition")
    with open(shared_data / "train.pkl", "rb") as handle:
        train = pickle.load(handle)[:60]
    dump_pickle(folder / "train.pkl", train)
    dump_pickle(folder / "test.pkl", [{"id": d["id"], "sequence": d["sequence"]} for d in train[:4]])
    lines = (shared_data / "valid.fasta").read_text().splitlines()[:3 * 6]
    (folder / "valid.fasta").write_text("\n".join(lines) + "\n")
    return folder
