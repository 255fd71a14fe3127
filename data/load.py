"""The one place that picks a reader by a file's format; scripts call only these two."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Mapping

import numpy as np

from idr_kit.data.caid import read_caid
from idr_kit.data.competition import read_pickle, read_submission
from idr_kit.data.compressed import by_magic, inner_name, open_input
from idr_kit.data.disprot import read_disprot_json
from idr_kit.data.errors import InputError
from idr_kit.data.fasta import in_chunks, iter_fasta, read_fasta
from idr_kit.data.probs import read_npz, read_npz_for
from idr_kit.data.reading import open_regular
from idr_kit.data.records import Protein

PICKLE_SUFFIXES = (".pkl", ".pickle")
JSON_SUFFIXES = (".json",)
FASTA_SUFFIXES = (".fasta", ".fa", ".faa", ".caid3")
PROTEIN_FORMATS = ("competition pickle (.pkl, .pickle), DisProt JSON (.json), "
                   "FASTA or CAID 3-line FASTA (.fasta, .fa, .faa, .caid3, or text "
                   "starting with '>')")
PREDICTION_FORMATS = "CAID predictions (.caid), probabilities (.npz), submission CSV (.csv)"
SNIFF_BYTES = 64
PICKLE_PROTOCOL_2_PLUS = b"\x80"  # every pickle written by Python 3 starts with this byte


def read_proteins(path: str | os.PathLike) -> list[Protein]:
    """Proteins from any input format, chosen by extension, else by the file's first bytes
    (of a compressed file, by the name without .gz and the bytes it holds)."""
    path = _existing(path)
    return _reader(path)(path)


def iter_proteins(path: str | os.PathLike, chunk_residues: int) -> Iterator[list[Protein]]:
    """``read_proteins``'s proteins, a chunk of about ``chunk_residues`` residues at a time
    (data/fasta.py's ``in_chunks``). A FASTA file is streamed (memory follows the chunk, not
    the file); the other formats are read whole, then cut by the same rule."""
    path = _existing(path)
    reader = _reader(path)
    if reader is read_fasta:
        return iter_fasta(path, chunk_residues=chunk_residues)
    return in_chunks(read_proteins(path), chunk_residues)


def _reader(path: Path) -> Callable[[Path], list[Protein]]:
    head = _head(path)
    reader = (_reader_by_suffix(Path(inner_name(path)).suffix.lower())
              or _reader_by_content(head))
    if reader is None:
        packed = by_magic(_raw_head(path))
        inside = f" inside its {packed.name} compression" if packed else ""
        raise InputError(f"unknown protein file format{inside}; accepted: {PROTEIN_FORMATS} "
                         "(each may be compressed: .gz, .bz2, .xz)", source=str(path))
    return reader


def _reader_by_suffix(suffix: str) -> Callable[[Path], list[Protein]] | None:
    if suffix in PICKLE_SUFFIXES:
        return read_pickle
    if suffix in JSON_SUFFIXES:
        return read_disprot_json
    return read_fasta if suffix in FASTA_SUFFIXES else None


def _reader_by_content(head: bytes) -> Callable[[Path], list[Protein]] | None:
    if head.startswith(PICKLE_PROTOCOL_2_PLUS):
        return read_pickle
    if head[:1] in (b"{", b"["):
        return read_disprot_json
    return read_fasta if head.startswith(b">") else None


def _existing(path: str | os.PathLike) -> Path:
    path = Path(path)
    if not path.is_file():
        raise InputError("file not found" if not path.exists() else "not a file",
                         source=str(path))
    return path


def _head(path: Path) -> bytes:
    """The first bytes that are not white space (a BOM counts as white space), decompressed
    (data/compressed.py: a damaged archive, or a .gz name over bytes that are not, is refused
    here, before any reader)."""
    with open_input(path) as handle:
        head = handle.read(SNIFF_BYTES)
    return head.lstrip(b"\xef\xbb\xbf \t\r\n")


def _raw_head(path: Path) -> bytes:
    with open_regular(path) as handle:
        return handle.read(SNIFF_BYTES)


@dataclass(frozen=True)
class PredictionSet:
    """What one prediction file holds: id -> (L,) float32 scores and/or id -> (L,) uint8 calls,
    the sequences the predictions were made for when the file says (.caid, .csv), the
    proteins whose prediction could not be read (id -> why), those whose scores are their
    states (CAID's rule for an empty score column), ids left unread because no reference
    protein has them, and notes on where the file departs from CAID's reading."""
    scores: dict[str, np.ndarray] | None
    binary: dict[str, np.ndarray] | None
    seqs: dict[str, str] | None = None
    unreadable: dict[str, str] = field(default_factory=dict)
    scores_from_states: list[str] = field(default_factory=list)
    unread: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def read_predictions(path: str | os.PathLike, lengths: Mapping[str, int] | None = None
                     ) -> PredictionSet:
    """Scores and/or binary calls: .caid -> both (either None if absent; CAID's own reading,
    data/caid.py), .npz -> scores, .csv -> binary. With ``lengths`` (the reference's, id ->
    residues), an .npz array is read only for a reference protein and only when its header
    says a sane length, so a small file cannot ask for gigabytes."""
    path = _existing(path)
    suffix = path.suffix.lower()
    if suffix == ".caid":
        read = read_caid(path)
        return PredictionSet(read.scores or None, read.binary or None, read.seqs,
                             read.unreadable, read.scores_from_states, notes=read.notes)
    if suffix == ".npz":
        if lengths is None:
            return PredictionSet(read_npz(path), None)
        scores, unreadable, unread = read_npz_for(path, lengths)
        return PredictionSet(scores, None, None, unreadable, unread=unread)
    if suffix == ".csv":
        return PredictionSet(None, *read_submission(path))
    raise InputError(f"unknown prediction file format; accepted: {PREDICTION_FORMATS}",
                     source=str(path))
