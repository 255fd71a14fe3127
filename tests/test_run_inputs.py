"""Hostile and careless inputs, run through submit.py and score.py as a user would.

Each case must end with exit code 2 and one line naming the file, the protein and the problem,
no traceback, nothing half-written, and no file left from another run; or, where the input is
fine after all (a byte-order mark), with a normal run.
"""
from __future__ import annotations

import csv
import json
import os
import pickle
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from runs import HANG, one_line_error, reseal, run_tool
from conftest import dump_pickle

ROOT = Path(__file__).resolve().parents[1]
QUICK = ["--track", "w2v", "--folds", "2", "--set", "vector_size=20"]


def run(script: str, *args, cwd: Path = ROOT, env: dict | None = None):
    return run_tool(script, *args, cwd=cwd, env=env)


class Payload:
    """Unpickling this would run a shell command that leaves a marker file."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


# ---- security ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["evil.pkl", "evil.data"])  # by suffix, and by first byte
def test_a_pickle_that_would_run_code_is_refused_and_runs_nothing(small_competition, tmp_path, name):
    marker = tmp_path / "ran"
    evil = dump_pickle(tmp_path / name, [{"id": "P1", "sequence": "MKV", "label": Payload(marker)}])
    line = one_line_error(run("submit.py", *QUICK, "--train", evil, "--test", small_competition / "test.pkl",
                              "--out", tmp_path / "out"), str(evil), "system", "refused")
    assert "never runs code" in line
    one_line_error(run("commands/score.py", "--ref", evil, "--pred", tmp_path / "p.csv"), "refused")
    assert not marker.exists()


def test_the_competition_layout_still_reads(small_competition, tmp_path):
    items = [{"id": np.str_("P1"), "sequence": "MKVL", "label": np.array([0, 1, 1, 0])},
             {"id": "P2", "sequence": "MKVLA", "label": np.array([1, 1, 0, 0, 0], np.int8)}]
    for protocol in (2, 4, 5):
        path = tmp_path / f"p{protocol}.pkl"
        with open(path, "wb") as handle:
            pickle.dump(items, handle, protocol=protocol)
        from idr_kit.data.competition import read_pickle
        assert [p.id for p in read_pickle(path)] == ["P1", "P2"]


def test_a_saved_model_names_no_folder_and_reaches_for_no_network(small_competition, tmp_path):
    out = tmp_path / "run"
    assert run("submit.py", *QUICK, "--train", small_competition / "train.pkl", "--test", small_competition / "test.pkl",
               "--out", out).returncode == 0
    meta = json.loads((out / "model" / "track.json").read_text())
    assert "checkpoint_dir" not in json.dumps(meta) and "cache_dir" not in json.dumps(meta)
    meta["config"]["cache_dir"] = "/somewhere/else"
    (out / "model" / "track.json").write_text(json.dumps(meta))
    one_line_error(run("submit.py", "--model", out / "model", "--test", small_competition / "test.pkl",
                       "--out", tmp_path / "p"), "track.json", "unknown setting", "cache_dir")
    (out / "model" / "track.json").write_text("{not json")
    one_line_error(run("submit.py", "--model", out / "model", "--test", small_competition / "test.pkl",
                       "--out", tmp_path / "p2"), "track.json", "not valid JSON")


def test_a_bert_model_naming_a_hub_id_stays_offline_when_predicting(tmp_path, small_competition):
    from layouts import write_hf_bert_dir
    backbone = write_hf_bert_dir(tmp_path / "bert", 2, 32, 4, seed=0)
    out = tmp_path / "run"
    trained = run("submit.py", "--track", "bert", "--backbone", backbone, "--folds", "0",
                  "--set", "epochs=1", "--set", "window=64", "--set", "device=cpu",
                  "--train", small_competition / "train.pkl", "--test", small_competition / "test.pkl", "--out", out)
    assert trained.returncode == 0, trained.stderr[-2000:]
    source = out / "model" / "token_clf.json"
    record = json.loads(source.read_text())
    record["source"].update(name="some-org/some-protein-bert", path=None, sha256=None)
    source.write_text(json.dumps(record))
    reseal(out / "model")
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "IDR_OFFLINE")}
    env["HF_HOME"] = str(tmp_path / "empty-hf-cache")
    result = run("submit.py", "--model", out / "model", "--test", small_competition / "test.pkl", "--out",
                 tmp_path / "p", env=env)
    one_line_error(result, "some-org/some-protein-bert", "downloads=true")


def test_weights_that_torch_refuses_to_load_safely_are_one_line(small_competition, tmp_path):
    from layouts import write_hf_bert_dir
    backbone = write_hf_bert_dir(tmp_path / "bert", 2, 32, 4, seed=0)
    out = tmp_path / "run"
    assert run("submit.py", "--track", "bert", "--backbone", backbone, "--folds", "0",
               "--set", "epochs=1", "--set", "window=64", "--set", "device=cpu",
               "--train", small_competition / "train.pkl", "--test", small_competition / "test.pkl",
               "--out", out).returncode == 0
    dump_pickle(out / "model" / "token_clf.pt", Payload(tmp_path / "ran"))
    reseal(out / "model")
    one_line_error(run("submit.py", "--model", out / "model", "--test", small_competition / "test.pkl",
                       "--out", tmp_path / "p", "--set", "device=cpu"),
                   "token_clf.pt", "loaded safely")
    assert not (tmp_path / "ran").exists()


def test_outputs_get_the_permissions_a_normal_write_gives(small_competition, tmp_path):
    out = tmp_path / "run"
    assert run("submit.py", *QUICK, "--train", small_competition / "train.pkl", "--test", small_competition / "test.pkl",
               "--out", out).returncode == 0
    mask = os.umask(0)
    os.umask(mask)
    for name in ("submit.csv", "config.json", "probs.npz", "model/track.json"):
        assert stat.S_IMODE((out / name).stat().st_mode) == 0o666 & ~mask, name


# ---- a run's outputs are a consistent set -----------------------------------------------------

def test_a_second_run_into_a_folder_being_written_stops_at_once(small_competition, tmp_path):
    out = tmp_path / "run"
    first = subprocess.Popen([sys.executable, str(ROOT / "submit.py"), "--track", "lgbm",
                              "--train", str(small_competition / "train.pkl"), "--test",
                              str(small_competition / "test.pkl"), "--out", str(out)], cwd=ROOT,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + HANG  # a loaded machine may take minutes
        while not (out / "folds.json").exists() and time.monotonic() < deadline:
            assert first.poll() is None, first.stderr.read()[-2000:]
            time.sleep(0.1)
        second = run("submit.py", *QUICK, "--seed", "3", "--train", small_competition / "train.pkl",
                     "--test", small_competition / "test.pkl", "--out", out)
        one_line_error(second, str(out), "another run", "writing there now")
    finally:
        assert first.wait(timeout=HANG) == 0, first.stderr.read()[-2000:]
    assert json.loads((out / "config.json").read_text())["track"] == "lgbm"


def test_a_folder_of_another_run_is_refused_unless_overwritten(small_competition, tmp_path):
    out = tmp_path / "run"
    args = ["--train", small_competition / "train.pkl", "--test", small_competition / "valid.fasta", "--out", out]
    assert run("submit.py", *QUICK, *args, "--plot", "--plot-first", "1").returncode == 0
    assert (out / "scores.json").is_file() and (out / "plots").is_dir()
    unlabelled = ["--train", small_competition / "train.pkl", "--test", small_competition / "test.pkl", "--out", out]
    one_line_error(run("submit.py", *QUICK, *unlabelled), str(out), "another run", "--overwrite")
    assert (out / "plots").is_dir()  # refused: nothing touched
    assert run("submit.py", *QUICK, *unlabelled, "--overwrite").returncode == 0
    assert not (out / "scores.json").exists() and not (out / "plots").exists()
    assert json.loads((out / "config.json").read_text())["test"][0]["path"].endswith("test.pkl")


def test_the_same_run_again_resumes_and_leaves_only_its_own_files(small_competition, tmp_path):
    out = tmp_path / "run"
    args = [*QUICK, "--train", small_competition / "train.pkl", "--test", small_competition / "valid.fasta", "--out", out]
    assert run("submit.py", *args, "--plot", "--plot-first", "1").returncode == 0
    (out / ".probs.npz.abc123.tmp").write_bytes(b"half")  # what a SIGKILL leaves
    (out / "checkpoints" / "folds" / ".fold0-x.npz.def456.tmp").write_bytes(b"half")
    assert run("submit.py", *args).returncode == 0
    assert not (out / "plots").exists()  # not asked for this time
    assert not list(out.rglob("*.tmp"))


def test_a_folder_the_kit_did_not_fill_is_never_emptied(small_competition, tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    result = run("submit.py", *QUICK, "--train", small_competition / "train.pkl", "--test", small_competition / "test.pkl",
                 "--out", tmp_path, "--overwrite")
    one_line_error(result, "no run of this kit wrote", "notes.txt")
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_a_terminated_run_leaves_no_partial_files_and_resumes(small_competition, tmp_path):
    out = tmp_path / "run"
    command = [sys.executable, str(ROOT / "submit.py"), "--track", "lgbm", "--train",
               str(small_competition / "train.pkl"), "--test", str(small_competition / "test.pkl"), "--out", str(out)]
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + HANG  # a loaded machine may take minutes: this catches a hang
    while not (out / "folds.json").exists() and time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read()[-2000:]
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=HANG) == 130
    assert not (out / "config.json").exists() and not list(out.rglob("*.tmp"))
    again = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=HANG)
    assert again.returncode == 0, again.stderr[-2000:]


def test_an_unwritable_output_folder_stops_before_any_work(small_competition, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = run("submit.py", "--track", "lgbm", "--train", small_competition / "train.pkl", "--test",
                 small_competition / "test.pkl", "--out", blocker / "out")
    one_line_error(result, "cannot write there")  # one line: no fold's progress either
    assert "out-of-fold" not in result.stdout  # no training happened (a wall clock cannot say)


# ---- validation -------------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["nan", "inf", "2", "-1"])
def test_a_threshold_outside_zero_to_one_is_refused(small_competition, tmp_path, value):
    for script, args in (("submit.py", [*QUICK, "--train", small_competition / "train.pkl", "--test",
                                        small_competition / "test.pkl", "--out", tmp_path / "o"]),
                         ("commands/score.py", ["--ref", small_competition / "valid.fasta", "--pred", tmp_path / "x"])):
        result = run(script, *args, "--threshold", value)
        assert result.returncode == 2 and "not a number in [0, 1]" in result.stderr, script
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("pid, words", [("P 1", "one word"), ("P\t1", "one word"),
                                        (">P1", "leading '>'"), (None, "not text"),
                                        (7, "not text")])
def test_ids_every_output_format_cannot_carry_are_refused_when_read(small_competition, tmp_path, pid, words):
    test = dump_pickle(tmp_path / "test.pkl", [{"id": pid, "sequence": "MKVLA"}])
    result = run("submit.py", *QUICK, "--train", small_competition / "train.pkl", "--test", test,
                 "--out", tmp_path / "out")
    one_line_error(result, str(test), words)
    assert not (tmp_path / "out").exists()


def test_an_empty_test_file_is_an_error(small_competition, tmp_path):
    test = dump_pickle(tmp_path / "test.pkl", [])
    one_line_error(run("submit.py", *QUICK, "--train", small_competition / "train.pkl", "--test", test,
                       "--out", tmp_path / "out"), str(test), "no proteins")


def test_byte_order_marks_are_read_as_nothing(small_competition, tmp_path):
    bom = "\ufeff"
    fasta = tmp_path / "bom.fasta"
    fasta.write_text(bom + (small_competition / "valid.fasta").read_text(), encoding="utf-8")
    out = tmp_path / "run"
    assert run("submit.py", *QUICK, "--train", small_competition / "train.pkl", "--test", fasta,
               "--out", out).returncode == 0
    for name in ("predictions.caid", "submit.csv"):
        marked = tmp_path / f"bom-{name}"
        marked.write_text(bom + (out / name).read_text(), encoding="utf-8")
        result = run("commands/score.py", "--ref", fasta, "--pred", marked)
        assert result.returncode == 0, result.stderr


# ---- score.py ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def scored_run(small_competition, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("scored") / "run"
    assert run("submit.py", *QUICK, "--train", small_competition / "train.pkl", "--test", small_competition / "valid.fasta",
               "--out", out).returncode == 0
    return out


def rewrite_csv(path: Path, dest: Path, change) -> Path:
    rows = list(csv.DictReader(open(path)))
    change(rows)
    with open(dest, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["proteinID", "sequence", "IDRs"])
        writer.writeheader()
        writer.writerows(rows)
    return dest


def test_a_prediction_for_another_sequence_and_extra_proteins_are_reported(small_competition, scored_run,
                                                                           tmp_path):
    def change(rows):
        first = rows[0]
        first["sequence"] = first["sequence"][::-1]  # same length, another protein
        rows.append({"proteinID": "EXTRA", "sequence": "MKV", "IDRs": "010"})
    pred = rewrite_csv(scored_run / "submit.csv", tmp_path / "s.csv", change)
    result = run("commands/score.py", "--ref", small_competition / "valid.fasta", "--pred", pred)
    assert result.returncode == 0, result.stderr
    first = next(csv.DictReader(open(scored_run / "submit.csv")))["proteinID"]
    assert f"1 with a prediction for another protein (its residues mostly differ) ({first})" \
        in result.stdout
    assert "ignored 1 predicted proteins that the reference does not have (EXTRA)" in result.stdout


def test_one_bad_row_drops_that_protein_and_scores_the_rest(small_competition, scored_run, tmp_path):
    def change(rows):
        rows[1]["IDRs"] = rows[1]["IDRs"][:-1] + "x"
    pred = rewrite_csv(scored_run / "submit.csv", tmp_path / "s.csv", change)
    result = run("commands/score.py", "--ref", small_competition / "valid.fasta", "--pred", pred, "--json")
    assert result.returncode == 0, result.stderr
    assert "1 with an unreadable prediction" in result.stdout
    assert json.loads(result.stdout.splitlines()[-1])["dropped"] == 1


def test_scoring_a_runs_probabilities_uses_that_runs_threshold(small_competition, scored_run):
    threshold = json.loads((scored_run / "config.json").read_text())["threshold"]
    result = run("commands/score.py", "--ref", small_competition / "valid.fasta", "--pred", scored_run / "probs.npz")
    assert f"rounded score >= {threshold} (the run's threshold" in result.stdout
    result = run("commands/score.py", "--ref", small_competition / "valid.fasta", "--pred", scored_run / "probs.npz",
                 "--threshold", "0.5")
    assert "rounded score >= 0.5 (--threshold)" in result.stdout


def test_every_number_is_printed_to_three_decimals(small_competition, scored_run):
    result = run("commands/score.py", "--ref", small_competition / "valid.fasta", "--pred",
                 scored_run / "predictions.caid", "--json")
    values = json.loads(result.stdout.splitlines()[-1])
    assert values["f1_per_protein"] == round(values["f1_per_protein"], 3)


def test_a_closed_pipe_is_not_an_error(small_competition, scored_run):
    command = (f"{sys.executable} {ROOT / 'commands' / 'score.py'} --ref {small_competition / 'valid.fasta'} --pred "
               f"{scored_run / 'predictions.caid'} | head -1")
    result = subprocess.run(command, shell=True, capture_output=True, text=True)
    assert "Traceback" not in result.stderr and "BrokenPipe" not in result.stderr


def test_a_protein_called_summary_keeps_its_plot(small_competition, tmp_path):
    pytest.importorskip("matplotlib")
    lines = (small_competition / "valid.fasta").read_text().splitlines()
    lines[0] = ">summary"
    test = tmp_path / "t.fasta"
    test.write_text("\n".join(lines) + "\n")
    out = tmp_path / "run"
    assert run("submit.py", *QUICK, "--train", small_competition / "train.pkl", "--test", test, "--out", out,
               "--plot", "--plot-first", "1").returncode == 0
    assert (out / "plots" / "proteins" / "summary.png").is_file()
    assert (out / "plots" / "summary.png").is_file()


def test_a_threshold_that_calls_everything_is_warned_about(small_competition, tmp_path):
    result = run("submit.py", *QUICK, "--train", small_competition / "train.pkl", "--test", small_competition / "test.pkl",
                 "--out", tmp_path / "o", "--threshold", "0")
    assert result.returncode == 0
    assert "warning: threshold 0.000" in result.stderr and "disordered" in result.stderr
