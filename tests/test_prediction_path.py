"""One prediction path (issue 30): the API, idr-predict and submit.py --model share one scan
and one scheduler; workers predict with the model the parent checked; the label style is part
of the track contract; every profile writer validates what it writes."""
from __future__ import annotations

import shutil
import threading
from contextlib import ExitStack
from pathlib import Path

import numpy as np
import pytest

import idr_kit
from idr_kit import submit
from idr_kit.api import SHIPPED, SHIPPED_FAST
from idr_kit.commands import predict as predict_command
from idr_kit.data.competition import read_pickle
from idr_kit.data.errors import SettingError
from idr_kit.model.runtime import Runtime
from idr_kit.model.saved import save_model
from idr_kit.run import profiles, stream
from idr_kit.run.profiles import Prediction
from idr_kit.tracks import make_track

SEQ = "MSEEKKPAPSPAPSLLVAGDTRHW"


def error_line(capsys, code: int) -> str:
    """The one error line a user's mistake owes (beside what the run said it read): exit
    status 2, no traceback."""
    err = capsys.readouterr().err
    assert code == 2, err[-3000:]
    lines = [line for line in err.splitlines() if ": error: " in line]
    assert len(lines) == 1 and "Traceback" not in err, err[-3000:]
    return lines[0]


@pytest.fixture(scope="module")
def lgbm(shared_data, tmp_path_factory) -> Path:
    """A small lgbm model, trained without a label style (it has no such setting)."""
    folder = tmp_path_factory.mktemp("path") / "lgbm"
    train = read_pickle(shared_data / "train.pkl")[:8]
    track = make_track("lgbm", runtime=Runtime(device="cpu", threads=1), num_rounds=5)
    return save_model(track.fit(train), folder)


@pytest.fixture(scope="module")
def test_fasta(shared_data, tmp_path_factory) -> Path:
    """20 CAID proteins: about 20 chunks of 1,000 residues, enough for two workers."""
    path = tmp_path_factory.mktemp("inputs") / "test.fasta"
    lines = (shared_data / "valid.fasta").read_text().splitlines()[:3 * 20]
    path.write_text("\n".join(lines) + "\n")
    return path


# ---- workers predict with the model the parent checked (defect 2) --------------------------

@pytest.fixture
def swapped_when_workers_start(tmp_path, monkeypatch) -> Path:
    """A copy of the fast model, replaced by the full one once the parent has loaded and
    checked it, just before the worker processes start (``mv m m.old; cp -r other m``)."""
    model = tmp_path / "m"
    shutil.copytree(SHIPPED_FAST, model)
    real_pool = stream.worker_pool

    def swapping_pool(workers):
        model.rename(tmp_path / "m.old")
        shutil.copytree(SHIPPED, model)
        return real_pool(workers)
    monkeypatch.setattr(stream, "worker_pool", swapping_pool)
    return model


def test_idr_predict_workers_refuse_a_model_folder_swapped_after_the_check(
        swapped_when_workers_start, test_fasta, tmp_path, capsys):
    out = tmp_path / "p.npz"
    code = predict_command.main([str(test_fasta), "--model", str(swapped_when_workers_start),
                                 "-o", str(out), "--workers", "2", "--chunk-residues", "1000"])
    line = error_line(capsys, code)
    assert str(swapped_when_workers_start / "track.json") in line and "changed" in line, line
    assert not out.exists()


def test_submit_workers_refuse_a_model_folder_swapped_after_the_check(
        swapped_when_workers_start, test_fasta, tmp_path, capsys):
    out = tmp_path / "run"
    code = submit.main(["--model", str(swapped_when_workers_start), "--test", str(test_fasta),
                        "--out", str(out), "--workers", "2", "--chunk-residues", "1000"])
    line = error_line(capsys, code)
    assert str(swapped_when_workers_start / "track.json") in line and "changed" in line, line
    assert not (out / "submit.csv").exists()


def test_a_worker_checks_every_file_against_the_digests_the_parent_checked(tmp_path):
    """The worker's own function, on a folder whose record is the one checked but whose
    network was swapped for another (sealed, so only the parent's digests tell)."""
    model = shutil.copytree(SHIPPED_FAST, tmp_path / "m")
    parent = idr_kit.load_model(model, Runtime(downloads=False))
    engine = stream.ChunkPredictor(parent.track, parent.decision, model, Runtime(threads=1),
                                   workers=2, model_sha256=parent.digest)
    chunk = [idr_kit.api.as_proteins([SEQ])[0]]
    probs, _ = stream.predict_chunk(*engine.task(), chunk)
    assert np.array_equal(probs[0], engine.here(chunk)[0][0])
    stream._LOADED.clear()
    shutil.copyfile(SHIPPED / "convnet.onnx", model / "convnet.onnx")
    with pytest.raises(idr_kit.data.errors.FileRefused, match="convnet.onnx"):
        stream.predict_chunk(*engine.task(), chunk)
    stream._LOADED.clear()


def test_a_file_swapped_between_the_check_and_the_read_is_refused(tmp_path, monkeypatch):
    """The worker's window between checking a file and the track reading it: the network is
    replaced just before the track reads it, and the worker refuses instead of predicting."""
    from idr_kit.convnet.track import ConvNetTrack
    model = shutil.copytree(SHIPPED_FAST, tmp_path / "m")
    parent = idr_kit.load_model(model, Runtime(downloads=False))
    engine = stream.ChunkPredictor(parent.track, parent.decision, model, Runtime(threads=1),
                                   workers=2, model_sha256=parent.digest)
    onnx = pytest.importorskip("onnx")
    other = onnx.load(str(model / "convnet.onnx"))
    other.doc_string = "another network of the same shape"
    real_load = ConvNetTrack._load

    def swapped_then_read(self, directory):
        (directory / "convnet.onnx").write_bytes(other.SerializeToString())
        real_load(self, directory)
    monkeypatch.setattr(ConvNetTrack, "_load", swapped_then_read)
    stream._LOADED.clear()
    with pytest.raises(idr_kit.data.errors.FileRefused, match="m/convnet.onnx: changed"):
        stream.predict_chunk(*engine.task(), idr_kit.api.as_proteins([SEQ]))
    stream._LOADED.clear()


# ---- the shipped model's cache (defect 20) ---------------------------------------------------

def test_eight_threads_at_once_load_the_shipped_model_once(monkeypatch):
    monkeypatch.setattr(idr_kit, "_DEFAULT", [])
    start, found = threading.Barrier(8), []

    def call():
        start.wait()
        found.append(idr_kit.predict_disorder(SEQ))
    threads = [threading.Thread(target=call) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(idr_kit._DEFAULT) == 1, f"{len(idr_kit._DEFAULT)} copies of the model loaded"
    assert len(found) == 8 and all(np.array_equal(found[0], f) for f in found)


# ---- styles: a model trained without one (defect 21) -----------------------------------------

@pytest.mark.parametrize("style", ["default", "nox", "pdb", ""])
def test_the_api_refuses_a_style_for_a_model_trained_without_one(lgbm, style):
    with pytest.raises(SettingError) as err:
        idr_kit.load(lgbm, style=style)
    assert "one label style" in str(err.value) and "default" not in str(err.value)


def test_a_model_trained_without_a_style_predicts_in_its_own(lgbm):
    model = idr_kit.load(lgbm)
    assert model.styles == (model.style,) and len(model.predict([SEQ])[0]) == len(SEQ)
    with pytest.raises(SettingError, match="one label style"):
        model.with_style("nox")


def test_both_doors_refuse_style_on_a_one_style_model_in_the_same_words(lgbm, tmp_path,
                                                                        capsys):
    with pytest.raises(SettingError) as api:
        idr_kit.load(lgbm, style="nox")
    (tmp_path / "t.fasta").write_text(f">a\n{SEQ}\n")
    lines = []
    code = predict_command.main(["-s", SEQ, "--model", str(lgbm), "--style", "nox"])
    lines.append(error_line(capsys, code))
    code = submit.main(["--model", str(lgbm), "--test", str(tmp_path / "t.fasta"),
                        "--out", str(tmp_path / "o"), "--style", "nox"])
    lines.append(error_line(capsys, code))
    for line in lines:
        assert line.split(": error: ", 1)[1] == str(api.value), line
    assert not (tmp_path / "o").exists()


def test_the_shipped_model_names_its_styles_and_refuses_another(tmp_path, capsys):
    with pytest.raises(SettingError, match="nox, pdb|pdb, nox"):
        idr_kit.load(style="default")
    assert set(idr_kit.load(fast=True).styles) == {"nox", "pdb"}


# ---- every profile writer validates what it writes -------------------------------------------

def hit(probs, calls=None) -> Prediction:
    probs = np.asarray(probs, dtype=np.float32)
    calls = np.asarray(calls if calls is not None else (probs > 0.5), dtype=np.uint8)
    return Prediction("p1", "MKVL"[:len(probs)] if len(probs) <= 4 else "M" * len(probs),
                      probs, calls, [])


BAD = {"nan": hit([0.1, np.nan, 0.2, 0.3]), "above one": hit([0.1, 1.5, 0.2, 0.3]),
       "too short": Prediction("p1", "MKVL", np.zeros(3, np.float32), np.zeros(4, np.uint8), []),
       "calls not 0/1": hit([0.1, 0.2, 0.3, 0.4], [0, 2, 0, 0]),
       "calls too long": Prediction("p1", "MKVL", np.zeros(4, np.float32),
                                    np.zeros(5, np.uint8), [])}
SINKS = {".caid": profiles.write_caid, ".csv": profiles.write_csv,
         ".json": profiles.write_json, ".npz": profiles.write_npz,
         "submission.csv": profiles.write_submission}


@pytest.mark.parametrize("kind", sorted(SINKS))
@pytest.mark.parametrize("bad", sorted(BAD))
def test_every_profile_writer_refuses_what_is_no_prediction(tmp_path, kind, bad):
    path = tmp_path / f"out{kind}"
    with pytest.raises(ValueError, match="p1"):
        with ExitStack() as stack:
            SINKS[kind](stack, path)(BAD[bad])
    assert not path.exists()
