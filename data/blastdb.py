"""BLAST version-4 protein databases (``NAME.pin``, ``NAME.psq``, ``NAME.phr``), streamed.

    with BlastDb("/usr/share/metastudent-data/dataset_201401/BPO/goasp.fasta") as db:
        db.count, db.residues, db.longest          # from the index, checked
        for entry in db:                            # DbProtein(oid, accession, title, seq)
            ...
        db.left_out                                 # {reason: count} of sequences not read

The layout (NCBI's formatdb/makeblastdb, version 4; integers big-endian unless said):

    .pin  int32 version (4), int32 type (1 protein), int32 n + title, int32 n + date (NUL-
          padded so what follows is 8-aligned), int32 sequences N, int64 residues
          (little-endian), int32 longest, then N + 1 header offsets into .phr and N + 1
          sequence offsets into .psq (uint32 each)
    .psq  a 0 byte, then each sequence in NCBIstdaa (one byte a residue) followed by a 0 byte
    .phr  each sequence's Blast-def-line-set, ASN.1 BER (data/blast_deflines.py)

Hostile files: each of the three is opened once, without following a link, and must be a
regular file (data/reading.py). Before anything but the index is read, the index is checked
against the files' sizes: its length is exactly what N asks for (a small file cannot claim
2**31 sequences), the offsets start where the format starts them, rise, and end at the end of
their file, and the residue count and longest sequence agree with them. Every sequence must end
in its 0 byte and hold NCBIstdaa codes only. A failed check is one ``InputError`` naming the
file and the problem. Memory is bounded: the offsets are read CHUNK records at a time.

NCBIstdaa codes the kit does not read as residues: a final ``*`` (stop) is dropped, as the
FASTA readers drop it; a sequence holding ``J`` (Leu or Ile), a gap or a ``*`` before its end
is not read, and is counted in ``left_out`` by reason (never changed into a residue the data
does not say). The UniProt package of issue 31 holds none of them.
"""
from __future__ import annotations

import os
import struct
from collections import Counter
from dataclasses import dataclass
from typing import Iterator

import numpy as np

from idr_kit.data.blast_deflines import read_defline
from idr_kit.data.errors import InputError
from idr_kit.data.reading import open_regular

VERSION, PROTEIN = 4, 1
# NCBIstdaa: code -> letter (NCBI's seqcode.prt); '-' gap, '*' stop, J Leu or Ile.
NCBISTDAA = "-ABCDEFGHIKLMNPQRSTVWXYZU*OJ"
NOT_READ = {"J": "J (Leu or Ile)", "-": "a gap", "*": "a stop before the end"}
GARBLED = "#"  # what a byte past NCBIstdaa's codes becomes before it is refused
_LETTERS = bytes(ord(NCBISTDAA[b]) if b < len(NCBISTDAA) else ord(GARBLED) for b in range(256))
CHUNK = 1 << 16  # records whose offsets are read at once: 512 KB of index
MAX_HEADER_BYTES = 1 << 20  # one defline set (the package's are about 130 bytes)
MAX_RESIDUES = 1 << 24  # one sequence (titin is 35k): a longer one is a garbled index
EXTENSIONS = (".pin", ".psq", ".phr")


@dataclass(frozen=True)
class DbProtein:
    oid: int  # 0-based position in the database
    accession: str
    title: str
    seq: str


class BlastDb:
    """An open BLAST v4 protein database; iterate it for its ``DbProtein`` records."""

    def __init__(self, path: str | os.PathLike):
        base = str(path)
        if base.endswith(EXTENSIONS):
            base = base[:-4]
        self.paths = {ext: base + ext for ext in EXTENSIONS}
        self._files = {}
        try:
            for ext, name in self.paths.items():
                self._files[ext] = open_regular(name, links=False)
            self._sizes = {ext: os.fstat(f.fileno()).st_size for ext, f in self._files.items()}
            self._read_header()
            self._check_offsets()
        except BaseException:
            self.close()
            raise
        self.left_out: Counter = Counter()

    def __enter__(self) -> "BlastDb":
        return self

    def __exit__(self, *_) -> None:
        self.close()

    def close(self) -> None:
        for handle in self._files.values():
            handle.close()

    def _fail(self, ext: str, problem: str, garbled: bool = True) -> InputError:
        hint = " (a truncated or garbled BLAST database?)" if garbled else ""
        return InputError(problem + hint, source=self.paths[ext])

    def _read_header(self) -> None:
        pin, size = self._files[".pin"], self._sizes[".pin"]
        fields = self._ints(pin, 3)
        if fields[0] != VERSION:
            raise self._fail(".pin", f"format version {fields[0]}, not {VERSION} (the kit "
                             "reads BLAST version-4 databases)", garbled=False)
        if fields[1] != PROTEIN:
            raise self._fail(".pin", f"database type {fields[1]}, not {PROTEIN} (protein)",
                             garbled=False)
        self.title = self._string(pin, fields[2], size)
        self.date = self._string(pin, self._ints(pin, 1)[0], size).rstrip("\0")
        self.count = self._ints(pin, 1)[0]
        if self.count < 0:
            raise self._fail(".pin", f"a count of {self.count:,} sequences")
        self.residues = struct.unpack("<q", self._exact(pin, 8))[0]
        self.longest = self._ints(pin, 1)[0]
        self._table = pin.tell()  # the header offsets, then the sequence offsets
        expected = self._table + 8 * (self.count + 1)
        if expected != size:
            raise self._fail(".pin", f"{size:,} bytes, where {self.count:,} sequences need "
                             f"{expected:,}")

    def _exact(self, handle, n: int) -> bytes:
        data = handle.read(n)
        if len(data) != n:
            raise self._fail(".pin", f"ends inside its header, at byte {handle.tell():,}")
        return data

    def _ints(self, handle, n: int) -> tuple[int, ...]:
        return struct.unpack(f">{n}i", self._exact(handle, 4 * n))

    def _string(self, handle, length: int, size: int) -> str:
        if not 0 <= length <= size - handle.tell():
            raise self._fail(".pin", f"a string of {length:,} bytes in a file of {size:,}")
        return self._exact(handle, length).decode("utf-8", errors="replace")

    def _offsets(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        """Header and sequence offsets of records start..stop (stop + 1 values each)."""
        pin = self._files[".pin"]
        arrays = []
        for table in (self._table, self._table + 4 * (self.count + 1)):
            pin.seek(table + 4 * start)
            raw = pin.read(4 * (stop - start + 1))
            if len(raw) != 4 * (stop - start + 1):
                raise self._fail(".pin", "changed while it was read")
            arrays.append(np.frombuffer(raw, ">u4").astype(np.int64))
        return arrays[0], arrays[1]

    def _check_offsets(self) -> None:
        """The whole index against the files' sizes, CHUNK records at a time."""
        residues = longest = 0
        for start in range(0, max(self.count, 1), CHUNK):
            headers, seqs = self._offsets(start, min(start + CHUNK, self.count))
            if start == 0:
                self._check_first(headers[0], seqs[0])
            self._check_steps(".phr", np.diff(headers), 2, MAX_HEADER_BYTES, start)
            lengths = np.diff(seqs) - 1
            self._check_steps(".psq", lengths, 0, MAX_RESIDUES, start)
            residues += int(lengths.sum())
            longest = max(longest, int(lengths.max(initial=0)))
        self._check_last(headers[-1], seqs[-1], residues, longest)

    def _check_first(self, header: int, seq: int) -> None:
        if header != 0 or seq != 1:
            raise self._fail(".pin", f"its first offsets are {header} and {seq}, not 0 and 1")

    def _check_steps(self, ext: str, steps: np.ndarray, low: int, high: int, start: int):
        bad = np.flatnonzero((steps < low) | (steps > high))
        if bad.size:
            what = "header" if ext == ".phr" else "sequence"
            raise self._fail(".pin", f"record {start + int(bad[0]) + 1:,}: a {what} of "
                             f"{int(steps[bad[0]]):,} bytes (allowed {low:,} to {high:,})")

    def _check_last(self, header: int, seq: int, residues: int, longest: int) -> None:
        for ext, end in ((".phr", header), (".psq", seq)):
            if end != self._sizes[ext]:
                raise self._fail(ext, f"{self._sizes[ext]:,} bytes, where the index ends its "
                                 f"records at byte {end:,}")
        if residues != self.residues or longest != self.longest:
            raise self._fail(".pin", f"says {self.residues:,} residues, longest "
                             f"{self.longest:,}; its offsets give {residues:,} and {longest:,}")

    def __iter__(self) -> Iterator[DbProtein]:
        psq, phr = self._files[".psq"], self._files[".phr"]
        self.left_out = Counter()  # counted afresh by each pass (one pass at a time)
        psq.seek(1)
        phr.seek(0)
        for start in range(0, self.count, CHUNK):
            headers, seqs = self._offsets(start, min(start + CHUNK, self.count))
            for i, (head, length) in enumerate(zip(np.diff(headers), np.diff(seqs))):
                oid = start + i
                raw = self._read(psq, ".psq", int(length))
                blob = self._read(phr, ".phr", int(head))
                seq = self._sequence(raw, oid)
                if seq is not None:
                    accession, title = read_defline(blob, source=self.paths[".phr"],
                                                    record=oid)
                    yield DbProtein(oid, accession, title, seq)

    def _read(self, handle, ext: str, n: int) -> bytes:
        data = handle.read(n)
        if len(data) != n:
            raise self._fail(ext, "changed while it was read: shorter than its index says")
        return data

    def _sequence(self, raw: bytes, oid: int) -> str | None:
        """The residues of one record (its final 0 byte checked), or None when it holds a
        code the kit does not read (counted in left_out)."""
        if raw[-1:] != b"\0":
            raise self._fail(".psq", f"record {oid + 1:,} does not end in its 0 byte")
        seq = raw[:-1].translate(_LETTERS).decode("ascii")
        if GARBLED in seq:
            pos = seq.index(GARBLED)
            raise self._fail(".psq", f"record {oid + 1:,}, position {pos + 1}: byte "
                             f"{raw[pos]}, not an NCBIstdaa code")
        seq = seq[:-1] if seq.endswith("*") else seq
        if not seq:
            self.left_out["empty"] += 1
            return None
        for letter, reason in NOT_READ.items():
            if letter in seq:
                self.left_out[reason] += 1
                return None
        return seq

