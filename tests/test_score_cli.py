"""score.py run as a user runs it: a subprocess from the repository root."""
import json
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from idr_kit.data.competition import write_submission
from idr_kit.data.fasta import write_caid
from idr_kit.data.load import read_proteins
from idr_kit.data.metrics import KEYS
from idr_kit.data.probs import write_npz

REPO = Path(__file__).resolve().parents[1]

# The two proteins of test_metrics.py (AUC .688, APS .768, F1 at 0.5 .572); P3 has no
# prediction (dropped), P4 one of another length (scored on its first 3 residues, as CAID
# does; --strict drops it).
REF_TEXT = ">P1\nACDEF\n110-0\n>P2\nGHIK\n1010\n>P3\nMKV\n111\n>P4\nMKVL\n0000\n"
SEQS = {"P1": "ACDEF", "P2": "GHIK", "P4": "MKV"}
SCORES = {"P1": np.array([.9, .4, .4, .8, .1]), "P2": np.array([.7, .4, .2, .6]),
          "P4": np.array([.5, .5, .5])}


def score(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "commands/score.py", *map(str, args)], cwd=REPO, text=True,
                          capture_output=True, timeout=120)


def last_json(proc: subprocess.CompletedProcess) -> dict:
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert tuple(result) == KEYS
    return result


@pytest.fixture
def files(tmp_path):
    (tmp_path / "ref.fasta").write_text(REF_TEXT)
    ids, seqs = list(SEQS), list(SEQS.values())
    binary = {pid: (s >= 0.5).astype(np.uint8) for pid, s in SCORES.items()}
    write_npz(tmp_path / "pred.npz", SCORES)
    write_caid(tmp_path / "pred.caid", ids, seqs, SCORES, binary)
    write_submission(tmp_path / "pred.csv", ids, seqs, binary)
    return tmp_path


def test_json_last_line_has_exactly_the_keys(files):
    result = last_json(score("--ref", files / "ref.fasta", "--pred", files / "pred.npz",
                             "--json", "--strict"))
    assert (result["auc"], result["aps"], result["f1"]) == (0.688, 0.768, 0.572)
    assert (result["proteins"], result["residues"], result["dropped"]) == (2, 8, 2)
    caid = last_json(score("--ref", files / "ref.fasta", "--pred", files / "pred.npz", "--json"))
    assert (caid["proteins"], caid["residues"], caid["dropped"]) == (3, 11, 1)


def test_report_says_what_was_dropped_and_why(files):
    proc = score("--ref", files / "ref.fasta", "--pred", files / "pred.caid")
    assert proc.returncode == 0, proc.stderr
    assert "dropped 1 of 4 reference proteins: 1 without a prediction (P3)" in proc.stdout
    assert "scored 1 predictions of another length on the residues they share" in proc.stdout
    assert "binary column" in proc.stdout
    assert "{" not in proc.stdout  # no JSON unless asked
    strict = score("--ref", files / "ref.fasta", "--pred", files / "pred.caid", "--strict")
    assert "dropped 2 of 4 reference proteins: 1 without a prediction (P3); 1 with a " \
           "prediction of another length or other residues (--strict) (P4)" in strict.stdout
    assert "0.688" in strict.stdout


def test_binary_only_csv_has_null_threshold_free_metrics(files):
    result = last_json(score("--ref", files / "ref.fasta", "--pred", files / "pred.csv",
                             "--json", "--strict"))
    assert result["auc"] is None and result["f1_max"] is None and result["f1"] == 0.572


def test_threshold_beats_the_binary_column(files):
    base = ["--ref", files / "ref.fasta", "--pred", files / "pred.caid", "--json", "--strict"]
    column, cut = last_json(score(*base)), last_json(score(*base, "--threshold", "0.3"))
    # At 0.3 calls are .9 .4 .4 .7 .4 .6: TP3 FP3, precision .5, recall .75
    assert (cut["precision"], cut["recall"]) == (0.5, 0.75) != (column["precision"],
                                                                column["recall"])


def test_pickle_reference(files):
    items = [{"id": "P1", "sequence": "ACDEF", "label": np.array([1, 1, 0, -1, 0])},
             {"id": "P2", "sequence": "GHIK", "label": np.array([1, 0, 1, 0])}]
    (files / "ref.pkl").write_bytes(pickle.dumps(items))
    result = last_json(score("--ref", files / "ref.pkl", "--pred", files / "pred.npz",
                             "--json"))
    assert (result["auc"], result["dropped"]) == (0.688, 0)


@pytest.mark.parametrize("make_args, message", [
    (lambda d: ["--ref", d / "missing.fasta", "--pred", d / "pred.npz"], "not found"),
    (lambda d: ["--ref", d / "ref.fasta", "--pred", d / "junk.npz"], "junk.npz"),
    (lambda d: ["--ref", d / "ref.fasta", "--pred", d / "pred.txt"], "format"),
    (lambda d: ["--ref", d / "plain.fasta", "--pred", d / "pred.npz"], "no labels"),
    (lambda d: ["--ref", d / "ref.fasta", "--pred", d / "pred.csv", "--threshold", "0.5"],
     "threshold needs scores"),
])
def test_bad_input_is_one_error_line_and_exit_2(files, make_args, message):
    (files / "junk.npz").write_text("not a zip archive")
    (files / "pred.txt").write_text("0.5\n")
    (files / "plain.fasta").write_text(">P1\nACDEF\n>P2\nGHIK\n")
    proc = score(*make_args(files))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr + proc.stdout
    assert proc.stderr.startswith("score.py: error: ") and message in proc.stderr


def test_help_names_the_formats():
    proc = score("--help")
    assert proc.returncode == 0
    assert all(word in proc.stdout for word in (".caid", ".npz", ".csv", "pickle", "FASTA"))


def disorder_prone_fraction(seq: str, window: int = 21) -> np.ndarray:
    """A trivial predictor: the share of D/E/K/P/S/Q residues in a centred window."""
    hits = np.isin(np.frombuffer(seq.encode(), np.uint8), np.frombuffer(b"DEKPSQ", np.uint8))
    return (np.convolve(hits.astype(float), np.ones(window), mode="same") / window)


def test_real_data_npz_and_caid_give_the_same_sane_numbers(tmp_path, shared_data):
    ref = read_proteins(shared_data / "valid.fasta")
    scores = {p.id: disorder_prone_fraction(p.seq).astype(np.float32) for p in ref}
    binary = {pid: (np.round(s.astype(float), 3) >= 0.5).astype(np.uint8)
              for pid, s in scores.items()}
    write_npz(tmp_path / "p.npz", scores)
    write_caid(tmp_path / "p.caid", [p.id for p in ref], [p.seq for p in ref], scores, binary)
    via_npz = last_json(score("--ref", shared_data / "valid.fasta", "--pred", tmp_path / "p.npz",
                              "--json"))
    via_caid = last_json(score("--ref", shared_data / "valid.fasta", "--pred", tmp_path / "p.caid",
                               "--json"))
    assert via_npz == via_caid
    assert via_npz["proteins"] == len(ref) == 302 and via_npz["dropped"] == 0
    assert via_npz["residues"] == sum(int(p.mask.sum()) for p in ref)
    assert 0.6 < via_npz["auc"] < 0.85 and 0.28 < via_npz["aps"] < 0.8  # 28 % are disordered
    assert 0 < via_npz["f1"] <= via_npz["f1_max"] < 1 and 0 < via_npz["mcc"] < 1
    assert 0 < via_npz["threshold_f1_max"] < 1 and 0 < via_npz["f1_per_protein"] < 1


def test_first_word_ids_refuse_two_headers_of_one_first_word(tmp_path):
    """Cut to their first word, ">P1 model A" and ">P1 model B" would be one protein: the one
    read last would stand for both, silently."""
    (tmp_path / "ref.fasta").write_text(REF_TEXT)
    rows = "".join(f"{i}\t{aa}\t0.5\t1\n" for i, aa in enumerate("ACDEF", 1))
    (tmp_path / "pred.caid").write_text(f">P1 model A\n{rows}>P1 model B\n{rows}")
    done = score("--ref", tmp_path / "ref.fasta", "--pred", tmp_path / "pred.caid",
                 "--first-word-ids")
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "model A" in lines[0] and "model B" in lines[0], done.stderr
