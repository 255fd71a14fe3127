"""FASTA in, CAID predictions out (they are read back by data/caid.py, as CAID reads them).

Two inputs share the ``>`` header and are told apart per record:

    CAID 3-line   >DP01234            plain   >sp|P12345|NAME some description
                  MKTFFVLLL                   MKTFF
                  111000---                   VLLL

A CAID record has exactly two lines after its header and the second one is a label line
(mostly ``0``/``1``/``-``; residues never use those characters). All records of one file must
agree. The CAID prediction format has one line per residue:
``position<TAB>residue<TAB>score<TAB>binary``.
"""
from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import BinaryIO

import numpy as np

from idr_kit.data.atomic import atomic_write
from idr_kit.data.compressed import decompressed
from idr_kit.data.errors import InputError
from idr_kit.data.probs import in_id_order, validate_binary, validate_probs
from idr_kit.data.reading import open_regular
from idr_kit.data.records import Protein, make_protein

LABEL_CHARS = "01-"
SPACE = " \t"  # what is dropped around a line, and ends an id in a header
ID_END = re.compile(f"[{SPACE}]")
BOM = "\ufeff".encode()  # a byte-order mark: opens a file written by some editors
SCORE_DECIMALS = 3  # what CAID's own files carry; finer digits only change ties in AUC


def read_fasta(path: str | os.PathLike) -> list[Protein]:
    """Proteins from a CAID 3-line FASTA (with labels) or a plain FASTA (without): the streamed
    reader's proteins, collected (one parser, so the two cannot disagree)."""
    with open_fasta(path) as (handle, source):
        return list(_stream_proteins(handle, source))


@contextmanager
def open_fasta(path: str | os.PathLike) -> Iterator[tuple[BinaryIO, str]]:
    """The one place a FASTA input is opened: ``(binary handle, name for errors)``; ``-`` is
    stdin, left open. A file must be a regular one (data/reading.py's ``open_regular``: a FIFO
    or a device is refused, never read); compressed bytes are decompressed, streamed
    (data/compressed.py)."""
    if str(path) == "-":
        yield decompressed(sys.stdin.buffer, "stdin"), "stdin"
        return
    with open_regular(path) as handle:
        yield decompressed(handle, str(path), str(path)), str(path)


def _header_id(header: str) -> str:
    """``sp|P12345|NAME desc`` -> ``sp|P12345|NAME``: the id ends at the first space or tab
    (only those: any other blank or control character stays in the id, which check_id then
    refuses, so no character outside ASCII decides where an id ends)."""
    return ID_END.split(header, maxsplit=1)[0]


def _looks_caid(body: list[str]) -> bool:
    if len(body) != 2:
        return False
    line = body[1]
    n_label_chars = sum(line.count(c) for c in LABEL_CHARS)
    if not line.isascii():  # digits of other scripts make a label line too, refused as labels
        n_label_chars += sum(c.isdigit() for c in line if not c.isascii())
    # "Mostly" rather than "only", so a label line with a stray character is reported as a bad
    # label at its position instead of as a bad residue.
    return 2 * n_label_chars >= len(line)


def _refuse_layout(header: str, first_is_caid: bool, source: str) -> None:
    """The record ``header`` has not the layout of the file's first record."""
    if first_is_caid:
        why = ("is not a CAID 3-line record (>id, sequence line, label line) like the records "
               "before it: a label line is missing or has the wrong layout")
    else:
        why = ("looks like a CAID 3-line record (its second line is a label line) but the "
               "records before it are plain FASTA")
    raise InputError(why, source=source, protein=_header_id(header))


def _protein(header: str, body: list[str], is_caid: bool, source: str) -> Protein:
    pid = _header_id(header)
    if is_caid:
        return make_protein(pid, body[0], body[1], source=source)
    return make_protein(pid, "".join(body), source=source)


# --- CAID prediction files -----------------------------------------------------------------

def write_caid(path: str | os.PathLike, ids: Sequence[str], seqs: Sequence[str], probs,
               binary) -> None:
    """Write ``>id`` then ``position, residue, score, binary`` per residue (tab-separated).

    probs: per protein an (L,) array in [0, 1]; binary: per protein an (L,) array of 0/1;
    either may be a list in the order of ``ids`` or an id -> array map.
    """
    ids = list(ids)
    validate_probs(ids, seqs, probs)
    validate_binary(ids, seqs, binary)
    check_bare_ids(ids)
    probs, binary = in_id_order(ids, probs), in_id_order(ids, binary)
    with atomic_write(path) as handle:
        for pid, seq, prob, call in zip(ids, seqs, probs, binary):
            handle.write(caid_record(pid, seq, np.asarray(prob), np.asarray(call)))


def check_bare_ids(ids: list[str]) -> None:
    for pid in ids:
        if pid != _header_id(pid) or pid.startswith(">"):
            raise ValueError(f"protein id {pid!r} cannot be a CAID header: it must be one "
                             "word without spaces or a leading '>'")


def caid_record(pid: str, seq: str, prob: np.ndarray, call: np.ndarray) -> str:
    """``>id`` and one ``position, residue, score, binary`` row per residue, the score as
    ``f"{score:.3f}"`` writes it."""
    if prob.dtype == np.float32 and len(prob) and 0 <= prob.min() and prob.max() <= 1:
        return f">{pid}\n" + _rows_float32(seq, prob, call)
    rows = [f"{i}\t{res}\t{score:.{SCORE_DECIMALS}f}\t{b}\n" for i, (res, score, b)
            in enumerate(zip(seq, prob.astype(float).tolist(), call.astype(int).tolist()), 1)]
    return f">{pid}\n" + "".join(rows)


# "0.000" ... "1.000": a float32 score times 1000 is exact in float64 (24 + 10 bits < 53), so
# rounding it half to even to a whole number is the correctly rounded 3-decimal score that
# Python's format gives; the table turns it into text.
_SCORES = [f"{k / 1000:.3f}" for k in range(1001)]
_POSITIONS: list[str] = []


def _rows_float32(seq: str, prob: np.ndarray, call: np.ndarray) -> str:
    """CAID rows of a float32 probability array in [0, 1], without formatting a float per
    residue (1.5 times faster: a proteome's .caid is tens of millions of rows)."""
    if len(_POSITIONS) < len(seq):
        _POSITIONS.extend(str(i) for i in range(len(_POSITIONS) + 1, len(seq) + 1))
    thousandths = np.rint(prob.astype(np.float64) * 1000).astype(np.int64).tolist()
    scores = map(_SCORES.__getitem__, thousandths)
    calls = map(str, call.astype(int).tolist())
    return "".join(map("{}\t{}\t{}\t{}\n".format, _POSITIONS[:len(seq)], seq, scores, calls))


def iter_fasta(path: str | os.PathLike, *, chunk_residues: int = 1 << 20
               ) -> Iterator[list[Protein]]:
    """A FASTA file's proteins (plain, or CAID 3-line with their labels), a chunk of about
    ``chunk_residues`` residues at a time (``in_chunks``), in file order, without reading the
    whole file: memory follows the chunk (and the longest protein), not the file. The checks
    are ``read_fasta``'s (one layout for all records, unique ids). ``-`` reads stdin."""
    with open_fasta(path) as (handle, source):
        yield from in_chunks(_stream_proteins(handle, source), chunk_residues)


def iter_fasta_text(handle, source: str, *, chunk_residues: int = 1 << 20
                    ) -> Iterator[list[Protein]]:
    """``iter_fasta`` on an open stream, named ``source`` in errors: binary, or a text
    wrapper not yet read from (its bytes are read, so the lines are ``read_fasta``'s)."""
    raw = getattr(handle, "buffer", handle)  # ``handle`` stays referenced: it owns ``raw``
    yield from in_chunks(_stream_proteins(raw, source), chunk_residues)


def in_chunks(proteins: Iterable[Protein], residues: int) -> Iterator[list[Protein]]:
    """Consecutive proteins, a chunk closed once it holds ``residues`` residues or more: the
    kit's one chunking rule, so a file streamed and the same proteins read whole are cut at
    the same places."""
    chunk, size = [], 0
    for protein in proteins:
        chunk.append(protein)
        size += len(protein)
        if size >= residues:
            yield chunk
            chunk, size = [], 0
    if chunk:
        yield chunk


def _stream_proteins(handle, source: str) -> Iterator[Protein]:
    first_caid, seen = None, set()
    for header, lines in _stream_records(handle, source):
        is_caid = _looks_caid(lines)
        first_caid = is_caid if first_caid is None else first_caid
        if is_caid != first_caid:
            _refuse_layout(header, first_caid, source)
        protein = _protein(header, lines, is_caid, source)
        if protein.id in seen:
            raise InputError("duplicate protein id", source=source, protein=protein.id)
        seen.add(protein.id)
        yield protein


def _stream_records(handle: BinaryIO, source: str) -> Iterator[tuple[str, list[str]]]:
    """(header without '>', its non-blank lines) records of a FASTA stream; text before the
    first header is an error."""
    header, lines, any_header = None, [], False
    for line in _lines(handle, source):
        if line.startswith(">"):
            if header is not None:
                yield header, lines
            header, lines, any_header = line[1:].strip(SPACE), [], True
        elif header is None:
            raise InputError(f"not a FASTA file: {line[:40]!r} comes before the first '>' "
                             "header", source=source)
        else:
            lines.append(line)
    if header is not None:
        yield header, lines
    if not any_header:
        raise InputError("not a FASTA file: no '>' header line", source=source)


def _lines(handle: BinaryIO, source: str) -> Iterator[str]:
    """Every line that is not blank, spaces and tabs around it dropped. The file's bytes are the truth: a line ends at LF, CR LF or a lone CR, and
    nowhere else (not at the form feeds, NELs or line separators that ``str.splitlines``
    splits at: they stay in the line, where no residue, label or id may hold them); a
    byte-order mark opens the file, or is refused where it stands; bytes that are not UTF-8
    are one error naming the line and the byte."""
    number, start = 0, 0  # lines so far; the byte offset where ``raw`` starts
    for raw in handle:
        body = raw[:-2] if raw.endswith(b"\r\n") else raw[:-1] if raw.endswith(b"\n") else raw
        at = start
        if start == 0 and body.startswith(BOM):
            body, at = body[len(BOM):], len(BOM)
        for part in body.split(b"\r") if b"\r" in body else (body,):
            number += 1
            try:
                text = part.decode("utf-8")
            except UnicodeDecodeError as err:
                raise InputError(f"not a text file: line {number:,} (byte offset "
                                 f"{at + err.start:,}) is not UTF-8 ({err.reason})",
                                 source=source) from None
            at += len(part) + 1
            text = text.strip(SPACE)
            if text:
                yield text
        start += len(raw)
