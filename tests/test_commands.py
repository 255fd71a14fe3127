"""The console commands as a new user meets them: each says who it is (in usage, errors and
--version), its --help tells what each option and setting means, and the things a user types
first (a competition submission from the shipped model, a default run folder, a score) do
what the README says."""
from __future__ import annotations

import csv
import dataclasses
import os
import pickle
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import idr_kit
from idr_kit.api import SHIPPED

from runs import HANG, ROOT, one_line_error, run_tool

COMMANDS = {"idr-submit": "submit.py", "idr-score": "commands/score.py",
            "idr-fit": "commands/fit.py", "idr-predict": "commands/predict.py",
            "idr-image": "commands/image.py", "idr-merge": "commands/merge.py"}
BIN = Path(sys.executable).parent


def console(command: str, *args, cwd: Path = ROOT, env: dict | None = None):
    return subprocess.run([str(BIN / command), *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, timeout=HANG,
                          env={**os.environ, **(env or {})})


# ---- who they are ------------------------------------------------------------------------------

@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_has_help_and_a_version_under_its_own_name(command):
    helped = console(command, "--help")
    assert helped.returncode == 0 and helped.stdout.startswith(f"usage: {command} "), \
        helped.stdout[:300]
    version = console(command, "--version")
    assert version.returncode == 0
    assert version.stdout.strip() == f"{command} (idr-kit {idr_kit.__version__})"


def test_errors_name_the_command_as_it_was_typed(tmp_path):
    line = one_line_error(console("idr-score", "--ref", tmp_path / "no.fasta", "--pred",
                                  tmp_path / "no.caid"))
    assert line.startswith("idr-score: error:"), line
    line = one_line_error(run_tool("commands/score.py", "--ref", tmp_path / "no.fasta", "--pred",
                                   tmp_path / "no.caid"))
    assert line.startswith("score.py: error:"), line
    usage = console("idr-merge")
    assert usage.returncode == 2 and usage.stderr.startswith("usage: idr-merge ")


def test_idr_fit_help_says_what_each_option_is():
    text = console("idr-fit", "--help").stdout
    assert "--train TRAIN" in text and "labelled training file" in text
    assert "the model goes to OUT/model" in text
    assert "track settings" in text.lower()


def test_a_tracks_help_lists_its_settings_with_defaults_ranges_and_meanings():
    text = console("idr-submit", "--track", "lgbm", "--help").stdout
    assert "num_leaves=15 [2..131,072]  leaves per tree" in text
    assert "threads=0 [0..4,096]" in text or "threads=0" in text  # the runtime's too
    assert "smoothing=False" in text  # and the decision's
    plain = console("idr-submit", "--help").stdout
    assert "--track NAME --help" in plain


def test_every_setting_of_every_track_says_what_it_means():
    from idr_kit.model.decision import DecisionSettings
    from idr_kit.model.runtime import Runtime
    from idr_kit.run.settings import field_notes
    from idr_kit.tracks import TRACKS, config_class
    for cls in [config_class(name) for name in TRACKS] + [DecisionSettings, Runtime]:
        notes = field_notes(cls)
        missing = [f.name for f in dataclasses.fields(cls) if not notes.get(f.name)]
        assert not missing, f"{cls.__name__}: no comment on {missing}"


# ---- a competition submission from the shipped model -----------------------------------------

@pytest.fixture(scope="module")
def competition(tmp_path_factory, shared_data) -> Path:
    """The competition's test file: a pickle of {id, sequence}, no labels."""
    folder = tmp_path_factory.mktemp("competition")
    with open(shared_data / "train.pkl", "rb") as handle:
        proteins = pickle.load(handle)[:25]
    with open(folder / "WSAA_data_test.pkl", "wb") as handle:
        pickle.dump([{"id": p["id"], "sequence": p["sequence"]} for p in proteins], handle)
    return folder


def rows(path: Path) -> list[list[str]]:
    with open(path, newline="") as handle:
        return list(csv.reader(handle))


def test_the_shipped_model_writes_a_nox_submission_in_one_command(competition, tmp_path):
    test = competition / "WSAA_data_test.pkl"
    done = run_tool("submit.py", "--model", "models/predictor", "--test", test, "--style",
                    "nox", "--out", tmp_path / "run")
    assert done.returncode == 0, done.stderr[-3000:]
    table = rows(tmp_path / "run" / "submit.csv")
    assert table[0] == ["proteinID", "sequence", "IDRs"] and len(table) == 26
    assert all(len(r[2]) == len(r[1]) and set(r[2]) <= {"0", "1"} for r in table[1:])
    import json
    record = json.loads((tmp_path / "run" / "config.json").read_text())
    assert record["style"] == "nox"
    assert record["threshold"] == idr_kit.load(style="nox").threshold != idr_kit.load().threshold
    # idr-predict writes the same submission without a run folder
    again = run_tool("commands/predict.py", test, "--style", "nox", "--submission", tmp_path / "s.csv")
    assert again.returncode == 0, again.stderr
    assert (tmp_path / "s.csv").read_bytes() == (tmp_path / "run" / "submit.csv").read_bytes()


def test_style_is_refused_where_it_cannot_apply(competition, tmp_path, shared_data):
    test = competition / "WSAA_data_test.pkl"
    one_line_error(run_tool("submit.py", "--track", "lgbm", "--style", "nox", "--test", test,
                            "--out", tmp_path / "a"), "--style", "--set style")
    from idr_kit.model.saved import save_model
    from idr_kit.tracks import make_track
    from idr_kit.data.competition import read_pickle
    model = save_model(make_track("w2v", vector_size=10).fit(
        read_pickle(shared_data / "train.pkl")[:30]), tmp_path / "w2v")
    one_line_error(run_tool("submit.py", "--model", model, "--test", test, "--style", "pdb",
                            "--out", tmp_path / "b"), "one label style only")


# ---- run folders that stay where the user expects them ----------------------------------------

def test_overwrite_applies_to_the_default_folder_and_the_folder_is_said(tmp_path):
    first = run_tool("submit.py", "--model", SHIPPED, "--test", ROOT / "data" / "demo" /
                     "test.fasta", cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-2000:]
    assert "output folder: runs/predict" in first.stdout
    other = run_tool("submit.py", "--model", SHIPPED, "--test", ROOT / "data" / "demo" /
                     "test.fasta", "--threshold", "0.3", cwd=tmp_path)
    assert other.returncode == 0, other.stderr[-2000:]
    assert "runs/predict holds another run's outputs: this run writes to runs/predict-2" \
        in other.stdout
    again = run_tool("submit.py", "--model", SHIPPED, "--test", ROOT / "data" / "demo" /
                     "test.fasta", "--threshold", "0.3", "--overwrite", cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "output folder: runs/predict\n" in again.stdout
    import json
    record = json.loads((tmp_path / "runs" / "predict" / "config.json").read_text())
    assert record["threshold"] == 0.3 and not (tmp_path / "runs" / "predict-3").exists()


def test_a_run_that_failed_before_any_work_leaves_its_folder_to_the_next(tmp_path):
    from idr_kit.run.folder import CLAIM, LOCK
    folder = tmp_path / "runs" / "predict"
    folder.mkdir(parents=True)
    (folder / CLAIM).write_text('{"identity": "0123456789abcdef"}')
    (folder / LOCK).write_text("pid 1")
    (folder / "folds.json").write_text("{}")
    done = run_tool("submit.py", "--model", SHIPPED, "--test", ROOT / "data" / "demo" /
                    "test.fasta", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (folder / "submit.csv").is_file() and not (tmp_path / "runs" / "predict-2").exists()


def test_a_score_of_no_protein_is_an_error(tmp_path, shared_data):
    (tmp_path / "ref.fasta").write_text(">A\nMKV\n010\n")
    (tmp_path / "pred.caid").write_text(">B\n1\tM\t0.5\t1\n2\tK\t0.5\t1\n3\tV\t0.5\t1\n")
    one_line_error(run_tool("commands/score.py", "--ref", tmp_path / "ref.fasta", "--pred",
                            tmp_path / "pred.caid"), "not one protein", "pred.caid")


# ---- progress, speed and pictures of idr-predict ----------------------------------------------

def test_idr_predict_shows_progress_on_a_long_file_and_says_nothing_on_a_short_one(
        shared_data, tmp_path):
    text = (shared_data / "valid.fasta").read_text()
    (tmp_path / "long.fasta").write_text("".join(text.replace(">", f">r{i}_") for i in range(6)))
    done = run_tool("commands/predict.py", tmp_path / "long.fasta", "-o", tmp_path / "o.npz",
                    "--workers", "1", "--chunk-residues", "20000")
    assert done.returncode == 0, done.stderr
    assert "chunks:" in done.stderr and "residues/s" in done.stderr, done.stderr
    short = run_tool("commands/predict.py", "-s", "MKVLAAGG", "-o", tmp_path / "s.npz")
    assert short.returncode == 0 and short.stderr.strip().splitlines() == [
        f"wrote {tmp_path / 's.npz'} (1 proteins)"], short.stderr


def test_idr_predict_draws_each_protein(shared_data, tmp_path):
    pytest.importorskip("matplotlib")
    import matplotlib.image
    done = run_tool("commands/predict.py", shared_data / "valid.fasta", "-s", "MKVLAAGGSEEKPAPSPAPS",
                    "--plot", tmp_path / "plots", "--plot-first", "3", "-o", tmp_path / "o.json")
    assert done.returncode == 0, done.stderr
    drawn = sorted(p.name for p in (tmp_path / "plots").iterdir())
    assert len(drawn) == 4 and "seq1.png" in drawn and "index.tsv" in drawn  # id -> file
    assert matplotlib.image.imread(tmp_path / "plots" / "seq1.png").shape[:2] == (400, 1200)
    svg = run_tool("commands/predict.py", "-s", "MKVLAAGG", "--plot", tmp_path / "svg", "--plot-format",
                   "svg")
    assert svg.returncode == 0 and (tmp_path / "svg" / "seq1.svg").read_text().startswith("<?xml")


def test_the_api_draws_one_sequence_into_a_file_and_several_into_a_folder(tmp_path):
    pytest.importorskip("matplotlib")
    assert idr_kit.plot_disorder("MKVLAAGGSEEKPAPS", tmp_path / "one.png") == [
        tmp_path / "one.png"]
    written = idr_kit.plot_disorder({"a": "MKVLAAGG", "b/c": "MSEEKKPAPS"}, tmp_path / "many")
    assert [p.name for p in written][0] == "a.png"  # "b/c" gets a name no id can have
    assert written[1].name.startswith("_b_c_") and written[1].is_file()


def test_without_matplotlib_plots_are_one_line_naming_the_extra(tmp_path):
    hide = (f"import importlib.abc, runpy, sys\n"
            f"class Hidden(importlib.abc.MetaPathFinder):\n"
            f"    def find_spec(self, name, path=None, target=None):\n"
            f"        if name.split('.')[0] == 'matplotlib':\n"
            f"            raise ModuleNotFoundError(name, name=name)\n"
            f"sys.meta_path.insert(0, Hidden())\n"
            f"sys.argv = ['idr-predict'] + sys.argv[1:]\n"
            f"runpy.run_path({str(ROOT / 'commands' / 'predict.py')!r}, run_name='__main__')\n")
    done = subprocess.run([sys.executable, "-c", hide, "-s", "MKV", "--plot", tmp_path / "p"],
                          capture_output=True, text=True, timeout=300)
    one_line_error(done, "pip install matplotlib")
    assert not (tmp_path / "p").exists()


def test_training_lines_say_which_fold(shared_data, tmp_path, monkeypatch, capsys):
    # In-process with no delay: a subprocess's epoch can end inside DELAY and say nothing.
    from idr_kit import submit
    from idr_kit.data import progress as progress_module
    monkeypatch.setattr(progress_module, "DELAY", 0.0)
    monkeypatch.setenv("IDR_PROGRESS", "lines")
    monkeypatch.setattr(signal, "signal", lambda *args: None)  # main() would take the worker's SIGTERM
    with open(shared_data / "train.pkl", "rb") as handle:
        train = pickle.load(handle)[:40]
    with open(tmp_path / "train.pkl", "wb") as handle:
        pickle.dump(train, handle)
    code = submit.main(["--track", "bilstm", "--folds", "2", "--set", "epochs=1",
                        "--set", "hidden=8", "--set", "embed=8", "--set", "conv_channels=8",
                        "--train", str(tmp_path / "train.pkl"), "--test", str(tmp_path / "train.pkl"),
                        "--out", str(tmp_path / "run")])
    assert code in (0, None)
    captured = capsys.readouterr()
    log = captured.out + captured.err
    assert "[fold 1/2] training, epoch 1" in log and "[fold 2/2] training, epoch 1" in log, log