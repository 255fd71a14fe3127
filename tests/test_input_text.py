"""Input text checked before it is changed (issue 30): letters outside ASCII refused at every
door before any case mapping, one FASTA parser for the whole-file and the streamed reads, the
lengths messages give, outputs that carry any id the readers accept, and long proteins
predicted rather than refused."""
from __future__ import annotations

import io
import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import idr_kit
from idr_kit.data.errors import InputError, brief
from idr_kit.data.fasta import iter_fasta, iter_fasta_text, read_fasta
from idr_kit.data.load import read_proteins
from idr_kit.data.records import MAX_ID_CHARS, check_id, make_protein, parse_labels

ROOT = Path(__file__).resolve().parents[1]

# Characters that change or vanish when upper-cased, normalised or stripped: each must be
# refused where it stands, never turned into residues.
NOT_RESIDUES = {
    "sharp s (upper: SS)": "ß", "dotless i (upper: I)": "ı", "long s (upper: S)": "ſ",
    "ligature ff (upper: FF)": "ﬀ", "full-width M": "Ｍ", "combining acute": "\u0301",
    "zero-width space": "\u200b", "lowercase a umlaut": "ä", "Greek alpha": "α",
    "no-break space": "\u00a0", "line separator": "\u2028", "next line": "\x85",
    "ideographic space": "\u3000", "byte-order mark": "\ufeff",
}


# ---- letters outside ASCII (defect 5) --------------------------------------------------------

@pytest.mark.parametrize("char", NOT_RESIDUES.values(), ids=NOT_RESIDUES.keys())
def test_a_letter_outside_ascii_is_refused_at_its_position(char):
    with pytest.raises(InputError) as err:
        make_protein("P1", f"mk{char}lla")
    assert err.value.protein == "P1" and err.value.position == 3, str(err.value)
    assert f"U+{ord(char):04X}" in str(err.value)


def test_the_api_refuses_sharp_s_instead_of_predicting_seven_residues():
    with pytest.raises(InputError, match="position 3: invalid residue 'ß'"):
        idr_kit.predict_disorder("MKßLLA")
    assert len(idr_kit.predict_disorder("mkslla")) == 6  # ASCII lowercase is still fine


def _doors(tmp_path: Path, seq: str, labels: str) -> dict[str, Path]:
    """The same protein in every file format the kit reads."""
    files = {"plain.fasta": f">P1 desc\n{seq}\n", "caid.fasta": f">P1\n{seq}\n{labels}\n",
             "disprot.json": json.dumps({"data": [{"disprot_id": "P1", "sequence": seq,
                                                   "regions": []}]})}
    paths = {}
    for name, text in files.items():
        paths[name] = tmp_path / name
        paths[name].write_text(text, encoding="utf-8")
    paths["test.pkl"] = tmp_path / "test.pkl"
    paths["test.pkl"].write_bytes(pickle.dumps([{"id": "P1", "sequence": seq,
                                                 "label": np.zeros(len(seq), np.int64)}]))
    return paths


@pytest.mark.parametrize("char", ["ß", "ﬀ", "é"])
def test_every_reader_refuses_a_letter_outside_ascii(tmp_path, char):
    for name, path in _doors(tmp_path, f"MKV{char}LL", "000000").items():
        with pytest.raises(InputError) as err:
            read_proteins(path)
        assert (err.value.source, err.value.protein, err.value.position) == (str(path), "P1", 4), name
        with pytest.raises(InputError):  # the streamed read, for the prediction commands
            [p for chunk in idr_kit.data.load.iter_proteins(path, 10) for p in chunk]


def test_stdin_refuses_a_letter_outside_ascii(monkeypatch, capsys):
    from idr_kit.commands.predict import main
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(">P1\nMKſLL\n".encode())))
    assert main(["-", "--fast"]) == 2
    line = capsys.readouterr().err.strip()
    assert "stdin: protein P1: position 3: invalid residue 'ſ'" in line and "\n" not in line


@pytest.mark.parametrize("labels, position", [("0١0", 2), ("00\u00a0", 3), ("0１0", 2),
                                              ("0\u200b0", 2)])
def test_a_label_line_outside_ascii_is_refused_at_its_position(tmp_path, labels, position):
    path = tmp_path / "t.fasta"
    path.write_text(f">P1\nMKV\n{labels}\n", encoding="utf-8")
    with pytest.raises(InputError, match=f"protein P1: position {position}: invalid label"):
        read_fasta(path)
    with pytest.raises(InputError, match=f"position {position}: invalid label"):
        parse_labels(labels, length=3, protein="P1")


@pytest.mark.parametrize("pid", ["P\x001", "P1\u200b", "P\u00a01", "P\x851"])
def test_an_id_with_a_nul_or_an_invisible_character_is_refused(tmp_path, pid):
    with pytest.raises(InputError, match="one word"):
        check_id(pid)
    path = tmp_path / "t.fasta"
    path.write_text(f">{pid}\nMKV\n", encoding="utf-8")
    with pytest.raises(InputError, match="one word"):
        read_fasta(path)
    pickled = tmp_path / "t.pkl"
    pickled.write_bytes(pickle.dumps([{"id": pid, "sequence": "MKV"}]))
    with pytest.raises(InputError, match="one word"):
        read_proteins(pickled)


def test_ids_outside_ascii_are_kept():
    assert make_protein("Pé_ß_Ｍ", "MKV").id == "Pé_ß_Ｍ"


# ---- one FASTA reader (defect 19) ------------------------------------------------------------

SPELLINGS = {
    "LF": b">P1 d\nMKV\nLLA\n>P2\nSEE\n",
    "CRLF": b">P1 d\r\nMKV\r\nLLA\r\n>P2\r\nSEE\r\n",
    "lone CR": b">P1 d\rMKV\rLLA\r>P2\rSEE\r",
    "no final newline": b">P1\nMKV",
    "form feed in a line": b">P1\nMKV\x0cLLA\n",
    "form feed at a line end": b">P1\nMKV\x0c\nLLA\n",
    "vertical tab": b">P1\nMKV\x0bLLA\n",
    "NEL": ">P1\nMKV\x85LLA\n".encode(),
    "line separator": ">P1\nMKV\u2028LLA\n".encode(),
    "paragraph separator in a header": ">P1\u2029P2\nMKV\n".encode(),
    "NUL in a sequence": b">P1\nMK\x00V\n",
    "NUL in a header": b">P\x001\nMKV\n",
    "BOM first": b"\xef\xbb\xbf>P1\nMKV\n",
    "BOM inside": b">P1\nMK\xef\xbb\xbfV\n",
    "blank lines inside a record": b">P1\n\nMKV\n\n\nLLA\n\n>P2\n\nSEE\n",
    "blank lines inside a CAID record": b">P1\nMKV\n\n010\n>P2\nSEE\n\n011\n",
    "'>' alone": b">\nMKV\n",
    "'>' with spaces": b">   \nMKV\n",
    "very long header": b">P1 " + b"x" * 100_000 + b"\nMKV\n",
    "trailing spaces and tabs": b">P1 \t\nMKV \t\n LLA\t\n",
    "tab inside a sequence": b">P1\nMK\tV\n",
    "space inside a sequence": b">P1\nMK V\n",
    "tab ends an id": b">P1\tdesc\nMKV\n",
    "text before the header": b"MKV\n>P1\nMKV\n",
    "no header": b"MKV\n",
    "empty file": b"",
    "only blank lines": b"\n\r\n\n",
    "not UTF-8": b">P1\nMKV\xffLL\n",
    "not UTF-8 in a header": b">P\xc31\nMKV\n",
    "truncated UTF-8 at the end": b">P1\nMKV\xe2\x80",
    "duplicate ids": b">P1\nMKV\n>P1\nLLA\n",
    "mixed layouts": b">P1\nMKV\n010\n>P2\nLLA\n",
    "CAID labels of the wrong length": b">P1\nMKV\n01\n",
    "a 201-character id": b">" + b"P" * 201 + b"\nMKV\n",
}


def _outcome(read) -> tuple:
    """What a read gives: its proteins as plain values, or its error's message."""
    try:
        return ("ok", [(p.id, p.seq, None if p.labels is None else p.label_string())
                       for p in read()])
    except InputError as err:
        return ("refused", str(err))


@pytest.mark.parametrize("data", SPELLINGS.values(), ids=SPELLINGS.keys())
def test_the_whole_file_and_the_streamed_reads_agree(tmp_path, data):
    path = tmp_path / "t.fasta"
    path.write_bytes(data)
    whole = _outcome(lambda: read_fasta(path))
    streamed = _outcome(lambda: [p for chunk in iter_fasta(path, chunk_residues=2) for p in chunk])
    spooled = _outcome(lambda: [p for chunk in iter_fasta_text(
        io.TextIOWrapper(io.BytesIO(data), encoding="utf-8-sig"), str(path), chunk_residues=2)
        for p in chunk])
    assert whole == streamed == spooled


ACCEPTED = {"LF": [("P1", "MKVLLA"), ("P2", "SEE")], "CRLF": [("P1", "MKVLLA"), ("P2", "SEE")],
            "lone CR": [("P1", "MKVLLA"), ("P2", "SEE")], "BOM first": [("P1", "MKV")],
            "trailing spaces and tabs": [("P1", "MKVLLA")], "tab ends an id": [("P1", "MKV")],
            "very long header": [("P1", "MKV")]}
REFUSED = {"form feed in a line": "position 4: invalid residue '\\x0c'",
           "NEL": "position 4: invalid residue '\\x85'",
           "line separator": "position 4: invalid residue '\\u2028'",
           "paragraph separator in a header": "one word",
           "NUL in a sequence": "position 3: invalid residue '\\x00'",
           "BOM inside": "position 3: invalid residue '\\ufeff'",
           "'>' alone": "empty protein id", "tab inside a sequence": "position 3",
           "not UTF-8": "not a text file: line 2 (byte offset 7) is not UTF-8",
           "not UTF-8 in a header": "not a text file: line 1 (byte offset 2) is not UTF-8",
           "truncated UTF-8 at the end": "line 2 (byte offset 7) is not UTF-8",
           "a 201-character id": "has 201 characters"}


@pytest.mark.parametrize("name", ACCEPTED)
def test_what_the_fasta_reader_accepts(tmp_path, name):
    path = tmp_path / "t.fasta"
    path.write_bytes(SPELLINGS[name])
    assert [(p.id, p.seq) for p in read_fasta(path)] == ACCEPTED[name]


@pytest.mark.parametrize("name", REFUSED)
def test_what_the_fasta_reader_refuses_and_says(tmp_path, name):
    path = tmp_path / "t.fasta"
    path.write_bytes(SPELLINGS[name])
    with pytest.raises(InputError) as err:
        read_fasta(path)
    assert str(err.value).startswith(f"{path}: ") and REFUSED[name] in str(err.value)
    assert "\n" not in str(err.value)


def test_a_fifo_given_as_a_fasta_is_refused_not_read(tmp_path):
    fifo = tmp_path / "f.fasta"
    os.mkfifo(fifo)
    with pytest.raises(OSError, match="not a regular file"):
        read_fasta(fifo)


# ---- lengths as they are (defect 22) ---------------------------------------------------------

def test_a_long_id_is_reported_with_its_own_length():
    pid = "P" * (MAX_ID_CHARS + 1)
    with pytest.raises(InputError) as err:
        check_id(pid)
    assert f"({MAX_ID_CHARS + 1:,} characters)" in str(err.value)
    assert f"has {MAX_ID_CHARS + 1:,} characters" in str(err.value)
    assert "203" not in str(err.value)
    assert brief(list(range(1000))).endswith("(1,000 items)")


# ---- outputs carry every id the readers accept (defect 14) -----------------------------------

ASCII_LOCALE = """
import sys
from pathlib import Path
import numpy as np
from idr_kit.commands.predict import main
from idr_kit.data.outset import OutputSet
from idr_kit.data.fasta import write_caid
from idr_kit.data.load import read_proteins
from idr_kit.data.caid import read_caid
fasta, out = Path(sys.argv[1]), Path(sys.argv[2])
assert sys.stdout.encoding == "ascii", sys.stdout.encoding  # what the test is about
assert main([str(fasta), "--fast", "-o", str(out / "cli.caid")]) == 0
assert main([str(fasta), "--fast"]) == 0  # the table, on an ASCII stdout
proteins = read_proteins(fasta)
probs = [np.full(len(p), 0.75, np.float32) for p in proteins]
calls = [np.ones(len(p), np.uint8) for p in proteins]
write_caid(out / "api.caid", [p.id for p in proteins], [p.seq for p in proteins], probs, calls)
with OutputSet(out / "set") as outputs:
    outputs.add(proteins, probs, calls)
for caid in (out / "cli.caid", out / "api.caid", out / "set" / "predictions.caid"):
    assert sorted(read_caid(caid).scores) == sorted(p.id for p in proteins), caid
"""


def test_an_id_outside_ascii_is_written_as_utf8_under_an_ascii_locale(tmp_path):
    fasta = tmp_path / "t.fasta"
    fasta.write_text(">Pé_ß_Ｍ\nMSEEKKPAPSPAPS\n>P2\nMKV\n", encoding="utf-8")
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("LC_", "LANG", "PYTHONIOENCODING", "PYTHONUTF8"))}
    env.update(LC_ALL="C", PYTHONUTF8="0", PYTHONCOERCECLOCALE="0")  # no UTF-8 mode: ASCII
    done = subprocess.run([sys.executable, "-c", ASCII_LOCALE, str(fasta), str(tmp_path)],
                          env=env, capture_output=True, text=True, encoding="utf-8",
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "P\\xe9_\\xdf_\\uff2d " in done.stdout  # the table, escaped
    for caid in ("cli.caid", "api.caid", "set/predictions.caid"):
        assert (tmp_path / caid).read_bytes().startswith(">Pé_ß_Ｍ\n".encode())


# ---- memory follows the batch (defect 7) -----------------------------------------------------

def test_sessions_keep_no_memory_pattern_per_input_shape():
    from idr_kit.convnet.members import MetapredictMember
    data = (ROOT / "models" / "predictor" / "metapredict_v3.onnx").read_bytes()
    member = MetapredictMember(data, 1, "metapredict_v3.onnx")
    assert member.session.get_session_options().enable_mem_pattern is False


# ---- long proteins predicted, not refused (defect 10) ----------------------------------------

def test_windows_are_planned_by_hand():
    from idr_kit.nn.residue_runs import spans
    assert spans(6, 6, 1) == [(0, 6, 0, 6)]  # no longer than a window: run whole
    # windows of 6 sharing 2 residues: (0, 6) and (4, 10), cut in the middle of the overlap
    assert spans(10, 6, 1) == [(0, 6, 0, 5), (4, 10, 5, 10)]
    # the last window ends at the end (a full window), so it shares 3 with the one before
    assert spans(13, 6, 1) == [(0, 6, 0, 5), (4, 10, 5, 8), (7, 13, 8, 13)]


def _long_protein(shared_data, residues: int) -> str:
    seqs = [p.seq for p in read_fasta(shared_data / "valid.fasta")[:40]]
    return "".join(seqs)[:residues]


def test_a_protein_past_the_window_is_predicted_as_if_whole(shared_data, monkeypatch):
    """The convnet alone (--fast) reads 76 residues either side: windows with more context than
    that give the whole protein's answer, to float rounding."""
    from idr_kit.nn import residue_runs
    model = idr_kit.load(fast=True)
    seq = _long_protein(shared_data, 5000)
    whole = model.predict([seq])[0]
    monkeypatch.setattr(residue_runs, "WINDOW", 1024)
    monkeypatch.setattr(residue_runs, "CONTEXT", 128)
    windowed = model.predict([seq, "MSEEKKPAPS"])[0]
    np.testing.assert_allclose(windowed, whole, atol=1e-5)


def test_the_default_model_predicts_a_protein_past_the_window(shared_data, monkeypatch):
    from idr_kit.nn import residue_runs
    model = idr_kit.load()
    seq = _long_protein(shared_data, 3000)
    whole = model.predict([seq])[0]
    monkeypatch.setattr(residue_runs, "WINDOW", 1024)
    monkeypatch.setattr(residue_runs, "CONTEXT", 256)
    windowed = model.predict([seq])[0]
    assert windowed.shape == whole.shape and windowed.dtype == np.float32
    assert 0 <= windowed.min() and windowed.max() <= 1
    assert np.abs(windowed - whole).mean() < 0.05  # metapredict's LSTM reaches far: close only


POWER = 10  # memory grows with residues ** POWER: 8 residues ask for 4 GiB, 4 for 4 MiB


def _power_network() -> bytes:
    """A member network whose memory grows with its residues to the power POWER: scores
    (B, T) are the max over every residue's one-hot sum expanded to (B, T, T, ..., T), 1.0
    each."""
    from onnx import helper, numpy_helper
    from networks import MEMBER_FILE, graph_model
    consts = [numpy_helper.from_array(np.array(value, np.int64), name) for name, value in (
        ("a2", [2]), ("wide", list(range(2, POWER + 1))), ("shape_of", [0] + [1] * POWER))]
    nodes = [helper.make_node("ReduceSum", ["x", "a2"], ["s"], keepdims=0),  # (B, T)
             helper.make_node("Unsqueeze", ["s", "wide"], ["s1"]),  # (B, T, 1, ..., 1)
             helper.make_node("Shape", ["x"], ["btf"]),
             helper.make_node("Gather", ["btf", "shape_of"], ["shape"]),
             helper.make_node("Expand", ["s1", "shape"], ["big"]),  # (B, T, T, ..., T)
             helper.make_node("ReduceMax", ["big"], ["logits"], axes=list(range(2, POWER + 1)),
                              keepdims=0)]
    return graph_model(nodes, consts, name=MEMBER_FILE)


def test_a_window_past_the_arena_is_run_again_in_smaller_windows(monkeypatch):
    from idr_kit.convnet.members import MetapredictMember, one_hot
    from idr_kit.data.networks import ArenaFull
    from idr_kit.nn import residue_runs
    member = MetapredictMember(_power_network(), 1, "power.onnx")
    seq = "MKVL" * 2  # windows of 8 ask for 4 GiB, past the 1 GiB arena; windows of 4 fit

    def run():
        return residue_runs.run_residues(member.session, [len(seq)], lambda i: one_hot(seq),
                                         "power.onnx", len(seq), window=len(seq), context=1)
    monkeypatch.setattr(residue_runs, "MIN_WINDOW", len(seq))
    with pytest.raises(ArenaFull, match="power.onnx: the network failed: it asks for more"):
        run()
    monkeypatch.setattr(residue_runs, "MIN_WINDOW", 2)
    assert np.array_equal(run()[0], np.ones(len(seq), np.float32))
