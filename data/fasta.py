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
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np

from idr_kit.data.atomic import atomic_write
from idr_kit.data.errors import InputError
from idr_kit.data.probs import in_id_order, validate_binary, validate_probs
from idr_kit.data.records import Protein, check_unique_ids, make_protein

LABEL_CHARS = "01-"
SCORE_DECIMALS = 3  # what CAID's own files carry; finer digits only change ties in AUC

Block = tuple[str, list[str]]  # (header without '>', the non-blank lines after it)


def read_fasta(path: str | os.PathLike) -> list[Protein]:
    """Proteins from a CAID 3-line FASTA (with labels) or a plain FASTA (without)."""
    source = str(path)
    blocks = _blocks(_read_text(path), source, kind="FASTA")
    caid = [_looks_caid(body) for _, body in blocks]
    _check_layouts_agree(blocks, caid, source)
    proteins = [_protein(header, body, is_caid, source)
                for (header, body), is_caid in zip(blocks, caid)]
    check_unique_ids(proteins, source=source)
    return proteins


def _read_text(path: str | os.PathLike) -> str:
    try:
        return Path(path).read_text(encoding="utf-8-sig")  # a byte-order mark is not text
    except UnicodeDecodeError as err:
        raise InputError(f"not a text file ({err.reason} at byte {err.start})", source=str(path))


def _blocks(text: str, source: str, *, kind: str) -> list[Block]:
    """Split into (header, lines) records; blank lines and surrounding spaces are dropped."""
    lines = [line.strip() for line in text.splitlines()]
    lines = [line for line in lines if line]
    if not any(line.startswith(">") for line in lines):
        raise InputError(f"not a {kind} file: no '>' header line", source=source)
    if not lines[0].startswith(">"):
        raise InputError(f"not a {kind} file: {lines[0][:40]!r} comes before the first '>' "
                         "header", source=source)
    blocks: list[Block] = []
    for line in lines:
        if line.startswith(">"):
            blocks.append((line[1:].strip(), []))
        else:
            blocks[-1][1].append(line)
    return blocks


def _header_id(header: str) -> str:
    """``sp|P12345|NAME desc`` -> ``sp|P12345|NAME``: the id is the first whitespace token."""
    parts = header.split(maxsplit=1)
    return parts[0] if parts else ""


def _looks_caid(body: list[str]) -> bool:
    if len(body) != 2:
        return False
    line = body[1]
    n_label_chars = sum(line.count(c) for c in LABEL_CHARS)
    # "Mostly" rather than "only", so a label line with a stray character is reported as a bad
    # label at its position instead of as a bad residue.
    return 2 * n_label_chars >= len(line)


def _check_layouts_agree(blocks: list[Block], caid: list[bool], source: str) -> None:
    for (header, _), is_caid in zip(blocks, caid):
        if is_caid != caid[0]:
            pid = _header_id(header)
            if caid[0]:
                why = ("is not a CAID 3-line record (>id, sequence line, label line) like "
                       "the records before it: a label line is missing or has the wrong layout")
            else:
                why = ("looks like a CAID 3-line record (its second line is a label line) "
                       "but the records before it are plain FASTA")
            raise InputError(why, source=source, protein=pid)


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
    import sys
    source = "stdin" if str(path) == "-" else str(path)
    handle = sys.stdin if source == "stdin" else open(path, encoding="utf-8-sig")
    try:
        yield from iter_fasta_text(handle, source, chunk_residues=chunk_residues)
    finally:
        if handle is not sys.stdin:
            handle.close()


def iter_fasta_text(handle, source: str, *, chunk_residues: int = 1 << 20
                    ) -> Iterator[list[Protein]]:
    """``iter_fasta`` on an open text stream, named ``source`` in errors."""
    try:
        yield from in_chunks(_stream_proteins(handle, source), chunk_residues)
    except UnicodeDecodeError as err:
        raise InputError(f"not a text file ({err.reason})", source=source) from None


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
            _check_layouts_agree([("", []), (header, lines)], [first_caid, is_caid], source)
        protein = _protein(header, lines, is_caid, source)
        if protein.id in seen:
            raise InputError("duplicate protein id", source=source, protein=protein.id)
        seen.add(protein.id)
        yield protein


def _stream_records(handle, source: str):
    """(header, lines) records of a FASTA stream; text before the first header is an error."""
    header, lines, any_header = None, [], False
    for raw in handle:
        line = raw.strip()
        if not line:
            continue
        if line.startswith(">"):
            if header is not None:
                yield header, lines
            header, lines, any_header = line[1:].strip(), [], True
        elif header is None:
            raise InputError(f"not a FASTA file: {line[:40]!r} comes before the first '>' "
                             "header", source=source)
        else:
            lines.append(line)
    if header is not None:
        yield header, lines
    if not any_header:
        raise InputError("not a FASTA file: no '>' header line", source=source)
