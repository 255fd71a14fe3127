"""The one record every track, reader and writer shares: a protein with optional labels.

Labels follow the field's convention: ``1`` disordered, ``0`` ordered, ``-`` not assessed.
A protein keeps them as two arrays of its sequence's length:

    labels  (L,) uint8  0 or 1; 0 where not assessed
    mask    (L,) bool   True where assessed (the label is 0 or 1), False for ``-``

Losses and scores look at ``labels[mask]`` only, so an unassessed residue never counts as 0.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

from idr_kit.data.errors import InputError, brief

STANDARD_RESIDUES = "ACDEFGHIKLMNPQRSTVWY"
# X unknown, U selenocysteine, B Asx, Z Glx, O pyrrolysine: real sequences carry them; each
# track maps them onto what its model knows.
EXTRA_RESIDUES = "XUBZO"
ALPHABET = STANDARD_RESIDUES + EXTRA_RESIDUES
NOT_ASSESSED = "-"
LABELS = f"0, 1, {NOT_ASSESSED}"
# What is dropped around a sequence or a label string: ASCII spaces, tabs and line ends only
# (str.strip() would also drop NEL, NBSP, U+2028 and the like, silently).
TEXT_SPACE = " \t\r\n"
# The longest protein id the kit takes: every output format must carry it (a zip member name
# in .npz, a file name in plots/, a CAID header line), so ids are short words.
MAX_ID_CHARS = 200

_ALLOWED = np.zeros(256, dtype=bool)
_ALLOWED[np.frombuffer(ALPHABET.encode(), dtype=np.uint8)] = True
# Byte value -> position in ALPHABET (-1: not a residue), for tables indexed like ALPHABET.
_ROW_OF_BYTE = np.full(256, -1, dtype=np.int64)
_ROW_OF_BYTE[np.frombuffer(ALPHABET.encode(), dtype=np.uint8)] = np.arange(len(ALPHABET))


@dataclass(frozen=True, eq=False)
class Protein:
    id: str
    seq: str
    labels: np.ndarray | None = None  # (L,) uint8
    mask: np.ndarray | None = None  # (L,) bool, True where assessed

    def __len__(self) -> int:
        return len(self.seq)

    @property
    def has_labels(self) -> bool:
        return self.labels is not None

    def label_string(self) -> str:
        """The labels as CAID writes them: ``0``, ``1`` and ``-``."""
        if self.labels is None:
            raise ValueError(f"protein {self.id} has no labels")
        chars = np.where(self.mask, self.labels + ord("0"), ord(NOT_ASSESSED)).astype(np.uint8)
        return chars.tobytes().decode()


def clean_sequence(raw: str, *, protein: str, source: str | None = None) -> str:
    """Refuse anything outside ASCII (before any case mapping: ``"ß".upper()`` is ``"SS"``,
    ``"ı".upper()`` is ``"I"``), then uppercase, drop one trailing stop ``*``, and refuse
    anything outside ``ALPHABET``. Spaces, tabs and line ends around the sequence are
    dropped; positions count from its first residue."""
    if not isinstance(raw, str):
        raise InputError(f"sequence is a {type(raw).__name__}, not text", source=source,
                         protein=protein)
    seq = raw.strip(TEXT_SPACE)
    _refuse_non_ascii(seq, "residue", protein, source)
    seq = seq.upper()
    if seq.endswith("*"):
        seq = seq[:-1]
    if not seq:
        raise InputError("empty sequence", source=source, protein=protein)
    bad = np.flatnonzero(~_ALLOWED[np.frombuffer(seq.encode("ascii"), dtype=np.uint8)])
    if len(bad):
        pos = int(bad[0])
        raise InputError(f"invalid residue {seq[pos]!r} (allowed: {ALPHABET})",
                         source=source, protein=protein, position=pos + 1)
    return seq


def _refuse_non_ascii(text: str, what: str, protein: str, source: str | None) -> None:
    """InputError at the first character of ``text`` outside ASCII: no residue or label is
    one, and case mapping or encoding one would change the text's length."""
    if text.isascii():
        return
    pos = next(i for i, c in enumerate(text) if not c.isascii())
    raise InputError(f"invalid {what} {text[pos]!r} (U+{ord(text[pos]):04X}, outside ASCII; "
                     f"allowed: {ALPHABET if what == 'residue' else LABELS})", source=source,
                     protein=protein, position=pos + 1)


def _first_invalid(seq: str) -> np.ndarray:
    return np.array([i for i, c in enumerate(seq) if not (c.isascii() and c in ALPHABET)][:1])


def parse_labels(raw: str | Sequence[int] | np.ndarray, *, length: int, protein: str,
                 source: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Labels from text (``0``/``1``/``-``) or integers (0, 1, and -1 for not assessed).

    Returns ``(labels (L,) uint8, mask (L,) bool)``.
    """
    if isinstance(raw, str):
        text = raw = raw.strip(TEXT_SPACE)
        _refuse_non_ascii(text, "label", protein, source)
        codes = np.frombuffer(text.encode("ascii"), dtype=np.uint8)
        values = np.full(len(codes), -2, dtype=np.int64)
        values[codes == ord("0")] = 0
        values[codes == ord("1")] = 1
        values[codes == ord(NOT_ASSESSED)] = -1
    else:
        values = np.asarray(raw)
        if values.ndim != 1 or not (values.size == 0 or np.issubdtype(values.dtype, np.number)):
            raise InputError("labels must be a flat sequence of 0/1", source=source,
                             protein=protein)
        values = np.where(np.isin(values, (0, 1, -1)), values, -2).astype(np.int64)
    if len(values) != length:
        raise InputError(f"labels have length {len(values)} but the sequence has {length}",
                         source=source, protein=protein)
    bad = np.flatnonzero(values == -2)
    if len(bad):
        shown = raw[bad[0]] if isinstance(raw, str) else np.asarray(raw)[bad[0]]
        raise InputError(f"invalid label {shown!r} (allowed: {LABELS})",
                         source=source, protein=protein, position=int(bad[0]) + 1)
    mask = values >= 0
    return np.where(mask, values, 0).astype(np.uint8), mask


def check_id(pid, *, source: str | None = None) -> str:
    """A protein id every output format can carry: text, one word (CAID headers end at the
    first space), no control characters, no leading '>' (it would start another header), at
    most MAX_ID_CHARS characters (an .npz member name, a plot's file name)."""
    if not isinstance(pid, str):
        raise InputError(f"protein id {brief(pid)} is a {type(pid).__name__}, not text",
                         source=source)
    pid = pid.strip(TEXT_SPACE)
    if not pid:
        raise InputError("empty protein id", source=source)
    if len(pid) > MAX_ID_CHARS:
        raise InputError(f"protein id {brief(pid)} has {len(pid):,} characters, more than "
                         f"the {MAX_ID_CHARS} the output formats can carry", source=source)
    if pid.startswith(">") or any(c.isspace() or not c.isprintable() for c in pid):
        raise InputError(f"protein id {brief(pid)} must be one word, without spaces, tabs, "
                         "control characters or a leading '>', so that every output format "
                         "can carry it", source=source)
    return str(pid)


def make_protein(pid: str, seq: str, labels=None, *, source: str | None = None) -> Protein:
    """A validated protein; ``labels`` is anything ``parse_labels`` takes, or None."""
    pid = check_id(pid, source=source)
    seq = clean_sequence(seq, protein=pid, source=source)
    if labels is None:
        return Protein(pid, seq)
    lab, mask = parse_labels(labels, length=len(seq), protein=pid, source=source)
    return Protein(pid, seq, lab, mask)


def residue_rows(seq: str, protein: str | None = None) -> np.ndarray:
    """Each residue's row in a table indexed like ``ALPHABET`` -> (L,) int64; InputError
    naming the protein and position of anything else."""
    if seq.isascii():
        rows = _ROW_OF_BYTE[np.frombuffer(seq.encode(), dtype=np.uint8)]
        bad = np.flatnonzero(rows < 0)
    else:
        rows, bad = None, _first_invalid(seq)
    if len(bad):
        pos = int(bad[0])
        raise InputError(f"invalid residue {seq[pos]!r} (allowed: {ALPHABET})",
                         protein=protein, position=pos + 1)
    return rows


def check_unique_ids(proteins: Iterable[Protein], *, source: str | None = None) -> None:
    seen: set[str] = set()
    for p in proteins:
        if p.id in seen:
            raise InputError("duplicate protein id", source=source, protein=p.id)
        seen.add(p.id)


# ---- assessed residues ------------------------------------------------------------------------
# The one place that pools residues for training and fitting: only assessed ones (mask True),
# proteins in order, so a '-' never counts as 0 anywhere.

def assessed_labels(proteins: Sequence[Protein]) -> np.ndarray:
    """Labels of the assessed residues of every labelled protein, in order -> (N,) uint8."""
    labelled = [p.labels[p.mask] for p in proteins if p.has_labels]
    return np.concatenate(labelled).astype(np.uint8) if labelled else np.zeros(0, np.uint8)


def pooled(proteins: Sequence[Protein], arrays: Sequence[np.ndarray]
           ) -> tuple[np.ndarray, np.ndarray]:
    """Assessed residues of every labelled protein: ``(labels (N,) uint8, values (N, ...))``.

    ``arrays[i]`` belongs to ``proteins[i]``: (L,) scores, or (L, M) for M members.
    """
    if len(proteins) != len(arrays):
        raise ValueError(f"{len(arrays)} arrays for {len(proteins)} proteins")
    pairs = [(p, np.asarray(a)) for p, a in zip(proteins, arrays) if p.has_labels]
    for p, a in pairs:
        if len(a) != len(p):
            raise ValueError(f"protein {p.id}: {len(a)} values for {len(p)} residues")
    if not pairs:
        return np.zeros(0, np.uint8), np.zeros(0, np.float32)
    return (assessed_labels([p for p, _ in pairs]),
            np.concatenate([a[p.mask] for p, a in pairs]))


def check_residues(proteins: Iterable[Protein]) -> None:
    """InputError naming the protein and position of the first residue outside ``ALPHABET``
    (records made by ``make_protein`` are clean; this guards hand-made ones)."""
    for p in proteins:
        if not p.seq:
            raise InputError("empty sequence", protein=p.id)
        if p.seq.isascii() and _ALLOWED[np.frombuffer(p.seq.encode(), dtype=np.uint8)].all():
            continue
        pos = int(_first_invalid(p.seq)[0])
        raise InputError(f"invalid residue {p.seq[pos]!r} (allowed: {ALPHABET})",
                         protein=p.id, position=pos + 1)


def both_classes(labels: np.ndarray) -> bool:
    """Whether assessed labels (N,) hold both 0 and 1: what learning or fitting anything needs."""
    return bool((labels == 0).any() and (labels == 1).any())


def require_training(proteins: Sequence[Protein]) -> None:
    """What every track needs to learn disorder: labelled proteins, assessed residues of both
    classes. Raises InputError naming the protein, or saying what the labels hold."""
    if not proteins:
        raise InputError("training needs at least one protein")
    for p in proteins:
        if not p.has_labels:
            raise InputError("training protein has no labels", protein=p.id)
    check_residues(proteins)
    labels = assessed_labels(proteins)
    if not both_classes(labels):
        raise InputError("training needs assessed residues of both classes (0 ordered, 1 "
                         f"disordered); these labels hold {int((labels == 0).sum())} ordered "
                         f"and {int((labels == 1).sum())} disordered")
