"""The kit writes nothing outside the output it was given: a prediction (every door) and a
training run with plots leave the user's home folder and the XDG folders as they were,
libraries' caches and telemetry included (ONNX Runtime keeps a device id and an event queue
under ~/.cache unless told not to; matplotlib a font cache under ~/.cache and ~/.config)."""
from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from runs import run_tool

SEQ = "MSEEKKPAPSPAPSEEGKKRKAEEGDKMSTNPKPQRKTKRNTNRRPQDVKFPGG"
XDG = ("XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME")
# Variables that would point a library elsewhere than home, or turn its telemetry off: unset,
# so the test sees what the kit itself does.
UNSET = ("MPLCONFIGDIR", "ORT_DISABLE_TELEMETRY", "HF_HOME", "TORCH_HOME", "XDG_RUNTIME_DIR")


@pytest.fixture
def homes(tmp_path) -> tuple[dict, list[Path]]:
    """An environment whose home and XDG folders are new, empty folders."""
    env = {k: v for k, v in os.environ.items() if k not in UNSET}
    folders = [tmp_path / "home"] + [tmp_path / "xdg" / name.lower() for name in XDG]
    for folder in folders:
        folder.mkdir(parents=True)
    env.update(HOME=str(folders[0]), **{name: str(f) for name, f in zip(XDG, folders[1:])})
    return env, folders


def written(folders: list[Path]) -> list[str]:
    return [str(path) for folder in folders for path in folder.rglob("*")]


def test_predicting_through_every_door_leaves_home_untouched(homes, shared_data, tmp_path):
    env, folders = homes
    out = tmp_path / "out"
    out.mkdir()
    runs = [run_tool("commands/predict.py", "-s", SEQ, env=env),
            run_tool("commands/predict.py", shared_data / "valid.fasta", "-o", out / "v.json", env=env),
            subprocess.run([sys.executable, "-c", f"import idr_kit; idr_kit.predict_idrs({SEQ!r})"],
                           env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300),
            run_tool("submit.py", "--model", "models/predictor", "--test",
                     shared_data / "valid.fasta", "--out", out / "run", env=env)]
    for done in runs:
        assert done.returncode == 0, done.stderr[-2000:]
    assert written(folders) == []


def test_a_training_run_with_plots_leaves_home_untouched(homes, shared_data, tmp_path):
    pytest.importorskip("matplotlib")
    env, folders = homes
    with open(shared_data / "train.pkl", "rb") as handle:
        train = pickle.load(handle)[:40]
    with open(tmp_path / "train.pkl", "wb") as handle:
        pickle.dump(train, handle)
    done = run_tool("submit.py", "--track", "lgbm", "--set", "num_rounds=20", "--folds", "2",
                    "--train", tmp_path / "train.pkl", "--test", tmp_path / "train.pkl",
                    "--plot", "--out", tmp_path / "run", env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (tmp_path / "run" / "plots" / "summary.png").is_file()
    assert written(folders) == []
