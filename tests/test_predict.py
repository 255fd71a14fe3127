"""The ready predictor: the Python API (api.py, idr_kit.load) and idr-predict, on a
model that learnt both label styles and carries a decision for each."""
from __future__ import annotations

import csv
import json

import numpy as np
import pytest

import idr_kit
from idr_kit.data.caid import read_caid
from idr_kit.data.competition import read_pickle
from idr_kit.data.errors import InputError, SettingError
from idr_kit.data.fasta import read_fasta
from idr_kit.data.records import Protein
from idr_kit.model.decision import Decision
from idr_kit.api import as_proteins
from idr_kit.model.runtime import Runtime
from idr_kit.model.saved import save_model
from idr_kit.tracks import make_track

from runs import run_tool

SEQS = ["MKVLAAGGSEEKPAPSPAPSEEKKAAPAG", "mstnpkpqrktkrntnrrpqdvkfpgg", "M", "MKXUBZOAAC"]


@pytest.fixture(scope="module")
def model(tmp_path_factory, shared_data):
    def cut(p, n):
        return Protein(p.id, p.seq[:n], p.labels[:n], p.mask[:n])
    train = ([cut(p, 200) for p in read_pickle(shared_data / "train.pkl")[:30]]
             + [cut(p, 200) for p in read_fasta(shared_data / "train_pdb_style.fasta")
                if not p.mask[:200].all() and p.mask[:200].any()][:20])
    track = make_track("distilled", runtime=Runtime(device="cpu", threads=1), embed=8,
                       conv_channels=8, conv_kernel=5, hidden=8, epochs=2).fit(train)
    decisions = {"pdb": Decision(threshold=0.45, source="test"),
                 "nox": Decision(kind="median", width=3, min_length=2, threshold=0.3,
                                 source="test")}
    folder = tmp_path_factory.mktemp("predictor") / "model"
    save_model(track, folder, decisions["pdb"], default_style="pdb",
               decisions={k: d.to_dict() for k, d in decisions.items()})
    return folder


def test_load_predicts_one_float32_array_per_sequence(model):
    predictor = idr_kit.load(model)
    assert predictor.style == "pdb" and predictor.styles == ("pdb", "nox")
    probs = predictor.predict(SEQS)
    assert [len(p) for p in probs] == [len(s) for s in SEQS]
    assert all(p.dtype == np.float32 and ((p >= 0) & (p <= 1)).all() for p in probs)
    assert len(predictor.predict(SEQS[0])) == 1  # a string is one sequence


def test_regions_are_zero_based_and_end_exclusive_runs_of_the_calls(model):
    predictor = idr_kit.load(model, threshold=0.2)
    for hit in predictor.predict_proteins(as_proteins(SEQS)):
        calls = np.zeros(len(hit.sequence), np.uint8)
        for start, end in hit.regions:
            assert 0 <= start < end <= len(hit.sequence)
            calls[start:end] = 1
        np.testing.assert_array_equal(calls, hit.calls)


def test_each_style_has_its_own_decision(model):
    pdb, nox = idr_kit.load(model), idr_kit.load(model, style="nox")
    assert (pdb.threshold, nox.threshold) == (0.45, 0.3)
    assert any(not np.allclose(a, b) for a, b in zip(pdb.predict(SEQS), nox.predict(SEQS)))
    with pytest.raises(SettingError, match="style"):
        idr_kit.load(model, style="xyz")


def test_a_bad_residue_names_the_sequence_and_position(model):
    with pytest.raises(InputError, match="protein seq2: position 3"):
        idr_kit.load(model).predict(["MKV", "MK7L"])


def test_predict_fasta_streams_and_gives_what_predict_gives(model, shared_data, tmp_path):
    predictor = idr_kit.load(model)
    proteins = read_fasta(shared_data / "valid.fasta")[:12]
    import idr_kit.api as api
    old, api.CHUNK_RESIDUES = api.CHUNK_RESIDUES, 2000  # several chunks
    try:
        hits = list(predictor.predict_fasta(shared_data / "valid.fasta"))[:12]
    finally:
        api.CHUNK_RESIDUES = old
    assert [h.id for h in hits] == [p.id for p in proteins]
    for hit, probs in zip(hits, predictor.predict([p.seq for p in proteins])):
        np.testing.assert_allclose(hit.probs, probs, atol=1e-6)


def cli(*args, **kwargs):
    return run_tool("commands/predict.py", *args, **kwargs)


def test_the_command_line_prints_a_table_of_one_based_regions(model):
    done = cli("-s", SEQS[0], "-s", SEQS[2], "--model", model, "--threshold", "0.2")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "regions (1-based, inclusive)" in lines[0] and lines[1].startswith("seq1")
    hit = idr_kit.load(model, threshold=0.2).predict_proteins(as_proteins([SEQS[0]]))[0]
    expected = ",".join(f"{a + 1}-{b}" for a, b in hit.regions) or "-"
    assert lines[1].split()[-1] == expected


@pytest.mark.parametrize("suffix", [".json", ".csv", ".caid", ".npz"])
def test_every_output_format_holds_every_protein(model, shared_data, tmp_path, suffix):
    out = tmp_path / f"out{suffix}"
    done = cli(shared_data / "valid.fasta", "-s", "MKVLAAGG", "--model", model, "-o", out)
    assert done.returncode == 0, done.stderr
    ids = [p.id for p in read_fasta(shared_data / "valid.fasta")]
    if suffix == ".json":
        record = json.loads(out.read_text())
        assert record["regions_are"] == "1-based, inclusive"
        assert [p["id"] for p in record["proteins"]] == ["seq1", *ids]
        first = record["proteins"][1]
        assert len(first["probabilities"]) == first["length"] == len(first["calls"])
    elif suffix == ".csv":
        rows = list(csv.DictReader(out.open()))
        assert rows[0]["id"] == "seq1" and rows[0]["position"] == "1"
        assert sum(1 for r in rows if r["id"] == ids[0]) == len(read_fasta(
            shared_data / "valid.fasta")[0].seq)
    elif suffix == ".caid":
        assert set(read_caid(out).scores) == {"seq1", *ids}
    else:
        with np.load(out) as saved:
            assert set(saved.files) == {"seq1", *ids}


def test_stdin_and_a_repeated_id_are_handled(model, tmp_path):
    import subprocess
    import sys

    from runs import ROOT
    fasta = ">a\nMKVLAAGG\n>b\nMSEE\n"
    done = subprocess.run([sys.executable, str(ROOT / "commands" / "predict.py"), "-", "--model", str(model)],
                          input=fasta, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert [line.split()[0] for line in done.stdout.splitlines()[1:]] == ["a", "b"]
    (tmp_path / "x.fasta").write_text(fasta)
    twice = cli(tmp_path / "x.fasta", tmp_path / "x.fasta", "--model", model, "-o",
                tmp_path / "o.json")
    assert twice.returncode == 2 and "given twice" in twice.stderr
    assert not (tmp_path / "o.json").exists()


# ---- the Python API's edges -------------------------------------------------------------------

def test_the_api_answers_in_the_shape_it_was_asked(model):
    predictor = idr_kit.load(model)
    both = predictor.predict(SEQS[:2])
    assert [len(p) for p in both] == [len(s) for s in SEQS[:2]]
    named = predictor.predict({"KEAP": SEQS[0], "other": SEQS[1]})
    assert list(named) == ["KEAP", "other"] and len(named["KEAP"]) == len(SEQS[0])
    np.testing.assert_array_equal(named["KEAP"], both[0])
    spans = predictor.regions({"KEAP": SEQS[0]})
    assert list(spans) == ["KEAP"] and isinstance(spans["KEAP"], list)


def test_predict_disorder_and_idrs_take_one_or_many():
    one = idr_kit.predict_disorder(SEQS[0])
    many = idr_kit.predict_disorder(SEQS[:3])
    assert isinstance(one, np.ndarray) and len(many) == 3
    np.testing.assert_array_equal(many[0], one)
    assert list(idr_kit.predict_disorder({"a": SEQS[1]})) == ["a"]
    assert idr_kit.predict_idrs(SEQS[:2])[0] == idr_kit.predict_idrs(SEQS[0])


@pytest.mark.parametrize("given", [b"MKV", None, 5, [b"MKV"], ["MKV", None], {1: "MKV"}])
def test_values_that_are_not_sequences_are_a_clear_type_error(model, given):
    from idr_kit.data.errors import WrongType
    with pytest.raises(WrongType, match="string"):
        idr_kit.load(model).predict(given)


def test_a_style_or_a_model_of_the_wrong_type_is_a_clear_type_error(model):
    from idr_kit.data.errors import WrongType
    with pytest.raises(WrongType, match="style"):
        idr_kit.load(model, style=["pdb"])
    with pytest.raises(WrongType, match="model"):
        idr_kit.load(42)


def test_predict_file_takes_a_shard_as_text(model, shared_data, tmp_path):
    test = tmp_path / "t.fasta"
    test.write_text("\n".join((shared_data / "valid.fasta").read_text().splitlines()[:30]) + "\n")
    record = idr_kit.predict_file(test, tmp_path / "s1", model, shard="1/2", workers=1,
                                  chunk_residues=2000)
    assert record["shard"]["index"] == 1 and record["shard"]["of"] == 2
    with pytest.raises(SettingError, match="I/N"):
        idr_kit.predict_file(test, tmp_path / "s2", model, shard="1:2")


SCRIPT = """
import sys, idr_kit
model = idr_kit.load(sys.argv[1])
hits = list(model.predict_fasta(sys.argv[2], workers=2, chunk_residues=2000))
print(len(hits), hits[0].id)
"""


def test_predict_fasta_with_workers_runs_from_a_script_without_a_main_guard(model, shared_data,
                                                                            tmp_path):
    """A plain script, as a user writes it: no ``if __name__ == "__main__":``."""
    import subprocess
    import sys
    test = tmp_path / "t.fasta"
    test.write_text("\n".join((shared_data / "valid.fasta").read_text().splitlines()[:150]) + "\n")
    (tmp_path / "script.py").write_text(SCRIPT)
    done = subprocess.run([sys.executable, str(tmp_path / "script.py"), str(model), str(test)],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["50", read_fasta(test)[0].id]


def test_predict_fasta_reads_stdin(model, monkeypatch):
    import io
    import sys

    class Stdin(io.TextIOWrapper):
        pass
    monkeypatch.setattr(sys, "stdin", Stdin(io.BytesIO(b">a\nMKVLAAGG\n>b\nMSEE\n")))
    hits = list(idr_kit.load(model).predict_fasta("-"))
    assert [h.id for h in hits] == ["a", "b"] and len(hits[1].probs) == 4


# ---- idr-predict: everything checked first, then predicted ------------------------------------

def test_a_bad_residue_in_the_last_chunk_stops_before_any_output(model, shared_data, tmp_path):
    text = "\n".join((shared_data / "valid.fasta").read_text().splitlines()[:90])
    (tmp_path / "t.fasta").write_text(text + "\n>bad\nMKV7L\n00000\n")
    done = cli(tmp_path / "t.fasta", "--model", model, "--chunk-residues", "2000")
    assert done.returncode == 2 and done.stdout == "", done.stdout[:500]
    assert "bad" in done.stderr and "position 4" in done.stderr
    done = cli(tmp_path / "t.fasta", "--model", model, "-o", tmp_path / "o.caid")
    assert done.returncode == 2 and list(tmp_path.iterdir()) == [tmp_path / "t.fasta"]


def test_csv_ids_with_commas_and_quotes_keep_their_columns(model, tmp_path):
    (tmp_path / "t.fasta").write_text('>sp|P1|A,B "x"\nMKVL\n>plain\nMSE\n')
    done = cli(tmp_path / "t.fasta", "--model", model, "-o", tmp_path / "o.csv")
    assert done.returncode == 0, done.stderr
    rows = list(csv.reader((tmp_path / "o.csv").open(newline="")))
    assert all(len(row) == 5 for row in rows)
    assert [r[0] for r in rows[1:]] == ['sp|P1|A,B'] * 4 + ["plain"] * 3 or \
        [r[0] for r in rows[1:]] == ['sp|P1|A,B "x"'] * 4 + ["plain"] * 3


def test_workers_out_of_range_are_refused(model):
    done = cli("-s", "MKV", "--model", model, "--workers", "-1")
    assert done.returncode == 2 and "--workers" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_workers_die_with_a_killed_parent(model, shared_data, tmp_path):
    """SIGKILL the parent mid-prediction: its worker processes go too, within seconds."""
    import os
    import subprocess
    import sys
    import time
    import uuid

    from runs import HANG, ROOT
    mark = uuid.uuid4().hex
    text = (shared_data / "valid.fasta").read_text()
    (tmp_path / "big.fasta").write_text("".join(
        text.replace(">", f">r{i}_") for i in range(4)))
    parent = subprocess.Popen([sys.executable, str(ROOT / "commands" / "predict.py"), str(tmp_path / "big.fasta"),
                               "--model", str(model), "--workers", "2", "--chunk-residues", "4000",
                               "-o", str(tmp_path / "o.npz")],
                              env={**os.environ, "IDR_TEST_MARK": mark},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def marked() -> list[int]:
        found = []
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                if f"IDR_TEST_MARK={mark}".encode() in open(f"/proc/{pid}/environ", "rb").read():
                    found.append(int(pid))
            except OSError:
                pass
        return found
    # Limits that catch a hang: a loaded machine takes its time to start processes, or to end them
    deadline = time.monotonic() + HANG
    while len(marked()) < 3 and parent.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)  # the parent and two workers
    assert len(marked()) >= 3, "the workers never started"
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 300
    while marked() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert marked() == []
