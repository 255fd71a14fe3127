"""Overlapping windows for proteins longer than a backbone can read, and their stitching.

A backbone with absolute positions reads at most `size` residues (1022 for ESM-2: 1024
positions less the start and end tokens; 510 for a BERT with 512). A longer protein is cut
into spans of `size` residues that overlap by at least `overlap`, so every residue is also
seen with context on both sides in some window; the per-window probabilities are then
averaged where windows overlap. Spans are half-open [start, end) residue indices.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

# Residues that neighbouring windows share by default (every torch track's, so a frozen
# backbone's cached windows serve the token track and lgbm's embeddings alike).
OVERLAP = 128


def plan_windows(length: int, size: int, overlap: int) -> list[tuple[int, int]]:
    """Spans of at most `size` covering 0..length, consecutive ones sharing >= `overlap` residues.

    One span when length <= size. Otherwise spans start every `size - overlap` residues and
    the last is shifted left to end exactly at `length` (a full window, not a short tail).
    """
    if size < 1 or not 0 <= overlap < size:
        raise ValueError(f"need size >= 1 and 0 <= overlap < size, got size={size}, "
                         f"overlap={overlap}")
    if length < 1:
        raise ValueError(f"need a protein of at least one residue, got length {length}")
    if length <= size:
        return [(0, length)]
    starts = list(range(0, length - size, size - overlap)) + [length - size]
    return [(start, start + size) for start in starts]


def stitch(length: int, spans: Sequence[tuple[int, int]],
           pieces: Sequence[np.ndarray]) -> np.ndarray:
    """(length,) float32: each residue is the mean of the values the windows covering it gave.

    pieces[k] is (end_k - start_k,) for spans[k]. Raises ValueError for a piece of the wrong
    length, a span outside 0..length, or a residue no span covers.
    """
    if len(spans) != len(pieces):
        raise ValueError(f"{len(spans)} spans but {len(pieces)} pieces")
    total = np.zeros(length, dtype=np.float64)
    count = np.zeros(length, dtype=np.int64)
    for (start, end), piece in zip(spans, pieces):
        piece = np.asarray(piece, dtype=np.float64)
        if not 0 <= start <= end <= length:
            raise ValueError(f"span ({start}, {end}) lies outside a protein of length {length}")
        if piece.shape != (end - start,):
            raise ValueError(f"span ({start}, {end}) got a piece of shape {piece.shape}")
        total[start:end] += piece
        count[start:end] += 1
    uncovered = np.flatnonzero(count == 0)
    if len(uncovered):
        raise ValueError(f"residue {uncovered[0] + 1} (1-based) is covered by no window")
    return (total / count).astype(np.float32)
