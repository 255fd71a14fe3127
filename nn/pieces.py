"""Proteins cut into pieces the backbone can see whole, and pieces collated into batches.

A piece is one window of one protein (``windows.plan_windows``): a protein no longer than the
backbone's window is a single piece. Batches place each piece's residues at token positions
``align.residue_slice`` of their row, exactly where ``align.encode_batch`` puts them, so
labels, masks and cached embeddings line up with the tokens by construction.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from idr_kit.data.records import Protein
from idr_kit.nn.align import Vocab, encode_batch, residue_slice
from idr_kit.nn.windows import plan_windows, stitch


@dataclass(frozen=True, eq=False)
class Piece:
    protein: int  # index into the list the piece was cut from
    start: int  # [start, end) residues of that protein
    end: int
    seq: str
    labels: np.ndarray | None = None  # (n,) float32 0/1
    mask: np.ndarray | None = None  # (n,) bool, True where assessed

    def __len__(self) -> int:
        return self.end - self.start


def cut(proteins: Sequence[Protein], window: int, overlap: int) -> list[Piece]:
    """Every protein's windows, in protein order; labels and masks come along when present.

    Neighbouring windows share ``overlap`` residues, but never more than half a window (a short
    custom window with the default overlap would otherwise barely advance).
    """
    overlap = min(overlap, window // 2)
    pieces = []
    for i, p in enumerate(proteins):
        for start, end in plan_windows(len(p.seq), window, overlap):
            labels = None if p.labels is None else p.labels[start:end].astype(np.float32)
            mask = None if p.mask is None else p.mask[start:end].copy()
            pieces.append(Piece(i, start, end, p.seq[start:end], labels, mask))
    return pieces


def reassemble(proteins: Sequence[Protein], pieces: Sequence[Piece],
               values: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Per-piece (n,) values -> per-protein (L,) float32, overlaps averaged."""
    spans: list[list] = [[] for _ in proteins]
    parts: list[list] = [[] for _ in proteins]
    for piece, value in zip(pieces, values):
        spans[piece.protein].append((piece.start, piece.end))
        parts[piece.protein].append(value)
    return [stitch(len(p.seq), s, v) for p, s, v in zip(proteins, spans, parts)]


def token_batch(pieces: Sequence[Piece], vocab: Vocab) -> dict[str, torch.Tensor]:
    """tokens (B, T) int64 and attention (B, T) bool, plus targets when the pieces have labels."""
    tokens, attention = encode_batch([p.seq for p in pieces], vocab)
    batch = {"tokens": torch.from_numpy(tokens), "attention": torch.from_numpy(attention)}
    return _with_targets(batch, pieces, tokens.shape[1])


def hidden_batch(pieces: Sequence[Piece], hidden: Sequence[np.ndarray]) -> dict[str, torch.Tensor]:
    """Cached embeddings, each (n + EXTRA_TOKENS, E) (``align.framed``), padded with zeros into
    hidden (B, T, E) + attention."""
    width = max(len(h) for h in hidden)
    out = np.zeros((len(hidden), width, hidden[0].shape[1]), dtype=np.float32)
    attention = np.zeros((len(hidden), width), dtype=bool)
    for row, h in enumerate(hidden):
        out[row, :len(h)] = h
        attention[row, :len(h)] = True
    batch = {"hidden": torch.from_numpy(out), "attention": torch.from_numpy(attention)}
    return _with_targets(batch, pieces, width)


def _with_targets(batch: dict, pieces: Sequence[Piece], width: int) -> dict:
    """Adds labels and mask (B, T) at the residue positions; special tokens and padding get mask False."""
    if any(p.labels is None for p in pieces):
        return batch
    labels = np.zeros((len(pieces), width), dtype=np.float32)
    mask = np.zeros((len(pieces), width), dtype=bool)
    for row, p in enumerate(pieces):
        residue_slice(labels[row], len(p))[:] = p.labels  # views: the same cut as the outputs'
        residue_slice(mask[row], len(p))[:] = p.mask
    batch.update(labels=torch.from_numpy(labels), mask=torch.from_numpy(mask))
    return batch
