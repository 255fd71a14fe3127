"""Compressed inputs (data/compressed.py): a gzipped, bzip2'd or xz'd file is read at every
door as the plain file it holds, byte for byte the same outputs; a damaged archive is one
line naming the file, exit 2, nothing written."""
from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import pickle
import sys

import pytest

import idr_kit
from idr_kit import submit
from idr_kit.commands import merge, predict, score
from idr_kit.data import compressed
from idr_kit.data.errors import InputError
from idr_kit.data.load import read_proteins
from idr_kit.run.stream import Chunking, Parts, Source, scan_sources

COMPRESS = {".gz": gzip.compress, ".bz2": bz2.compress, ".xz": lzma.compress}
OUTPUTS = ("x.json", "x.npz", "x.caid")


@pytest.fixture(scope="module")
def plain(tmp_path_factory, shared_data):
    """Eight labelled proteins of valid.fasta (CAID 3-line) and the same without labels,
    as UniProt writes headers."""
    folder = tmp_path_factory.mktemp("plain")
    lines = (shared_data / "valid.fasta").read_text().splitlines()[:3 * 8]
    (folder / "valid.fasta").write_text("\n".join(lines) + "\n")
    records = [f">sp|{line[1:]}|NAME_HUMAN Some protein OS=Homo sapiens\n{seq}\n"
               for line, seq in zip(lines[::3], lines[1::3])]
    (folder / "proteome.fasta").write_text("".join(records))
    return folder


def packed(path, suffix, to):
    """``path``'s bytes compressed by ``suffix``'s compression, as ``to``."""
    to.write_bytes(COMPRESS[suffix](path.read_bytes()))
    return to


def predicted(tmp_path, name, *files):
    out = tmp_path / name
    out.mkdir()
    for file in OUTPUTS:
        assert predict.main(["--model", "fast", *map(str, files), "-o", str(out / file)]) == 0
    return {file: (out / file).read_bytes() for file in OUTPUTS}


@pytest.mark.parametrize("suffix", list(COMPRESS))
def test_idr_predict_reads_a_compressed_proteome_as_the_plain_file(plain, suffix, tmp_path):
    source = plain / "proteome.fasta"
    zipped = packed(source, suffix, tmp_path / f"proteome.fasta{suffix}")
    assert predicted(tmp_path, "zipped", zipped) == predicted(tmp_path, "plain", source)


def test_the_bytes_decide_not_the_name(plain, tmp_path):
    """gzip bytes named .fasta, or with no extension at all, are read as gzip; two gzip
    members one after the other (``cat a.gz b.gz``) are one file, read whole."""
    data = (plain / "proteome.fasta").read_bytes()
    cut = data.index(b">", len(data) // 2)
    (tmp_path / "a.fasta").write_bytes(gzip.compress(data))
    (tmp_path / "b").write_bytes(gzip.compress(data[:cut]) + gzip.compress(data[cut:]))
    want = read_proteins(plain / "proteome.fasta")
    for name in ("a.fasta", "b"):
        got = read_proteins(tmp_path / name)
        assert [(p.id, p.seq) for p in got] == [(p.id, p.seq) for p in want]


def test_gzipped_stdin_is_read_as_stdin(plain, tmp_path, monkeypatch):
    data = (plain / "proteome.fasta").read_bytes()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(gzip.compress(data))))
    assert predict.main(["--model", "fast", "-", "-o", str(tmp_path / "in.caid")]) == 0
    assert predict.main(["--model", "fast", str(plain / "proteome.fasta"), "-o",
                         str(tmp_path / "plain.caid")]) == 0
    assert (tmp_path / "in.caid").read_bytes() == (tmp_path / "plain.caid").read_bytes()


def test_submit_and_the_api_read_a_gzipped_test_file(plain, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    zipped = packed(plain / "valid.fasta", ".gz", tmp_path / "valid.fasta.gz")
    for test, out in ((plain / "valid.fasta", "plain"), (zipped, "zipped")):
        assert submit.main(["--model", "fast", "--test", str(test), "--out", out]) == 0
    for name in ("submit.csv", "predictions.caid", "probs.npz", "scores.json"):
        assert (tmp_path / "zipped" / name).read_bytes() == \
            (tmp_path / "plain" / name).read_bytes()
    predictor = idr_kit.load("fast")
    hits = [[(h.id, h.probs.tobytes()) for h in predictor.predict_fasta(path)]
            for path in (plain / "valid.fasta", zipped)]
    assert hits[0] == hits[1] and len(hits[0]) == 8
    idr_kit.predict_file(zipped, tmp_path / "api", "fast")
    assert (tmp_path / "api" / "predictions.caid").read_bytes() == \
        (tmp_path / "plain" / "predictions.caid").read_bytes()


def test_a_gzipped_run_resumes_from_its_parts(plain, tmp_path, monkeypatch, capsys):
    """The plan names the file as stored (the sha256 of its compressed bytes): a run killed
    after 3 chunks is resumed from its parts, and writes what one run writes."""
    monkeypatch.chdir(tmp_path)
    zipped = packed(plain / "valid.fasta", ".gz", tmp_path / "valid.fasta.gz")
    args = ["--model", "fast", "--test", str(zipped), "--chunk-residues", "500", "--out"]
    assert submit.main(args + ["whole"]) == 0
    save, saved = Parts.save, []

    def killed_after_three(self, *chunk):
        if len(saved) == 3:
            raise KeyboardInterrupt
        saved.append(save(self, *chunk))
    monkeypatch.setattr(Parts, "save", killed_after_three)
    assert submit.main(args + ["run"]) == 130  # interrupted, as by Ctrl-C
    monkeypatch.setattr(Parts, "save", save)
    capsys.readouterr()
    assert submit.main(args + ["run"]) == 0
    assert "resuming: 3 of 6 chunks" in capsys.readouterr().err
    for name in ("predictions.caid", "probs.npz", "submit.csv"):
        assert (tmp_path / "run" / name).read_bytes() == (tmp_path / "whole" / name).read_bytes()


def test_shards_of_a_compressed_file_merge_into_the_plain_files_run(plain, tmp_path,
                                                                    monkeypatch):
    """submit.py --shard I/N over an .xz file, then idr-merge: one run's bytes; the scan's
    digest is that of the file as stored (what a changed file changes)."""
    monkeypatch.chdir(tmp_path)
    zipped = packed(plain / "valid.fasta", ".xz", tmp_path / "valid.fasta.xz")
    args = ["--model", "fast", "--chunk-residues", "500", "--test"]
    assert submit.main(args + [str(plain / "valid.fasta"), "--out", "whole"]) == 0
    for index in (1, 2):
        assert submit.main(args + [str(zipped), "--shard", f"{index}/2", "--out",
                                   f"shard{index}"]) == 0
    assert merge.main(["shard1", "shard2", "--out", "merged"]) == 0
    for name in ("predictions.caid", "probs.npz", "submit.csv"):
        assert (tmp_path / "merged" / name).read_bytes() == \
            (tmp_path / "whole" / name).read_bytes()
    counts, digests = scan_sources([Source.of(zipped)], Chunking(residues=500))
    assert counts.proteins == 8 and digests[0] == compressed_digest(zipped)


def compressed_digest(path):
    import hashlib
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_training_and_reference_files_may_be_compressed(plain, shared_data, tmp_path, capsys):
    """--train reads through read_proteins (a .pkl.gz, a .json.bz2); idr-score --ref too."""
    items = pickle.loads((shared_data / "train.pkl").read_bytes())[:5]
    (tmp_path / "train.pkl.gz").write_bytes(gzip.compress(pickle.dumps(items)))
    got = read_proteins(tmp_path / "train.pkl.gz")
    assert [(p.id, p.seq, p.label_string()) for p in got] == \
        [(i["id"], i["sequence"], "".join(map(str, i["label"]))) for i in items]
    entries = [{"disprot_id": "DP1", "sequence": "MKVLAAG", "regions": [
        {"start": 2, "end": 4, "term_namespace": "Structural state",
         "term_name": "disorder"}]}]
    (tmp_path / "d.json.bz2").write_bytes(bz2.compress(json.dumps({"data": entries}).encode()))
    assert [(p.id, p.label_string()) for p in read_proteins(tmp_path / "d.json.bz2")] == \
        [("DP1", "0111000")]
    ref = packed(plain / "valid.fasta", ".gz", tmp_path / "ref.fasta.gz")
    assert predict.main(["--model", "fast", str(ref), "-o", str(tmp_path / "p.caid")]) == 0
    reports = []
    for path in (plain / "valid.fasta", ref):
        capsys.readouterr()
        assert score.main(["--ref", str(path), "--pred", str(tmp_path / "p.caid"),
                           "--json"]) == 0
        reports.append(capsys.readouterr().out)
    assert reports[0] == reports[1]


def test_a_compressed_pickle_is_still_unpickled_restricted(tmp_path):
    (tmp_path / "evil.pkl.gz").write_bytes(gzip.compress(
        b"cos\nsystem\n(S'echo hi'\ntR."))
    with pytest.raises(InputError, match="refused to load os.system"):
        read_proteins(tmp_path / "evil.pkl.gz")


def _damaged(plain):
    data = (plain / "proteome.fasta").read_bytes()
    good = gzip.compress(data)
    crc = good[:-8] + bytes([good[-8] ^ 1]) + good[-7:]
    return {
        "truncated": (good[:len(good) // 2], "truncated"),
        "bad_crc": (crc, "damaged"),
        "garbage_after": (good + b"not gzip", "not another gzip member"),
        "not_gzip": (data, "named .gz but not gzip data"),
        "empty_file": (b"", "named .gz but not gzip data (it is empty)"),
        "empty_inside": (gzip.compress(b""), "no '>' header"),
        "bz2_truncated": (bz2.compress(data)[:-10], "truncated"),
        "xz_bad_check": (lzma.compress(data)[:-20] + bytes(8) + lzma.compress(data)[-12:],
                         "damaged"),
    }


@pytest.mark.parametrize("case", ["truncated", "bad_crc", "garbage_after", "not_gzip",
                                  "empty_file", "empty_inside", "bz2_truncated", "xz_bad_check"])
def test_a_damaged_archive_is_one_line_naming_the_file(plain, case, tmp_path, capsys):
    data, says = _damaged(plain)[case]
    suffix = case.split("_")[0] if case.startswith(("bz2", "xz")) else "gz"
    path = tmp_path / f"proteome.fasta.{suffix}"
    path.write_bytes(data)
    out = tmp_path / "x.caid"
    assert predict.main(["--model", "fast", str(path), "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len([line for line in err if "error" in line]) == 1
    line = next(line for line in err if "error" in line)
    assert str(path) in line and says in line.split(str(path))[-1] and not out.exists()


def test_a_decompression_bomb_is_refused_not_held(tmp_path, monkeypatch):
    monkeypatch.setattr(compressed, "FREE_BYTES", 1 << 16)
    (tmp_path / "bomb.fasta.bz2").write_bytes(bz2.compress(b">a\n" + b"A" * (8 << 20)))
    with pytest.raises(InputError, match="decompression bomb"):
        read_proteins(tmp_path / "bomb.fasta.bz2")


class _Trickle(io.RawIOBase):
    """A pipe that gives one byte a read (what a slow writer gives): no peek, no seek."""

    def __init__(self, data: bytes):
        self.data = data

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        given, self.data = self.data[:1], self.data[1:]
        buffer[:len(given)] = given
        return len(given)


@pytest.mark.parametrize("data", [b">a\nMKV\n", gzip.compress(b">a\nMKV\n", mtime=0), b">", b""],
                         ids=["fasta", "gzip", "header-only", "empty"])
def test_a_pipe_that_gives_a_byte_at_a_time_is_read_whole(data):
    """The magic is looked for in the first bytes of a pipe however it gives them, and those
    bytes are read again as the stream's start."""
    handle = compressed.decompressed(_Trickle(data), "stdin")
    assert handle.read() == (gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data)
