"""submit.py end to end on small real data: outputs, saved-model prediction, defaults, errors."""
from __future__ import annotations

import csv
import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from idr_kit.data.caid import read_caid
from idr_kit.data.probs import read_npz

from runs import run_submit

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def small_data(tmp_path_factory, shared_data):
    """120 training proteins in the competition's pickle; 25 valid proteins as CAID FASTA."""
    folder = tmp_path_factory.mktemp("data")
    with open(shared_data / "train.pkl", "rb") as handle:
        train = pickle.load(handle)[:120]
    with open(folder / "WSAA_data_public.pkl", "wb") as handle:
        pickle.dump(train, handle)
    lines = (shared_data / "valid.fasta").read_text().splitlines()[: 3 * 25]
    (folder / "test.fasta").write_text("\n".join(lines) + "\n")
    test = [{"id": d["id"], "sequence": d["sequence"]} for d in train[:10]]
    with open(folder / "WSAA_data_test.pkl", "wb") as handle:
        pickle.dump(test, handle)
    return folder


@pytest.fixture(scope="module")
def trained(small_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    result = run_submit("--track", "w2v", "--train", str(small_data / "WSAA_data_public.pkl"),
                        "--test", str(small_data / "test.fasta"), "--out", str(out),
                        "--folds", "3", "--seed", "7")
    assert result.returncode == 0, result.stderr
    return out, result


def test_training_run_writes_every_output(trained, small_data):
    out, result = trained
    for name in ("submit.csv", "probs.npz", "predictions.caid", "config.json", "folds.json",
                 "scores.json", "model/track.json", "oof/WSAA_data_public.npz"):
        assert (out / name).is_file(), name
    rows = list(csv.DictReader(open(out / "submit.csv")))
    probs = read_npz(out / "probs.npz")
    assert [r["proteinID"] for r in rows] == list(probs)
    for row in rows:
        assert len(row["IDRs"]) == len(row["sequence"]) == len(probs[row["proteinID"]])
        assert set(row["IDRs"]) <= {"0", "1"}
    assert "Scores on 25 labelled test proteins" in result.stdout
    assert "\r" not in result.stderr  # a log gets lines, never a bar's redraws


def test_config_records_what_made_the_outputs(trained):
    out, _ = trained
    config = json.loads((out / "config.json").read_text())
    assert config["track"] == "w2v" and config["seed"] == 7 and config["folds"] == 3
    assert config["track_config"]["seed"] == 7
    assert config["code_version"] and config["train"][0]["sha256_16"]
    assert config["train"][0]["proteins"] == 120 and config["test"][0]["proteins"] == 25
    assert config["versions"]["numpy"] and config["versions"]["python"]
    assert config["seconds"]["out_of_fold"] > 0 and config["seconds"]["train"] > 0
    assert config["runtime"]["checkpoint_dir"] == str(out / "checkpoints")
    assert config["command"][:3] == ["submit.py", "--track", "w2v"]
    assert 0 <= config["threshold"] <= 1
    assert config["threshold_source"].startswith("F1-max on out-of-fold")
    assert set(config["oof"][next(iter(config["oof"]))]) >= {"auc", "f1_max"}


def test_binary_column_follows_the_tuned_threshold(trained):
    out, _ = trained
    config = json.loads((out / "config.json").read_text())
    read = read_caid(out / "predictions.caid")
    scores, binary = read.scores, read.binary
    for pid in scores:
        expected = (np.round(scores[pid], 3) >= config["threshold"]).astype(np.uint8)
        np.testing.assert_array_equal(binary[pid], expected)


def test_saved_model_predicts_the_same(trained, small_data, tmp_path):
    out, _ = trained
    result = run_submit("--model", str(out / "model"), "--test", str(small_data / "test.fasta"),
                        "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    before, after = read_npz(out / "probs.npz"), read_npz(tmp_path / "probs.npz")
    assert list(before) == list(after)
    for pid in before:
        np.testing.assert_array_equal(before[pid], after[pid])
    assert (tmp_path / "submit.csv").read_text() == (out / "submit.csv").read_text()
    assert not (tmp_path / "model").exists()


def test_rerun_resumes_from_fold_checkpoints(trained, small_data):
    out, _ = trained
    checkpoints = sorted((out / "checkpoints" / "folds").glob("fold*.npz"))
    assert len(checkpoints) == 3
    stamps = [p.stat().st_mtime_ns for p in checkpoints]
    result = run_submit("--track", "w2v", "--train", str(small_data / "WSAA_data_public.pkl"),
                        "--test", str(small_data / "test.fasta"), "--out", str(out),
                        "--folds", "3", "--seed", "7")
    assert result.returncode == 0, result.stderr
    assert [p.stat().st_mtime_ns for p in checkpoints] == stamps


def test_defaults_find_the_competition_files(small_data, tmp_path):
    env = {**os.environ, "IDR_DATA": str(small_data)}
    result = run_submit("--track", "w2v", "--folds", "2", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(open(tmp_path / "runs" / "w2v" / "submit.csv")))
    assert len(rows) == 10


def test_a_data_dir_without_the_files_says_what_to_pass(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "IDR_DATA"}
    result = run_submit("--track", "w2v", "--data-dir", str(tmp_path), cwd=tmp_path, env=env)
    assert result.returncode == 2
    assert "WSAA_data_public.pkl" in result.stderr and "--train" in result.stderr
    assert "Traceback" not in result.stderr


def test_with_no_data_at_all_the_bundled_demo_data_is_used_and_said(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "IDR_DATA"}
    result = run_submit("--track", "w2v", "--folds", "2", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    assert "bundled demo data" in result.stdout and "Scores on 61 labelled" in result.stdout
    config = json.loads((tmp_path / "runs" / "w2v-demo" / "config.json").read_text())
    assert config["train"][0]["path"].endswith("data/demo/train.fasta")
    assert (tmp_path / "runs" / "w2v-demo" / "scores.json").is_file()


def test_bad_test_file_fails_before_training_and_names_the_protein(small_data, tmp_path):
    bad = tmp_path / "bad.fasta"
    bad.write_text(">ok\nMKV\n>P_BAD\nMK7V\n")
    result = run_submit("--track", "w2v", "--train", str(small_data / "WSAA_data_public.pkl"),
                        "--test", str(bad), "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    assert "P_BAD" in result.stderr and "position 3" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


def test_unknown_setting_is_a_clear_error(small_data, tmp_path):
    result = run_submit("--track", "w2v", "--train", str(small_data / "WSAA_data_public.pkl"),
                        "--test", str(small_data / "test.fasta"), "--set", "nonsense=1")
    assert result.returncode == 2
    assert "nonsense" in result.stderr and "Traceback" not in result.stderr


def test_help_explains_the_formats():
    result = run_submit("--help")
    assert result.returncode == 0
    assert "FASTA" in result.stdout and "--model" in result.stdout


def test_one_protein_under_two_ids_in_two_files_shares_a_fold(small_data, tmp_path):
    """train.pkl and train_pdb_style.fasta hold the same sequences under different ids."""
    with open(small_data / "WSAA_data_public.pkl", "rb") as handle:
        train = pickle.load(handle)[:40]
    renamed = [{**d, "id": "copy_" + d["id"]} for d in train]
    for name, records in (("a.pkl", train), ("b.pkl", renamed)):
        with open(tmp_path / name, "wb") as handle:
            pickle.dump(records, handle)
    result = run_submit("--track", "w2v", "--train", str(tmp_path / "a.pkl"), "--train",
                        str(tmp_path / "b.pkl"), "--test", str(small_data / "test.fasta"),
                        "--out", str(tmp_path / "out"), "--folds", "3")
    assert result.returncode == 0, result.stderr
    folds = json.loads((tmp_path / "out" / "folds.json").read_text())["folds"]
    assert all(folds[d["id"]] == folds["copy_" + d["id"]] for d in train)
    assert {p.name for p in (tmp_path / "out" / "oof").glob("[ab].npz")} == {"a.npz", "b.npz"}


def test_fold_groups_follow_clusters_then_sequences(tmp_path):
    from idr_kit.data.records import make_protein
    from idr_kit.data.splits import fold_groups
    train = [make_protein("a", "MKV", "010"), make_protein("b", "MKV", "011"),
             make_protein("c", "GGG", "000"), make_protein("d", "PPP", "111")]
    table = tmp_path / "clusters.tsv"
    table.write_text("id\tcluster\na\tC1\nc\tC1\n")
    assert fold_groups(train, table) == ["cluster:C1", "cluster:C1", "cluster:C1",
                                         "sequence:PPP"]
    assert fold_groups(train, None) == ["sequence:MKV", "sequence:MKV", "sequence:GGG",
                                        "sequence:PPP"]


# ---- what a new user hit (issue 19) -----------------------------------------------------------

def test_metapredict_with_no_folds_needs_no_training_file(tmp_path, shared_data):
    pytest.importorskip("metapredict")
    lines = (shared_data / "valid.fasta").read_text().splitlines()[:3 * 3]
    (tmp_path / "t.fasta").write_text("\n".join(lines) + "\n")
    result = run_submit("--track", "metapredict", "--folds", "0", "--test", tmp_path / "t.fasta",
                        "--out", tmp_path / "mp", "--threshold", "0.4")
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "mp" / "submit.csv").is_file()
    again = run_submit("--model", tmp_path / "mp" / "model", "--test", tmp_path / "t.fasta",
                       "--out", tmp_path / "mp2")
    assert again.returncode == 0, again.stderr[-3000:]


def test_submit_csv_lines_end_with_a_newline_alone(tmp_path):
    from idr_kit.data.competition import write_submission
    write_submission(tmp_path / "s.csv", ["P1", "P2"], ["MK", "V"],
                     [np.array([0, 1]), np.array([1])])
    assert (tmp_path / "s.csv").read_bytes() == b"proteinID,sequence,IDRs\nP1,MK,01\nV" \
        .replace(b"\nV", b"\nP2,V,1\n")


def test_a_second_prediction_without_out_gets_a_folder_of_its_own(tmp_path):
    here = tmp_path / "work"
    here.mkdir()
    trained = run_submit("--track", "w2v", "--folds", "0", "--set", "vector_size=20",
                         "--out", here / "run", cwd=here)
    assert trained.returncode == 0, trained.stderr[-2000:]
    demo = ROOT / "data" / "demo" / "test.fasta"
    lines = demo.read_text().splitlines()
    (here / "a.fasta").write_text("\n".join(lines[:6]) + "\n")
    (here / "b.fasta").write_text("\n".join(lines[6:12]) + "\n")
    for name in ("a.fasta", "b.fasta", "a.fasta"):
        result = run_submit("--model", here / "run" / "model", "--test", here / name, cwd=here)
        assert result.returncode == 0, result.stderr[-2000:]
    assert sorted(p.name for p in (here / "runs").iterdir()) == ["predict", "predict-2"]
