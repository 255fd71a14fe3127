"""The competition's submission image, as the organisers run it: the build context that
idr-image writes installs into a fresh environment from its own wheels alone (no index), and
its run.sh turns a test pickle in a folder standing in for /saisdata into a submit.csv in the
competition's format in the folder standing in for /saisresult."""
from __future__ import annotations

import csv
import os
import pickle
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from runs import run_tool


@pytest.fixture(scope="module")
def context(tmp_path_factory, shared_data) -> Path:
    folder = tmp_path_factory.mktemp("image")
    with open(shared_data / "train.pkl", "rb") as handle:
        train = pickle.load(handle)[:40]
    with open(folder / "train.pkl", "wb") as handle:
        pickle.dump(train, handle)
    trained = run_tool("submit.py", "--track", "lgbm", "--set", "num_rounds=20", "--folds", "2",
                       "--train", folder / "train.pkl", "--test", folder / "train.pkl",
                       "--out", folder / "run")
    assert trained.returncode == 0, trained.stderr[-3000:]
    made = run_tool("image.py", "--model", folder / "run" / "model", "--out", folder / "ctx",
                    timeout=1200)
    assert made.returncode == 0, made.stderr[-3000:]
    return folder


def test_the_context_holds_what_the_image_needs(context):
    ctx = context / "ctx"
    assert {p.name for p in ctx.iterdir()} == {"Dockerfile", "run.sh", "model", "wheels"}
    dockerfile = (ctx / "Dockerfile").read_text()
    assert "ARG BASE=" in dockerfile and "FROM ${BASE}" in dockerfile
    assert "--no-index" in dockerfile and 'CMD ["bash", "/app/run.sh"]' in dockerfile
    assert (ctx / "model" / "track.json").is_file() and os.access(ctx / "run.sh", os.X_OK)
    names = {p.name.split("-")[0].lower() for p in (ctx / "wheels").glob("*.whl")}
    assert {"idr_kit", "numpy", "lightgbm", "scikit_learn", "gensim"} <= names
    assert "torch" not in names  # lgbm needs no extra


def test_a_fresh_environment_from_the_wheels_alone_writes_the_submission(context, tmp_path):
    env_dir = tmp_path / "env"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "VIRTUAL_ENV"))}
    installed = subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--no-index",
                                "--find-links", str(context / "ctx" / "wheels"), "idr-kit"],
                               capture_output=True, text=True, env=clean, timeout=900)
    assert installed.returncode == 0, installed.stderr[-3000:]
    saisdata, saisresult = tmp_path / "saisdata", tmp_path / "saisresult"
    saisdata.mkdir()
    test = [{"id": f"T{i}", "sequence": seq} for i, seq in
            enumerate(("MKVLAAGGSEEKPAPS", "M", "MSTNPKPQRKTKRNTNRRPQDVKFPGG" * 40))]
    with open(saisdata / "WSAA_data_test.pkl", "wb") as handle:
        pickle.dump(test, handle)
    env = {**clean, "PATH": f"{env_dir / 'bin'}:{clean['PATH']}", "IDR_DATA_DIR": str(saisdata),
           "IDR_RESULT_DIR": str(saisresult), "HOME": str(tmp_path)}
    done = subprocess.run(["bash", str(context / "ctx" / "run.sh")], capture_output=True,
                          text=True, env=env, cwd=tmp_path, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert sorted(p.name for p in saisresult.iterdir()) == ["submit.csv"]
    with open(saisresult / "submit.csv", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["proteinID", "sequence", "IDRs"]
    assert [r[0] for r in rows[1:]] == ["T0", "T1", "T2"]
    for (pid, seq, calls), item in zip(rows[1:], test):
        assert seq == item["sequence"] and len(calls) == len(seq) and set(calls) <= {"0", "1"}
    # the environment holds the kit from its wheel, not this checkout
    where = subprocess.run([str(python), "-c", "import idr_kit; print(idr_kit.__file__)"],
                           capture_output=True, text=True, env=clean, cwd=tmp_path)
    assert str(env_dir) in where.stdout and sys.prefix not in where.stdout


def test_a_context_is_written_into_a_new_folder_only(context, tmp_path):
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "x").write_text("mine")
    refused = run_tool("image.py", "--model", context / "run" / "model", "--out",
                       tmp_path / "busy")
    assert refused.returncode == 2 and "not empty" in refused.stderr
    assert (tmp_path / "busy" / "x").read_text() == "mine"
