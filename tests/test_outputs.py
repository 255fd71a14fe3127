"""Outputs: never an input of the run nor inside one (however the path is spelled), never
through a link; written whole or not at all, from inputs that did not change under the run;
no temporary file outlives a killed writer for long. Through every door: idr-predict,
submit.py, merge.py, idr-image and the Python API."""
from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

import idr_kit
from idr_kit.data.errors import InputError
from idr_kit.api import SHIPPED

from runs import one_line_error, run_tool

SEQ = "MSEEKKPAPSPAPSEEGKKRKAEEGDKMSTNPKPQRKTKRNTNRRPQDVKFPGG"


def files_of(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


@pytest.fixture
def fasta(tmp_path) -> Path:
    path = tmp_path / "in" / "dp.fasta"
    path.parent.mkdir()
    path.write_text(f">a\n{SEQ}\n>b\n{SEQ[:20]}\n")
    return path


@pytest.fixture
def model(tmp_path) -> Path:
    return Path(shutil.copytree(SHIPPED, tmp_path / "model"))


# ---- an output is never an input ------------------------------------------------------------

@pytest.fixture
def disprot(tmp_path) -> Path:
    """A DisProt release file (JSON): an input named as an output format is named."""
    import json
    path = tmp_path / "in" / "dp.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps({"data": [{"disprot_id": "DP1", "acc": "P1", "sequence": SEQ,
                                          "regions": []}]}))
    return path


@pytest.mark.parametrize("spelling", ["same", "dotted", "hard link", "linked folder"])
def test_idr_predict_never_writes_over_its_input(disprot, tmp_path, spelling):
    before = disprot.read_bytes()
    if spelling == "same":
        out = disprot
    elif spelling == "dotted":
        out = disprot.parent / ".." / disprot.parent.name / disprot.name
    elif spelling == "hard link":
        out = tmp_path / "other.json"
        os.link(disprot, out)
    else:
        (tmp_path / "alias").symlink_to(disprot.parent)
        out = tmp_path / "alias" / disprot.name
    one_line_error(run_tool("commands/predict.py", disprot, "-o", out), "never writes where it reads")
    assert disprot.read_bytes() == before


def test_idr_predict_never_writes_into_the_model_folder(model, fasta):
    before = files_of(model)
    for target in (model / "track.json", model / "new.json", model / "sub" / "x.caid"):
        one_line_error(run_tool("commands/predict.py", fasta, "--model", model, "-o", target),
                       "the model")
    assert files_of(model) == before


def test_a_run_folder_inside_the_model_folder_is_refused(model, fasta):
    before = files_of(model)
    one_line_error(run_tool("submit.py", "--model", model, "--test", fasta, "--out",
                            model / "run"), "the model")
    assert files_of(model) == before and idr_kit.load(model).predict(SEQ)


def test_an_output_that_is_a_link_is_refused(fasta, tmp_path):
    (tmp_path / "target.json").write_text("precious")
    (tmp_path / "out.json").symlink_to(tmp_path / "target.json")
    one_line_error(run_tool("commands/predict.py", fasta, "-o", tmp_path / "out.json"), "link")
    assert (tmp_path / "target.json").read_text() == "precious"


def test_an_output_naming_a_folder_is_refused_before_any_prediction(fasta, tmp_path):
    (tmp_path / "x.json").mkdir()
    one_line_error(run_tool("commands/predict.py", fasta, "-o", tmp_path / "x.json"), "x.json",
                   "a folder")
    assert list((tmp_path / "x.json").iterdir()) == []


# ---- a missing input is the input's fault ---------------------------------------------------

@pytest.mark.parametrize("output", [None, "out.caid"])
def test_a_missing_input_is_one_line_naming_it(tmp_path, output):
    more = ["-o", tmp_path / output] if output else []
    line = one_line_error(run_tool("commands/predict.py", tmp_path / "nonexistent.fasta", *more),
                          "nonexistent.fasta", "not found")
    assert "cannot write" not in line
    (tmp_path / "x.fasta").mkdir()
    one_line_error(run_tool("commands/predict.py", tmp_path / "x.fasta", *more), "x.fasta", "not a file")
    assert not output or not (tmp_path / output).exists()


# ---- temporaries -------------------------------------------------------------------------------

def test_a_temporary_file_left_by_a_killed_writer_is_removed_by_the_next_write(fasta, tmp_path):
    out = tmp_path / "out.caid"
    stale = tmp_path / ".out.caid.k1ll3d.tmp"
    stale.write_text("half a file")
    old = time.time() - 3600
    os.utime(stale, (old, old))
    done = run_tool("commands/predict.py", fasta, "-o", out)
    assert done.returncode == 0, done.stderr
    assert out.is_file() and not stale.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_a_temporary_file_of_a_living_writer_is_kept(tmp_path):
    import fcntl

    from idr_kit.data.atomic import atomic_write, remove_stale_temporaries
    target = tmp_path / "out.txt"
    with atomic_write(target) as handle:
        handle.write("half")
        live = [p for p in tmp_path.iterdir() if p.name.startswith(".out.txt.")]
        old = time.time() - 3600
        os.utime(live[0], (old, old))
        remove_stale_temporaries(target)  # another writer of the same target, meanwhile
        assert live[0].exists()
    assert target.read_text() == "half"
    assert fcntl  # the lock is flock's


# ---- inputs that change under the run ----------------------------------------------------------

def swapped(path: Path) -> None:
    """The same ids and lengths, other residues (each sequence reversed): a file swapped
    under a run."""
    lines = [line if line.startswith(">") else line[::-1] for line in
             path.read_text().splitlines()]
    path.write_text("\n".join(lines) + "\n")


def test_a_test_file_changed_during_a_run_commits_nothing(shared_data, tmp_path, monkeypatch):
    from idr_kit.run import stream
    from idr_kit.run.pipeline import RunSpec, run
    from idr_kit.model.runtime import Runtime
    test = tmp_path / "test.fasta"
    test.write_text("\n".join((shared_data / "valid.fasta").read_text().splitlines()[:60]) + "\n")
    save = stream.Parts.save

    def save_then_swap(self, k, *args):
        save(self, k, *args)
        if k == 0:
            swapped(test)
    monkeypatch.setattr(stream.Parts, "save", save_then_swap)
    spec = RunSpec(out=tmp_path / "run", test=test, model=SHIPPED,
                   chunking=stream.Chunking(residues=2000, workers=1),
                   runtime=Runtime(downloads=False))
    with pytest.raises(InputError, match="changed while it was being predicted"):
        run(spec)
    assert not any((tmp_path / "run" / name).exists()
                   for name in ("submit.csv", "probs.npz", "predictions.caid", "config.json"))


def test_a_file_changed_during_idr_predict_writes_nothing(tmp_path, monkeypatch, shared_data):
    from idr_kit.run import stream
    test = tmp_path / "test.fasta"
    test.write_text("\n".join((shared_data / "valid.fasta").read_text().splitlines()[:60]) + "\n")
    finished = stream.Tally.finished

    def finished_then_swap(self, chunk):
        finished(self, chunk)
        if self.chunks == 1:
            swapped(test)
    monkeypatch.setattr(stream.Tally, "finished", finished_then_swap)
    from idr_kit.commands.predict import main
    assert main([str(test), "-o", str(tmp_path / "out.npz"), "--chunk-residues", "2000",
                 "--workers", "1"]) == 2
    assert not (tmp_path / "out.npz").exists()
    with pytest.raises(InputError, match="changed"):  # the API's iterator, at its end
        list(idr_kit.load().predict_fasta(test, chunk_residues=2000))
