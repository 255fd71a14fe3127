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

from runs import one_line_error, run_tool


def build_traces(root: Path) -> set[str]:
    """What a build leaves in a source folder: build/ and *.egg-info."""
    return {p.name for p in root.iterdir() if p.name == "build" or p.name.endswith(".egg-info")}


@pytest.fixture(scope="module")
def context(tmp_path_factory, shared_data) -> Path:
    from runs import ROOT
    folder = tmp_path_factory.mktemp("image")
    with open(shared_data / "train.pkl", "rb") as handle:
        train = pickle.load(handle)[:40]
    with open(folder / "train.pkl", "wb") as handle:
        pickle.dump(train, handle)
    trained = run_tool("submit.py", "--track", "lgbm", "--set", "num_rounds=20", "--folds", "2",
                       "--train", folder / "train.pkl", "--test", folder / "train.pkl",
                       "--out", folder / "run")
    assert trained.returncode == 0, trained.stderr[-3000:]
    before = build_traces(ROOT)
    made = run_tool("commands/image.py", "--model", folder / "run" / "model", "--out", folder / "ctx",
                    timeout=1200)
    assert made.returncode == 0, made.stderr[-3000:]
    (folder / "traces").write_text(" ".join(sorted(build_traces(ROOT) - before)))
    return folder


def test_the_kit_wheel_holds_tracked_files_only_and_the_checkout_is_untouched(context):
    import subprocess
    import zipfile

    from runs import ROOT
    wheel = next((context / "ctx" / "wheels").glob("idr_kit-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "idr_kit/submit.py" in names and "idr_kit/models/predictor/track.json" in names
    untracked = subprocess.run(["git", "-C", str(ROOT), "ls-files", "--others", "--directory"],
                               capture_output=True, text=True).stdout.split()
    assert not [n for n in names for u in untracked if n.startswith(f"idr_kit/{u}")]
    assert (context / "traces").read_text() == ""  # no build/, no egg-info in the checkout


def test_the_wheel_sources_are_the_files_git_tracks(tmp_path, capsys):
    """An untracked module, a build/ folder or a planted file never reaches the wheel."""
    import subprocess

    from idr_kit.run.image import tracked_sources
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    for name in ("pyproject.toml", "pkg/mod.py", "local_settings.py", "build/lib/x.py"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("# " + name)
    subprocess.run(["git", "-C", str(tmp_path), "add", "pyproject.toml", "pkg/mod.py"],
                   check=True)
    assert sorted(tracked_sources(tmp_path)) == ["pkg/mod.py", "pyproject.toml"]
    assert "local_settings.py" in capsys.readouterr().err  # named in a note


def test_the_model_in_the_context_is_the_recorded_files_only(context):
    import json
    model = context / "ctx" / "model"
    recorded = json.loads((model / "track.json").read_text())["files"]
    assert sorted(str(p.relative_to(model)) for p in model.rglob("*") if p.is_file()) == \
        sorted([*recorded, "track.json"])


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
    refused = run_tool("commands/image.py", "--model", context / "run" / "model", "--out",
                       tmp_path / "busy")
    assert refused.returncode == 2 and "not empty" in refused.stderr
    assert (tmp_path / "busy" / "x").read_text() == "mine"


def test_a_context_is_never_a_file_nor_inside_the_model(context, tmp_path):
    import shutil
    model = shutil.copytree(context / "run" / "model", tmp_path / "model")
    (tmp_path / "file").write_text("mine")
    one_line_error(run_tool("commands/image.py", "--model", model, "--out", tmp_path / "file"),
                   "not a folder")
    before = sorted(p.name for p in Path(model).rglob("*"))
    one_line_error(run_tool("commands/image.py", "--model", model, "--out", Path(model) / "ctx"),
                   "the model")
    assert sorted(p.name for p in Path(model).rglob("*")) == before


def test_a_model_with_a_link_or_an_unlisted_file_is_refused_before_anything_is_written(
        context, tmp_path):
    import shutil
    model = Path(shutil.copytree(context / "run" / "model", tmp_path / "model"))
    (model / "etc").symlink_to("/etc")
    one_line_error(run_tool("commands/image.py", "--model", model, "--out", tmp_path / "a"), "link")
    (model / "etc").unlink()
    (model / "notes.txt").write_text("not the model's")
    one_line_error(run_tool("commands/image.py", "--model", model, "--out", tmp_path / "b"), "notes.txt")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_a_failed_context_leaves_nothing_and_the_same_command_runs_again(context, tmp_path):
    offline = {"PIP_INDEX_URL": "http://127.0.0.1:9/simple", "PIP_RETRIES": "0",
               "PIP_TIMEOUT": "1"}
    done = run_tool("commands/image.py", "--model", context / "run" / "model", "--out", tmp_path / "ctx",
                    env_extra=offline)
    one_line_error(done, "pip could not")
    assert not (tmp_path / "ctx").exists()
    (tmp_path / "mine").mkdir()
    done = run_tool("commands/image.py", "--model", context / "run" / "model", "--out", tmp_path / "mine",
                    env_extra=offline)
    one_line_error(done, "pip could not")
    assert list((tmp_path / "mine").iterdir()) == []  # a folder of the user's is kept, empty
