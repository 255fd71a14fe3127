"""Readers and writers of every file format: round trips, error messages, atomicity, real data."""
import json
import pickle

import numpy as np
import pytest

import idr_kit.data.competition  # noqa: F401 (data.competition below)
import idr_kit.data.fasta  # noqa: F401
from idr_kit import data
from idr_kit.data.competition import read_pickle, read_submission, write_submission
from idr_kit.data.disprot import is_disorder_region, read_disprot_json
from idr_kit.data.errors import InputError
from idr_kit.data.caid import read_caid
from idr_kit.data.fasta import read_fasta, write_caid
from idr_kit.data.load import PredictionSet, read_predictions, read_proteins
from idr_kit.data.probs import read_npz, validate_binary, validate_probs, write_npz

IDS = ["P1", "sp|Q9|NAME_HUMAN"]
SEQS = ["MKTAY", "ACDEFGHIKL"]
PROBS = [np.array([0.0, 0.25, 0.5, 0.999, 1.0], dtype=np.float32),
         np.linspace(0, 1, 10).astype(np.float32)]
BINARY = [np.array([0, 0, 1, 1, 1], dtype=np.uint8), np.array([0, 1] * 5, dtype=np.uint8)]


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


# --- FASTA ---------------------------------------------------------------------------------

def test_caid3_fasta_gives_labels_and_mask(tmp_path):
    path = write(tmp_path, "ref.fasta", ">DP1\nMKTAY\n01-10\n\n>DP2 extra words\nACD\n---\n")
    first, second = read_fasta(path)
    assert (first.id, first.seq, second.id) == ("DP1", "MKTAY", "DP2")
    assert first.labels.tolist() == [0, 1, 0, 1, 0]
    assert first.mask.tolist() == [True, True, False, True, True]
    assert first.label_string() == "01-10"
    assert not second.mask.any()


def test_plain_fasta_keeps_the_whole_first_token_and_joins_lines(tmp_path):
    path = write(tmp_path, "up.fa", ">sp|P12345|NAME_HUMAN Some protein OS=Homo\nmkt\nAYX\n\n"
                                    ">tr|Q1|B one\nACDEFG*\n>two\nUBZO\n")
    proteins = read_fasta(path)
    assert [p.id for p in proteins] == ["sp|P12345|NAME_HUMAN", "tr|Q1|B", "two"]
    assert [p.seq for p in proteins] == ["MKTAYX", "ACDEFG", "UBZO"]
    assert not any(p.has_labels for p in proteins)


def test_two_line_plain_record_is_not_mistaken_for_caid(tmp_path):
    path = write(tmp_path, "x.fasta", ">a\nMKTA\nYYWW\n>b\nMK\n")
    assert [p.seq for p in read_fasta(path)] == ["MKTAYYWW", "MK"]


FASTA_ERRORS = {
    "invalid residue": (">P1\nMKTA\n>P2\nMKJT\n", ["P2", "position 3", "invalid residue 'J'"]),
    "empty sequence": (">P1\n\n>P2\nMK\n", ["protein P1", "empty sequence"]),
    "wrong-length labels": (">P1\nMKT\n0101\n", ["protein P1", "length 4", "has 3"]),
    "duplicate ids": (">P1\nMK\n>P2\nMK\n>P1 again\nMK\n", ["protein P1", "duplicate"]),
    "stray label char": (">P1\nMKTAY\n01x10\n", ["protein P1", "position 3", "invalid label 'x'"]),
    "not FASTA": ("id,sequence\nP1,MKT\n", ["not a FASTA file"]),
    "text before header": ("hello\n>P1\nMK\n", ["not a FASTA file", "'hello'"]),
    "label line missing": (">P1\nMKT\n010\n>P2\nMKT\n", ["protein P2", "CAID 3-line"]),
    "labels on a plain file": (">P1\nMKT\n>P2\nMKT\n010\n", ["protein P2", "plain FASTA"]),
}


@pytest.mark.parametrize("case", sorted(FASTA_ERRORS))
def test_fasta_errors_name_file_protein_and_position(tmp_path, case):
    text, expected = FASTA_ERRORS[case]
    path = write(tmp_path, "bad.fasta", text)
    with pytest.raises(InputError) as err:
        read_fasta(path)
    for part in [str(path)] + expected:
        assert part in str(err.value)


def test_binary_file_is_refused_as_fasta(tmp_path):
    path = tmp_path / "junk.fasta"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe")
    with pytest.raises(InputError, match="not a text file"):
        read_fasta(path)


# --- CAID predictions ----------------------------------------------------------------------

def test_caid_round_trip(tmp_path):
    path = tmp_path / "pred.caid"
    write_caid(path, IDS, SEQS, PROBS, BINARY)
    assert path.read_text().splitlines()[:3] == [">P1", "1\tM\t0.000\t0", "2\tK\t0.250\t0"]
    read = read_caid(path)
    scores, binary, seqs = read.scores, read.binary, read.seqs
    assert seqs == dict(zip(IDS, SEQS)) and not read.unreadable and not read.notes
    for pid, prob, call in zip(IDS, PROBS, BINARY):
        assert scores[pid].dtype == np.float32 and binary[pid].dtype == np.uint8
        np.testing.assert_allclose(scores[pid], prob, atol=5e-4)
        np.testing.assert_array_equal(binary[pid], call)


def test_caid_writer_takes_id_maps_too(tmp_path):
    path = tmp_path / "pred.caid"
    write_caid(path, IDS, SEQS, dict(zip(IDS, PROBS)), dict(zip(IDS, BINARY)))
    np.testing.assert_array_equal(read_caid(path).binary["P1"], BINARY[0])


def test_caid_columns_are_read_as_caid_reads_them(tmp_path):
    # P1: space separated, which CAID drops; P2: states only (an empty score column: the
    # states are the scores); P3: positions that do not run 1, 2, 3 and a residue that is no
    # residue, neither read by CAID
    text = (">P1\n1 M 0.9\n2 K 0.1\n>P2\n1\tA\t\t1\n2\tC\t\t0\n3\tD\t\t1\n"
            ">P3\n5\tM\t0.5\t1\n9\t7\t0.25\t0\n")
    read = read_caid(write(tmp_path, "x.caid", text))
    assert set(read.scores) == {"P2", "P3"} and set(read.binary) == {"P2", "P3"}
    assert "tab-separated" in read.unreadable["P1"] and read.scores_from_states == ["P2"]
    assert read.binary["P2"].tolist() == [1, 0, 1] and read.seqs["P2"] == "ACD"
    np.testing.assert_allclose(read.scores["P3"], [0.5, 0.25])


UNREADABLE = {  # one protein left out, with why; the others read
    "score partly empty": (">P1\n1\tM\t0.5\t1\n2\tK\t\t1\n", ["score", "row 2"]),
    "bad score": (">P1\n1\tM\t0.5\t1\n2\tK\tabc\t1\n", ["'abc'", "row 2"]),
    "nan score": (">P1\n1\tM\tnan\t1\n2\tK\t0.5\t1\n", ["'nan'", "finite"]),
    "bad binary": (">P1\n1\tM\t0.5\t1\n2\tK\t0.5\t2\n", ["2.0", "row 2"]),
    "given twice": (">P1\n1\tM\t0.5\t1\n>P1\n1\tM\t0.5\t1\n", ["twice"]),
    "no rows": (">P1\n>P9\n1\tM\t0.5\t1\n", ["no rows"]),
    "five columns": (">P1\n1\tM\t0.5\t1\tx\n", ["5 tab-separated"]),
}


@pytest.mark.parametrize("case", sorted(UNREADABLE))
def test_a_caid_protein_that_cannot_be_read_is_left_out_with_why(tmp_path, case):
    text, expected = UNREADABLE[case]
    read = read_caid(write(tmp_path, "bad.caid", text + ">P2\n1\tM\t0.5\t1\n"))
    assert "P1" in read.unreadable and "P1" not in read.scores and "P2" in read.scores
    for part in expected:
        assert part in read.unreadable["P1"], read.unreadable["P1"]


def test_a_file_that_is_not_caid_is_one_error(tmp_path):
    for text in ("1\tM\t0.5\t1\n", "", "text\n>P1\n1\tM\t0.5\n"):
        path = write(tmp_path, "bad.caid", text)
        with pytest.raises(InputError, match=f"{path}.*not a CAID prediction file"):
            read_caid(path)


def test_caid_writer_refuses_ids_that_cannot_be_headers(tmp_path):
    with pytest.raises(ValueError, match="one word"):
        write_caid(tmp_path / "x.caid", ["P 1"], ["MK"], [np.zeros(2)], [np.zeros(2)])


# --- competition pickle and submission -----------------------------------------------------

def dump(tmp_path, obj, name="train.pkl"):
    path = tmp_path / name
    path.write_bytes(pickle.dumps(obj))
    return path


def test_pickle_with_and_without_labels(tmp_path):
    items = [{"id": "A1", "sequence": "mkta", "label": np.array([0, 1, 1, 0])},
             {"id": "A2", "sequence": "ACDX"}]
    first, second = read_pickle(dump(tmp_path, items))
    assert (first.seq, first.labels.tolist(), first.mask.all()) == ("MKTA", [0, 1, 1, 0], True)
    assert second.id == "A2" and not second.has_labels


PICKLE_ERRORS = {
    "not a list": ({"id": "A1", "sequence": "MK"}, ["expected a list", "dict"]),
    "item not a dict": ([{"id": "A1", "sequence": "MK"}, "MKT"], ["item [1]", "str"]),
    "no sequence": ([{"id": "A1"}], ["item [0]", "'A1'", "'sequence'"]),
    "label length": ([{"id": "A1", "sequence": "MK", "label": np.array([0, 1, 1])}],
                     ["protein A1", "length 3"]),
    "label value": ([{"id": "A1", "sequence": "MKT", "label": np.array([0, 2, 1])}],
                    ["protein A1", "position 2"]),
    "bad residue": ([{"id": "A1", "sequence": "MK1"}], ["protein A1", "position 3"]),
    "duplicate ids": ([{"id": "A1", "sequence": "MK"}, {"id": "A1", "sequence": "MK"}],
                      ["protein A1", "duplicate"]),
}


@pytest.mark.parametrize("case", sorted(PICKLE_ERRORS))
def test_pickle_errors_say_what_is_wrong(tmp_path, case):
    obj, expected = PICKLE_ERRORS[case]
    path = dump(tmp_path, obj)
    with pytest.raises(InputError) as err:
        read_pickle(path)
    for part in [str(path)] + expected:
        assert part in str(err.value)


@pytest.mark.parametrize("text", ["just text\n", "garbage\n"])
def test_text_file_is_not_a_pickle(tmp_path, text):
    # "garbage" starts with the protocol-0 opcode 'g' and fails with a ValueError inside pickle.
    with pytest.raises(InputError, match="x.pkl: not a readable pickle"):
        read_pickle(write(tmp_path, "x.pkl", text))


def test_submission_round_trip(tmp_path):
    path = tmp_path / "submit.csv"
    write_submission(path, IDS, SEQS, [b.astype(bool) for b in BINARY])
    assert path.read_text().splitlines() == ["proteinID,sequence,IDRs", "P1,MKTAY,00111",
                                             "sp|Q9|NAME_HUMAN,ACDEFGHIKL,0101010101"]
    binary, seqs, problems = read_submission(path)
    assert seqs == dict(zip(IDS, SEQS)) and problems == {}
    assert all(np.array_equal(binary[pid], call) for pid, call in zip(IDS, BINARY))


def test_a_bad_submission_row_is_left_out_and_said_why(tmp_path):
    path = write(tmp_path, "s.csv", "proteinID,sequence,IDRs\nP1,MKT,01\nP2,MKT,0x1\n"
                                    "P3,MK,01\n")
    binary, seqs, problems = read_submission(path)
    assert list(binary) == list(seqs) == ["P3"]
    assert "has 2 characters" in problems["P1"] and "position 2" in problems["P2"]


@pytest.mark.parametrize("text, expected", [
    ("id,seq\nP1,MK\n", "lacks proteinID"),
    ("proteinID,sequence,IDRs\nP1,MK,01\nP1,MK,01\n", "duplicate"),
])
def test_submission_reader_errors(tmp_path, text, expected):
    path = write(tmp_path, "s.csv", text)
    with pytest.raises(InputError, match=expected) as err:
        read_submission(path)
    assert str(path) in str(err.value)


# --- probabilities (.npz) and the validator ------------------------------------------------

def test_npz_round_trip_keeps_the_name_and_float32(tmp_path):
    path = tmp_path / "probs.out"  # no .npz: np.savez would have renamed it
    probs = {**dict(zip(IDS, PROBS)), "file": np.array([0.5], dtype=np.float64)}
    write_npz(path, probs)
    back = read_npz(path)
    assert sorted(back) == sorted(probs) and all(v.dtype == np.float32 for v in back.values())
    assert all(np.array_equal(back[pid], np.float32(probs[pid])) for pid in probs)


BAD_PROBS = {
    "NaN": ([np.array([0.1, np.nan, 0.2, 0, 0]), PROBS[1]], "P1: position 2"),
    "above 1": ([PROBS[0], np.full(10, 1.5)], "sp|Q9|NAME_HUMAN: position 1"),
    "below 0": ([np.array([0, 0, 0, 0, -0.1]), PROBS[1]], "P1: position 5"),
    "wrong length": ([PROBS[0][:4], PROBS[1]], "P1: 4 values for a sequence of length 5"),
    "2-D": ([PROBS[0][None, :], PROBS[1]], "P1: expected a flat array"),
    "count": ([PROBS[0]], "counts differ"),
}


@pytest.mark.parametrize("case", sorted(BAD_PROBS))
def test_validator_names_the_protein(case):
    probs, expected = BAD_PROBS[case]
    with pytest.raises(ValueError, match=expected.replace("|", r"\|")):
        validate_probs(IDS, SEQS, probs)


def test_validator_refuses_duplicate_ids_and_non_binary_calls():
    with pytest.raises(ValueError, match="P1: duplicate id"):
        validate_probs(["P1", "P1"], [5, 5], [PROBS[0], PROBS[0]])
    with pytest.raises(ValueError, match="P1: position 3: value 0.5 is not 0 or 1"):
        validate_binary(["P1"], ["MKT"], [np.array([0, 1, 0.5])])


def writer_calls(tmp_path, probs, binary, ids=IDS, seqs=SEQS):
    """Each writer, called on the same (possibly bad) predictions."""
    return {
        "caid": lambda: write_caid(tmp_path / "out", ids, seqs, probs, binary),
        "npz": lambda: write_npz(tmp_path / "out", dict(zip(ids, probs))),
        "csv": lambda: write_submission(tmp_path / "out", ids, seqs, binary),
    }


# An .npz carries no sequences (so no length to check) and takes a dict (so no duplicate ids).
WRITER_CASES = [(writer, case) for writer in ("caid", "npz", "csv")
                for case in ("nan", "range", "length", "duplicate")
                if writer != "npz" or case in ("nan", "range")]


@pytest.mark.parametrize("writer, case", WRITER_CASES)
def test_writers_refuse_bad_input_and_leave_the_old_file(tmp_path, writer, case):
    probs, binary, ids = list(PROBS), list(BINARY), list(IDS)
    if case == "nan":
        probs[0] = np.array([0.1, np.nan, 0.2, 0, 0])
        binary[0] = np.array([0, 1, 0, 0, 2])  # the submission only carries 0/1 calls
    elif case == "range":
        probs[1], binary[1] = probs[1] + 0.5, binary[1] * 3
    elif case == "length":
        probs[0], binary[0] = probs[0][:3], binary[0][:3]
    else:
        ids = ["P1", "P1"]
        probs[1], binary[1] = probs[0], binary[0]
    (tmp_path / "out").write_text("old")
    with pytest.raises(ValueError):
        writer_calls(tmp_path, probs, binary, ids)[writer]()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    assert (tmp_path / "out").read_text() == "old"


class Midway(RuntimeError):
    pass


def fail_on_second_call(real):
    calls = []

    def wrapper(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise Midway("disk full, say")
        return real(*args, **kwargs)
    return wrapper


@pytest.mark.parametrize("writer, module, name", [
    ("caid", data.fasta, "caid_record"),
    ("npz", np.lib.format, "write_array"),
    ("csv", data.competition, "_bits"),
])
def test_writer_failing_midway_leaves_the_old_file(tmp_path, monkeypatch, writer, module, name):
    monkeypatch.setattr(module, name, fail_on_second_call(getattr(module, name)))
    (tmp_path / "out").write_text("old")
    with pytest.raises(Midway):
        writer_calls(tmp_path, PROBS, BINARY)[writer]()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    assert (tmp_path / "out").read_text() == "old"


# --- DisProt JSON --------------------------------------------------------------------------

def region(start, end, namespace, name, **extra):
    return {"start": start, "end": end, "term_namespace": namespace, "term_name": name, **extra}


DISPROT_ENTRIES = [
    {"disprot_id": "DP00001", "acc": "P00001", "sequence": "MKTAYIAKQR",
     "regions": [region(1, 2, "Structural state", "disorder"),
                 region(4, 4, "Structural transition", "disorder to order"),
                 region(6, 7, "Structural state", "order"),
                 region(8, 8, "Interaction partner", "protein binding"),
                 region(10, 10, "Disorder function", "flexible linker")]},
    {"disprot_id": "DP00002", "acc": "P00002", "sequence": "ACDEF", "regions": []},
]


def test_disprot_json_labels_only_disorder_regions(tmp_path):
    path = write(tmp_path, "disprot.json", json.dumps({"data": DISPROT_ENTRIES, "size": 2}))
    first, second = read_disprot_json(path)
    assert (first.id, first.seq) == ("DP00001", "MKTAYIAKQR")
    assert first.labels.tolist() == [1, 1, 0, 1, 0, 0, 0, 0, 0, 1] and first.mask.all()
    assert second.labels.tolist() == [0] * 5


def test_disprot_bare_list_and_one_row_per_region(tmp_path):
    rows = [{**DISPROT_ENTRIES[1], "regions": region(2, 3, "Structural state", "disorder")},
            {**DISPROT_ENTRIES[1], "regions": region(5, 5, "Structural state", "molten globule")}]
    (protein,) = read_disprot_json(write(tmp_path, "rows.json", json.dumps(rows)))
    assert protein.labels.tolist() == [0, 1, 1, 0, 1]


@pytest.mark.parametrize("payload, expected", [
    ({"data": [{**DISPROT_ENTRIES[1], "regions": [region(4, 9, "Structural state", "disorder",
                                                         region_id="DP00002r003")]}]},
     ["protein DP00002", "DP00002r003", "4-9", "length 5"]),
    ({"data": DISPROT_ENTRIES[:1], "size": 2}, ["1 of the 2 entries", "paged"]),
    ({"entries": []}, ["not a DisProt release"]),
    ([{"acc": "P1"}], ["entry [0]", "disprot_id"]),
])
def test_disprot_errors(tmp_path, payload, expected):
    path = write(tmp_path, "d.json", json.dumps(payload))
    with pytest.raises(InputError) as err:
        read_disprot_json(path)
    for part in [str(path)] + expected:
        assert part in str(err.value)


@pytest.mark.parametrize("namespace, name, counts", [
    ("Structural state", "disorder", True), ("Structural state", "pre-molten globule", True),
    ("Structural state", "order", False), ("Structural transition", "order to disorder", True),
    ("Disorder function", "entropic chain", True), ("Interaction partner", "DNA binding", False),
    ("", "disorder", True), ("", "order", False),
])
def test_which_regions_denote_disorder(namespace, name, counts):
    assert is_disorder_region({"term_namespace": namespace, "term_name": name}) is counts


# --- dispatch ------------------------------------------------------------------------------

def test_read_proteins_dispatches_by_extension_and_content(tmp_path):
    fasta = ">DP1\nMKT\n011\n"
    assert read_proteins(write(tmp_path, "a.caid3", fasta))[0].id == "DP1"
    assert read_proteins(write(tmp_path, "no_extension", "\n" + fasta))[0].id == "DP1"
    assert read_proteins(dump(tmp_path, [{"id": "A", "sequence": "MK"}]))[0].id == "A"
    assert read_proteins(dump(tmp_path, [{"id": "B", "sequence": "MK"}], "b.bin"))[0].id == "B"
    path = write(tmp_path, "d.json", json.dumps(DISPROT_ENTRIES))
    assert [p.id for p in read_proteins(path)] == ["DP00001", "DP00002"]


def test_read_proteins_explains_unknown_and_missing_files(tmp_path):
    with pytest.raises(InputError, match="unknown protein file format; accepted: .*pickle"):
        read_proteins(write(tmp_path, "a.txt", "id,seq\n"))
    with pytest.raises(InputError, match="file not found"):
        read_proteins(tmp_path / "missing.fasta")


def test_read_predictions_by_extension(tmp_path):
    write_caid(tmp_path / "p.caid", IDS, SEQS, PROBS, BINARY)
    write_npz(tmp_path / "p.npz", dict(zip(IDS, PROBS)))
    write_submission(tmp_path / "p.csv", IDS, SEQS, BINARY)
    caid, npz, csv = (read_predictions(tmp_path / f"p.{ext}") for ext in ("caid", "npz", "csv"))
    assert isinstance(caid, PredictionSet) and set(caid.scores) == set(caid.binary) == set(IDS)
    assert npz.binary is None and np.array_equal(npz.scores["P1"], PROBS[0])
    assert csv.scores is None and np.array_equal(csv.binary["P1"], BINARY[0])
    only_scores = read_predictions(write(tmp_path, "s.caid", ">P1\n1\tM\t0.5\n"))
    assert only_scores.binary is None and only_scores.scores["P1"].tolist() == [0.5]
    with pytest.raises(InputError, match="accepted: CAID"):
        read_predictions(write(tmp_path, "p.tsv", ""))


# --- the real shared files -----------------------------------------------------------------

@pytest.mark.parametrize("name, proteins, residues, unassessed", [
    ("train.pkl", 1923, 906_640, 0.0),
    ("train.fasta", 1923, 906_640, 0.0),
    ("train_pdb_style.fasta", 1641, 760_132, 0.31),
    ("valid.fasta", 302, 236_542, 0.52),
])
def test_real_files(shared_data, name, proteins, residues, unassessed):
    read = read_pickle if name.endswith(".pkl") else read_fasta
    loaded = read(shared_data / name)
    assert len(loaded) == proteins and sum(map(len, loaded)) == residues
    assert all(p.has_labels for p in loaded)
    n_unassessed = sum(int((~p.mask).sum()) for p in loaded)
    assert n_unassessed / residues == pytest.approx(unassessed, abs=0.005)


def test_train_pickle_and_fasta_agree(shared_data):
    from_pickle = {p.id: p for p in read_proteins(shared_data / "train.pkl")}
    from_fasta = read_proteins(shared_data / "train.fasta")
    assert sorted(from_pickle) == sorted(p.id for p in from_fasta)
    for p in from_fasta:
        q = from_pickle[p.id]
        assert q.seq == p.seq and q.label_string() == p.label_string()
