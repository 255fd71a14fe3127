"""The BLAST v4 protein database reader (data/blastdb.py), on databases written here as
makeblastdb writes them (tests/blastdb_writer.py) and, when Debian's metastudent-data package
is installed, on its UniProt databases."""
from __future__ import annotations

import os
import stat
import struct
from pathlib import Path

import pytest

from idr_kit.data.blastdb import BlastDb
from idr_kit.data.errors import FileRefused, InputError

from blastdb_writer import defline_set, integer, sequence, tagged, visible, write_blastdb

PACKAGE = Path("/usr/share/metastudent-data/dataset_201401/BPO/goasp.fasta")
RECORDS = [("B0RED7|GO:0006200,GO:0006754", "MGSASRASLDSARRVLAELG"),
           ("sp|P12345|AATM_RABIT Aspartate aminotransferase", "MALLHSARVLSGVASAFHPGLAAAASARASSWWAHVEMGPPDPILGVTEAYKRDTNSKKM*"),
           ("C6DJ78", "XUBZOACDEFGHIKLMNPQRSTVWY")]


def db_of(tmp_path, records=RECORDS, name="db") -> Path:
    return write_blastdb(tmp_path / name, records)


def definite_tag(tag: int, value: bytes) -> bytes:
    return bytes([tag, len(value)]) + value


def read_all(base) -> list:
    with BlastDb(base) as db:
        return list(db)


def refused(base, *words):
    with pytest.raises((InputError, FileRefused)) as err:
        read_all(base)
    message = str(err.value)
    assert "\n" not in message and all(w in message for w in words), message
    return message


def test_round_trip(tmp_path):
    base = db_of(tmp_path)
    with BlastDb(str(base) + ".pin") as db:  # the database's name, or any of its files
        assert (db.count, db.title) == (3, "test.fasta")
        assert db.longest == max(len(s) for _, s in RECORDS)  # a stop is a code like any
        assert db.residues == sum(len(s) for _, s in RECORDS)
        got = list(db)
    assert [p.accession for p in got] == ["B0RED7", "P12345", "C6DJ78"]
    assert [p.seq for p in got] == [RECORDS[0][1], RECORDS[1][1][:-1], RECORDS[2][1]]
    assert [p.title for p in got] == [h for h, _ in RECORDS] and [p.oid for p in got] == [0, 1, 2]


def test_other_seqids_and_definite_lengths(tmp_path):
    swissprot = tagged(0xA1, sequence(tagged(0xA7, sequence(tagged(0xA0, visible("AATM_RABIT")),
                                                            tagged(0xA1, visible("P12345"))))))
    local = tagged(0xA1, sequence(tagged(0xA0, tagged(0xA1, visible("my_protein")))))
    gi = tagged(0xA1, sequence(tagged(0xAB, integer(129295))))
    # the same local id with definite lengths: BER allows both
    definite = definite_tag(0xA1, definite_tag(0x30, definite_tag(0xA0, definite_tag(
        0xA1, visible("dfn_local")))))
    base = db_of(tmp_path, [("desc", "MKV", swissprot), ("desc", "MKV", local),
                            ("desc", "MKV", gi), ("desc", "MKV", definite)])
    assert [p.accession for p in read_all(base)] == ["P12345", "my_protein", "129295",
                                                     "dfn_local"]


def test_codes_the_kit_does_not_read_are_left_out_and_counted(tmp_path):
    base = db_of(tmp_path, [("a", "MKJL"), ("b", "MK-L"), ("c", "MK*L"), ("d", "MKL*")])
    with BlastDb(base) as db:
        for _ in range(2):  # a second pass reads and counts the same
            assert [p.seq for p in db] == ["MKL"]
            assert db.left_out == {"J (Leu or Ile)": 1, "a gap": 1, "a stop before the end": 1}


def test_truncated_psq(tmp_path):
    base = db_of(tmp_path)
    psq = Path(f"{base}.psq")
    psq.write_bytes(psq.read_bytes()[:-10])
    refused(base, "db.psq", "bytes, where the index ends its records at byte")


def test_offsets_past_the_end(tmp_path):
    base = db_of(tmp_path)
    pin = Path(f"{base}.pin")
    data = bytearray(pin.read_bytes())
    data[-4:] = struct.pack(">I", 1 << 30)  # the last sequence offset
    pin.write_bytes(bytes(data))
    refused(base, "db.pin", "a sequence of")


@pytest.mark.parametrize("field, value, words", [(0, 3, "format version 3"),
                                                (4, 0, "database type 0")])
def test_wrong_version_or_type(tmp_path, field, value, words):
    base = db_of(tmp_path)
    pin = Path(f"{base}.pin")
    data = bytearray(pin.read_bytes())
    data[field:field + 4] = struct.pack(">i", value)
    pin.write_bytes(bytes(data))
    refused(base, "db.pin", words)


@pytest.mark.parametrize("count", [(1 << 31) - 1, 1 << 31, (1 << 32) - 1])
def test_a_small_index_claiming_billions_is_refused_before_reading(tmp_path, count):
    base = db_of(tmp_path)
    pin = Path(f"{base}.pin")
    data = bytearray(pin.read_bytes())
    at = data.index(b"AM") + 2  # the count follows the date
    data[at:at + 4] = struct.pack(">I", count)
    pin.write_bytes(bytes(data))
    refused(base, "db.pin", "sequences")


def test_truncated_pin_and_garbled_strings(tmp_path):
    base = db_of(tmp_path)
    pin = Path(f"{base}.pin")
    whole = pin.read_bytes()
    pin.write_bytes(whole[:30])
    refused(base, "db.pin", "a string of")
    pin.write_bytes(whole[:10])
    refused(base, "db.pin", "ends inside its header")
    pin.write_bytes(whole[:8] + struct.pack(">i", 1 << 30) + whole[12:])
    refused(base, "db.pin", "a string of 1,073,741,824 bytes")


def test_sequence_without_its_end_byte_or_with_a_foreign_code(tmp_path):
    base = db_of(tmp_path)
    psq = Path(f"{base}.psq")
    good = psq.read_bytes()
    psq.write_bytes(good[:21] + b"\x01" + good[22:])  # the 0 after the first sequence
    refused(base, "db.psq", "record 1 does not end in its 0 byte")
    psq.write_bytes(good[:3] + b"\xc8" + good[4:])
    refused(base, "db.psq", "record 1, position 3: byte 200")


@pytest.mark.parametrize("blob", [b"\x30\x80\x30\x80\xa0\x80\x1a\x7f", b"\x30\x05\x02\x01",
                                  b"\x30\x80" * 40 + b"\0\0" * 40, b"\x02\x01\x00",
                                  b"\x30\x80\x00\x00", b"\x30\x84\xff\xff\xff\xff"])
def test_garbled_header_names_file_and_record(tmp_path, blob):
    base = db_of(tmp_path, RECORDS[:1])
    first = defline_set(RECORDS[0][0], 0)
    blob = (blob + b"\0" * len(first))[:len(first)]  # the index's header size is kept
    Path(f"{base}.phr").write_bytes(blob)
    refused(base, "db.phr", "header of record 1")


@pytest.mark.parametrize("title", ["", "|GO:0006200", "x" * 201])
def test_a_record_without_a_usable_accession_is_refused(tmp_path, title):
    refused(db_of(tmp_path, [(title, "MKV")]), "db.phr", "header of record 1", "no accession")


def test_missing_link_fifo_and_device_are_refused(tmp_path):
    base = db_of(tmp_path)
    phr = Path(f"{base}.phr")
    phr.rename(tmp_path / "elsewhere.phr")
    refused(base, "db.phr", "missing")
    phr.symlink_to(tmp_path / "elsewhere.phr")
    refused(base, "db.phr", "symbolic link")
    phr.unlink()
    os.mkfifo(phr)
    refused(base, "db.phr", "not a regular file")  # and never hangs on the pipe
    phr.unlink()
    os.mknod(phr, stat.S_IFCHR | 0o600, os.makedev(1, 5))  # /dev/zero's numbers, in tmp_path
    refused(base, "db.phr", "not a regular file")


def test_empty_database(tmp_path):
    base = db_of(tmp_path, [])
    with BlastDb(base) as db:
        assert (db.count, db.residues, list(db)) == (0, 0, [])


@pytest.mark.skipif(not Path(f"{PACKAGE}.pin").is_file(),
                    reason="metastudent-data is not installed (apt-get install metastudent-data)")
def test_the_real_package():
    with BlastDb(PACKAGE) as db:
        assert (db.count, db.residues, db.longest) == (486_000, 178_226_192, 35_213)
        first = [p for p, _ in zip(db, range(100))]
    assert [p.accession for p in first[:3]] == ["B0RED7", "C6DJ78", "Q1MM74"]
    assert first[0].seq.startswith("MGSASRASLDSARRVLAELG") and len(first[0].seq) == 263
    assert all(p.title.startswith(p.accession + "|GO:") for p in first)


@pytest.mark.skipif(not Path(f"{PACKAGE}.pin").is_file(),
                    reason="metastudent-data is not installed (apt-get install metastudent-data)")
def test_writer_matches_the_package_byte_for_byte(tmp_path):
    with BlastDb(PACKAGE) as db:  # 300: ordinal ids of one and of two bytes, long titles
        first = [(p.title, p.seq) for p, _ in zip(db, range(300))]
    base = write_blastdb(tmp_path / "first", first, title="dataset_201401/BPO/goasp.fasta")
    for ext in (".phr", ".psq"):
        written = Path(f"{base}{ext}").read_bytes()
        with open(f"{PACKAGE}{ext}", "rb") as real:
            assert real.read(len(written)) == written
    with open(f"{PACKAGE}.pin", "rb") as real:
        assert real.read(72) == Path(f"{base}.pin").read_bytes()[:72]  # up to the counts
