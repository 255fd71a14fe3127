"""What a new user meets first (issue 32): the shipped models named from any folder, the
README's commands working as written from the folder they are meant for, runs that say what
they read, and a loaded model that says what it is."""
from __future__ import annotations

import csv
import shlex
import shutil
from pathlib import Path

import pytest

import idr_kit
from idr_kit import submit
from idr_kit.commands import image, predict
from idr_kit.model.shipped import model_path, shipped_folder

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
DEMO_TEST = ROOT / "data" / "demo" / "test.fasta"


@pytest.fixture(scope="module")
def competition(small_competition, tmp_path_factory) -> Path:
    """The competition's files under the names it ships them as: 60 training proteins, 4 to
    predict (no labels)."""
    folder = tmp_path_factory.mktemp("wsaa")
    shutil.copy(small_competition / "train.pkl", folder / "WSAA_data_public.pkl")
    shutil.copy(small_competition / "test.pkl", folder / "WSAA_data_test.pkl")
    return folder


def readme_line(*words: str) -> list[str]:
    """The arguments of the README's one ``python submit.py`` line holding every word."""
    lines = [line.split("#")[0].strip() for line in README.splitlines()
             if line.startswith("python submit.py") and all(w in line for w in words)]
    assert len(lines) == 1, lines
    return shlex.split(lines[0])[2:]


def rows(path: Path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


# ---- the shipped models by name, from anywhere ------------------------------------------------

def test_the_readmes_shipped_model_command_runs_from_the_competition_folder(
        competition, monkeypatch, capsys):
    """The README: the competition's files in a folder, IDR_DATA set, then its --model line."""
    args = readme_line("--model", "--style nox", "the shipped model")
    monkeypatch.chdir(competition)
    monkeypatch.setenv("IDR_DATA", str(competition))
    assert submit.main(args) == 0, capsys.readouterr().err
    written = rows(competition / "runs" / "predict" / "submit.csv")
    assert len(written) == 4 and set(written[0]["IDRs"]) <= {"0", "1"}
    said = capsys.readouterr().out.splitlines()  # what IDR_DATA supplied, said first
    assert said[:2] == [
        f"test file: {competition / 'WSAA_data_test.pkl'} (4 proteins, unlabelled)",
        f"model: {shipped_folder('default')} (the shipped model 'default'; "
        f"{idr_kit.load().track.name}, style nox)"], said


def test_help_gives_the_competition_command_by_name():
    text = " ".join(submit.build_parser().format_help().split())
    assert "--model default --style nox" in text and "models/predictor" not in text


@pytest.mark.parametrize("name, folder", [("default", "predictor"), ("fast", "predictor-fast")])
def test_a_shipped_name_is_its_folder_from_any_folder(name, folder, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert model_path(name) == ROOT / "models" / folder == shipped_folder(name)
    assert idr_kit.load(name).source == str(ROOT / "models" / folder)


def test_fast_by_name_is_the_fast_model(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    seq = "MSEEKKPAPSPAPSEEGKKRKAEEGDKMSTNPKPQ"
    by_name, by_flag = idr_kit.load("fast"), idr_kit.load(fast=True)
    assert (by_name.predict(seq)[0] == by_flag.predict(seq)[0]).all()
    assert by_name.threshold == by_flag.threshold
    record = idr_kit.predict_file(DEMO_TEST, tmp_path / "run", model="fast", workers=1)
    assert record["model"] == str(shipped_folder("fast"))


def test_idr_predict_and_idr_image_take_a_shipped_name(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert predict.main(["--model", "fast", "-s", "MSEEKKPAPSPAPSEEGKKRK", "-o", "a.csv"]) == 0
    assert predict.main(["--fast", "-s", "MSEEKKPAPSPAPSEEGKKRK", "-o", "b.csv"]) == 0
    assert Path("a.csv").read_bytes() == Path("b.csv").read_bytes()
    args = image.build_parser().parse_args(["--model", "fast", "--out", "ctx"])
    assert image.with_model_folder(args).model == shipped_folder("fast")


def test_a_folder_here_of_a_shipped_name_is_that_folder(tmp_path, monkeypatch, capsys):
    """What the docs say: a value naming something in the current folder is a path."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "fast").mkdir()
    assert predict.main(["--model", "fast", "-s", "MKV"]) == 2
    assert "fast: not a saved model" in capsys.readouterr().err
    shutil.copytree(shipped_folder("fast"), tmp_path / "mine")
    assert model_path("mine") == Path("mine")


def test_the_fast_flag_and_a_model_are_one_or_the_other():
    from idr_kit.data.errors import SettingError
    with pytest.raises(SettingError, match="fast"):
        idr_kit.load("default", fast=True)


# ---- a model that is not there: "not found", at every door ------------------------------------

MISSING = ["nowhere/model", "models/predictor", "./fast", "fastt", ""]


@pytest.mark.parametrize("value", MISSING)
def test_a_missing_model_says_not_found_at_every_door(value, tmp_path, monkeypatch, capsys):
    from idr_kit.data.errors import FileRefused
    monkeypatch.chdir(tmp_path)
    doors = [lambda: submit.main(["--model", value, "--test", str(DEMO_TEST)]),
             lambda: predict.main(["--model", value, "-s", "MKV"]),
             lambda: image.main(["--model", value, "--out", "ctx"])]
    for door in doors:
        assert door() == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "not found" in err[0] and "default and fast" in err[0], err
    for call in (lambda: idr_kit.load(value),
                 lambda: idr_kit.predict_file(DEMO_TEST, tmp_path / "o", model=value)):
        with pytest.raises(FileRefused, match="not found"):
            call()
    assert not (tmp_path / "runs").exists() and not (tmp_path / "o").exists()


def test_a_missing_folder_given_as_a_path_object_is_not_found(tmp_path):
    from idr_kit.data.errors import FileRefused
    from idr_kit.model.saved import load_model
    with pytest.raises(FileRefused, match="fast: not found"):
        idr_kit.load(tmp_path / "fast")  # a Path is a path, never a shipped name
    with pytest.raises(FileRefused, match="not found"):
        load_model(tmp_path / "gone")


@pytest.mark.parametrize("value", [3, b"fast", None.__class__])
def test_a_model_of_the_wrong_kind_is_wrong_type(value):
    from idr_kit.data.errors import WrongType
    with pytest.raises(WrongType, match="shipped model's name"):
        idr_kit.load(value)


# ---- a loaded model says what it is; every fold says its steps --------------------------------

def test_a_loaded_model_says_what_it_is():
    shown = repr(idr_kit.load("fast", style="nox"))
    model = idr_kit.load("fast", style="nox")
    for part in ("model='fast'", f"folder='{shipped_folder('fast')}'", "track='convnet'",
                 "style='nox'", "styles=('pdb', 'nox')", f"threshold={model.threshold:.3f}",
                 f"min_idr={model.decision.min_length}"):
        assert part in shown, shown
    assert str(idr_kit.load()) .startswith("idr_kit.Predictor(model='default', ")


def test_a_saved_models_repr_names_its_folder(tmp_path):
    shutil.copytree(shipped_folder("fast"), tmp_path / "copy")
    assert f"model='{tmp_path / 'copy'}', track=" in repr(idr_kit.load(tmp_path / "copy"))


@pytest.mark.parametrize("track, settings, steps", [
    ("w2v", {"vector_size": 8}, ("features", "predicting")),
    ("lgbm", {"num_rounds": 2}, ("features", "boosting", "predicting"))])
def test_every_fold_says_each_of_its_steps(track, settings, steps, monkeypatch, capsys):
    """Steps far shorter than DELAY: each fold still says each one, as long folds do."""
    from idr_kit.data.load import read_proteins
    from idr_kit.tracks import make_track
    monkeypatch.setenv("IDR_PROGRESS", "lines")
    proteins = read_proteins(ROOT / "data" / "demo" / "train.fasta")[:12]
    make_track(track, **settings).out_of_fold(proteins, [i % 2 for i in range(12)])
    err = capsys.readouterr().err
    for fold in (1, 2):
        for step in steps:
            assert f"[fold {fold}/2] {step}: " in err, err


# ---- a run says what it read ------------------------------------------------------------------

def test_a_training_run_says_each_file_it_read_first(small_competition, tmp_path, monkeypatch,
                                                     capsys):
    monkeypatch.chdir(tmp_path)
    train, test = small_competition / "train.pkl", small_competition / "valid.fasta"
    assert submit.main(["--track", "w2v", "--set", "vector_size=8", "--folds", "0",
                        "--train", str(train), "--train", str(test), "--test", str(test),
                        "--out", "run"]) == 0
    said = capsys.readouterr().out.splitlines()
    assert said[:4] == [f"training file: {train} (60 proteins, labelled)",
                        f"training file: {test} (6 proteins, labelled)",
                        f"test file: {test} (6 proteins, labelled)",
                        "output folder: run"], said


def test_idr_predict_says_each_file_it_read_on_stderr(small_competition, tmp_path, monkeypatch,
                                                      capsys):
    import io
    import sys
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b">a\nMKVLAAG\n>b\nMSEE\n")))
    valid, test = small_competition / "valid.fasta", small_competition / "test.pkl"
    assert predict.main(["-s", "MKVVV", str(valid), "-", str(test), "-o", "out.csv"]) == 0
    err = capsys.readouterr().err.splitlines()
    assert err[:3] == [f"read: {valid} (6 proteins, labelled)", "read: stdin (2 proteins, "
                       "unlabelled)", f"read: {test} (4 proteins, unlabelled)"], err
    assert err[-1] == "wrote out.csv (13 proteins)"


@pytest.mark.parametrize("proteins, labelled, said", [
    (1, 0, "(1 protein, unlabelled)"), (3, 3, "(3 proteins, labelled)"),
    (1200, 7, "(1,200 proteins, 7 of them labelled)")])
def test_the_input_line_counts_and_says_the_labels(proteins, labelled, said):
    from idr_kit.run.pipeline import input_line
    assert input_line("test file", "x.fasta", proteins, labelled) == f"test file: x.fasta {said}"


# ---- what the docs say of UniProt headers, and of the public API ------------------------------

UNIPROT = (">sp|P04637|P53_HUMAN Cellular tumor antigen p53 OS=Homo sapiens OX=9606 GN=TP53\n"
           "MEEPQSDPSVEPPLSQETFSDLWKLLPEN\n>tr|A0A024R161|A0A024R161_HUMAN\tGuanine OS=Homo\n"
           "MKVLAAGGSEEKPAPS\n>my_own protein\nMSEEKKPAPSPAPS\n")


def test_a_uniprot_header_gives_the_id_the_docs_say_and_their_sed_the_accession(tmp_path):
    import re
    import subprocess
    from idr_kit.data.fasta import read_fasta
    docs = (ROOT / "docs" / "formats.md").read_text()
    assert "gives\nthe id `sp|P04637|P53_HUMAN`" in docs
    (tmp_path / "uniprot.fasta").write_text(UNIPROT)
    assert [p.id for p in read_fasta(tmp_path / "uniprot.fasta")] == [
        "sp|P04637|P53_HUMAN", "tr|A0A024R161|A0A024R161_HUMAN", "my_own"]
    line = re.search(r"\n(sed .+ uniprot\.fasta > accessions\.fasta)\n", docs).group(1)
    subprocess.run(["bash", "-c", line], cwd=tmp_path, check=True)
    renamed = read_fasta(tmp_path / "accessions.fasta")
    assert [p.id for p in renamed] == ["P04637", "A0A024R161", "my_own"]
    assert [p.seq for p in renamed] == [p.seq for p in read_fasta(tmp_path / "uniprot.fasta")]


def test_the_readme_names_every_function_of_the_api():
    names = [n for n in idr_kit.__all__ if n not in idr_kit._LAZY]  # defined in idr_kit itself
    assert "plot_disorder" in names
    for name in names:
        assert f"idr_kit.{name}(" in README, name


def test_every_time_the_readme_gives_says_on_what_machine_and_load():
    """A duration means little without the machine and how busy it was: every section of the
    README that gives one says both (an idle 2-core machine)."""
    import re
    prose = re.sub(r"```.*?```", "", README, flags=re.S)
    duration = re.compile(r"\b\d[\d,]*(?:\.\d+)?\s?(?:s|ms|seconds?|minutes?|hours?)\b")
    timed = [section for section in prose.split("\n## ") if duration.search(section)]
    assert len(timed) >= 5
    for section in timed:
        title = section.splitlines()[0]
        assert "2-core machine" in section and "idle" in section, title
