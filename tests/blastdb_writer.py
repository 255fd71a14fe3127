"""A small writer of BLAST version-4 protein databases, byte for byte as makeblastdb writes one
without ``-parse_seqids`` (as Debian's metastudent-data package was built), for the reader's
tests.

    write_blastdb(tmp_path / "db", [("B0RED7|GO:0006200", "MGSA..."), ...])

Each defline is the FASTA header as the title and makeblastdb's ordinal id
``gnl|BL_ORD_ID|<n>`` (taxid 0), encoded as NCBI encodes ASN.1: every tagged field an explicit
constructed tag of indefinite length. ``seqid`` may instead be given as ready BER bytes (a
Seq-id list of another kind) to test the other ids a database can carry.
"""
from __future__ import annotations

import struct
from pathlib import Path

from idr_kit.data.blastdb import NCBISTDAA

EOC = b"\0\0"


def tagged(tag: int, *values: bytes) -> bytes:
    """An explicit tag of indefinite length (``a0 80 ... 00 00``) around values."""
    return bytes([tag, 0x80]) + b"".join(values) + EOC


def sequence(*values: bytes) -> bytes:
    return b"\x30\x80" + b"".join(values) + EOC


def visible(text: str) -> bytes:
    data = text.encode()
    return b"\x1a" + length(len(data)) + data


def integer(value: int) -> bytes:
    size = max(1, (value.bit_length() + 8) // 8)
    return b"\x02" + bytes([size]) + value.to_bytes(size, "big", signed=True)


def length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    data = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(data)]) + data


def ordinal_seqid(oid: int) -> bytes:
    """[1] SEQUENCE OF Seq-id holding general Dbtag {db "BL_ORD_ID", tag id oid}."""
    dbtag = sequence(tagged(0xA0, visible("BL_ORD_ID")), tagged(0xA1, tagged(0xA0,
                                                                               integer(oid))))
    return tagged(0xA1, sequence(tagged(0xAA, dbtag)))


def defline_set(title: str, oid: int, seqid: bytes | None = None) -> bytes:
    return sequence(sequence(tagged(0xA0, visible(title)), seqid or ordinal_seqid(oid),
                             tagged(0xA2, integer(0))))


def pin_string(text: str, pad_to: int = 0) -> bytes:
    """int32 length + bytes; with pad_to, NUL-padded so that pad_to + what is written is a
    multiple of 8 (makeblastdb pads the date so that the counts after it are 8-aligned)."""
    data = text.encode()
    if pad_to:
        data += b"\0" * (-(pad_to + 4 + len(data)) % 8)
    return struct.pack(">i", len(data)) + data


def encode(seq: str) -> bytes:
    return bytes(NCBISTDAA.index(c) for c in seq)


def write_blastdb(base: Path, records, *, title: str = "test.fasta",
                  date: str = "Jan 20, 2022  10:32 AM") -> Path:
    """Write base.pin/.psq/.phr from (header, sequence) pairs (or (header, sequence, seqid
    BER)); return base."""
    headers, seqs = [], []
    for oid, (header, seq, *seqid) in enumerate(records):
        headers.append(defline_set(header, oid, seqid[0] if seqid else None))
        seqs.append(encode(seq) + b"\0")
    pin = struct.pack(">ii", 4, 1) + pin_string(title)
    pin += pin_string(date, pad_to=len(pin))
    lengths = [len(s) - 1 for s in seqs]
    pin += struct.pack(">i", len(seqs)) + struct.pack("<q", sum(lengths))
    pin += struct.pack(">i", max(lengths, default=0))
    for first, parts in ((0, headers), (1, seqs)):  # .psq starts with a 0 byte
        offsets = [first]
        for part in parts:
            offsets.append(offsets[-1] + len(part))
        pin += struct.pack(f">{len(offsets)}I", *offsets)
    Path(f"{base}.pin").write_bytes(pin)
    Path(f"{base}.psq").write_bytes(b"\0" + b"".join(seqs))
    Path(f"{base}.phr").write_bytes(b"".join(headers))
    return base
