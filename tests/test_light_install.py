"""The light install (``pip install -e .``, no extras) is a supported install.

Here the extras' modules are hidden from a child Python by an import hook, as if they were not
installed (CI also runs the same commands in a real base-only environment: .ci/light). w2v,
lgbm and an ensemble of them run end to end; a track or an option whose extra is missing stops
before any training with one line that names what to install.
"""
from __future__ import annotations

import csv
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from runs import HANG

ROOT = Path(__file__).resolve().parents[1]
HIDDEN = ("torch", "matplotlib", "esm", "transformers", "peft", "metapredict", "safetensors",
          "accelerate", "antiberty")
WITHOUT_EXTRAS = f"""
import importlib.abc, runpy, sys
class NotInstalled(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {HIDDEN!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
sys.meta_path.insert(0, NotInstalled())
script = sys.argv[1]
sys.argv = [script] + sys.argv[2:]
runpy.run_path({str(ROOT)!r} + "/" + script, run_name="__main__")
"""


def submit_without_extras(*args: str, cwd: Path, script: str = "submit.py"):
    return subprocess.run([sys.executable, "-c", WITHOUT_EXTRAS, script, *args], cwd=cwd,
                          capture_output=True, text=True, timeout=HANG)


@pytest.fixture(scope="module")
def files(tmp_path_factory, shared_data) -> Path:
    folder = tmp_path_factory.mktemp("light")
    with open(shared_data / "train.pkl", "rb") as handle:
        train = pickle.load(handle)[:70]
    with open(folder / "train.pkl", "wb") as handle:
        pickle.dump(train, handle)
    with open(folder / "test.pkl", "wb") as handle:
        pickle.dump([{"id": d["id"], "sequence": d["sequence"]} for d in train[:5]], handle)
    return folder


def test_an_ensemble_of_w2v_and_lgbm_runs_without_the_extras(files):
    result = submit_without_extras(
        "--track", "ensemble", "--members", "w2v,lgbm", "--train", "train.pkl",
        "--test", "test.pkl", "--out", "ens", "--folds", "2",
        "--set", "member_settings=w2v.vector_size=20,lgbm.num_rounds=30", cwd=files)
    assert result.returncode == 0, result.stderr[-3000:]
    rows = list(csv.DictReader(open(files / "ens" / "submit.csv")))
    assert len(rows) == 5 and all(set(r["IDRs"]) <= {"0", "1"} for r in rows)


@pytest.mark.parametrize("args, words", [
    (["--track", "esm"], ["esm", "torch", ".[esm]"]),
    (["--track", "llm"], ["llm", "torch", ".[llm]"]),
    (["--track", "bilstm"], ["bilstm", "torch", ".[nn]"]),
    (["--track", "ensemble", "--members", "w2v,metapredict"], ["metapredict", ".[metapredict]"]),
    (["--track", "lgbm", "--set", "embeddings=antiberty"], ["lgbm", "torch", ".[esm]"]),
    (["--track", "ensemble", "--members", "w2v,lgbm", "--set",
      "member_settings=lgbm.embeddings=esm2_t6_8M_UR50D"], ["torch", ".[esm]"]),
    (["--track", "w2v", "--plot"], ["matplotlib", "plots"]),
])
def test_a_missing_extra_stops_before_training_in_one_line(files, tmp_path, args, words):
    result = submit_without_extras(*args, "--train", str(files / "train.pkl"), "--test",
                                   str(files / "test.pkl"), "--out", str(tmp_path / "out"),
                                   cwd=files)
    assert result.returncode == 2, result.stderr[-3000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    for word in words:
        assert word in lines[0]
    assert not (tmp_path / "out" / "folds.json").exists()  # no work was done



@pytest.mark.parametrize("fast", [[], ["--fast"]])
def test_the_shipped_predictor_answers_without_the_extras(files, tmp_path, fast):
    result = submit_without_extras("-s", "MSEEKKPAPSPAPSEEGKKRKAEEGDK", *fast, cwd=files,
                                   script="commands/predict.py")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "regions (1-based, inclusive)" in result.stdout
    model = ["--model", str(ROOT / "models" / ("predictor-fast" if fast else "predictor"))]
    result = submit_without_extras(*model, "--test", "test.pkl", "--out", str(tmp_path / "out"),
                                   cwd=files)
    assert result.returncode == 0, result.stderr[-3000:]
    assert len(list(csv.DictReader(open(tmp_path / "out" / "submit.csv")))) == 5
