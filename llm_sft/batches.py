"""Examples and prompts collated into left-padded batches.

Left padding puts every row's last token at the same position, which is where decoding starts
(decode.py); model.positions numbers each row from its first real token, so the padding is
invisible to the model. Each tensor is (B, T).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from idr_kit.llm_sft.prompts import IGNORE_INDEX
from idr_kit.llm_sft.tokens import Example, Prompt
from idr_kit.nn.pieces import Piece


def _left_pad(rows: Sequence[np.ndarray], fill: int) -> tuple[np.ndarray, np.ndarray]:
    width = max(len(r) for r in rows)
    out = np.full((len(rows), width), fill, dtype=np.int64)
    attention = np.zeros((len(rows), width), dtype=bool)
    for i, r in enumerate(rows):
        out[i, width - len(r):] = r
        attention[i, width - len(r):] = True
    return out, attention


def example_batch(examples: Sequence[Example], pad: int) -> dict[str, torch.Tensor]:
    """ids, attention and targets (IGNORE_INDEX on padding) for generate-mode training."""
    ids, attention = _left_pad([e.ids for e in examples], pad)
    targets, _ = _left_pad([e.targets for e in examples], IGNORE_INDEX)
    return {"ids": torch.from_numpy(ids), "attention": torch.from_numpy(attention),
            "targets": torch.from_numpy(targets)}


def prompt_batch(prompts: Sequence[Prompt], pieces: Sequence[Piece], pad: int) -> dict[str, torch.Tensor]:
    """ids, attention and residues (True at each residue's token); labels and mask at the
    residue positions too when the pieces carry labels (head mode)."""
    ids, attention = _left_pad([p.ids for p in prompts], pad)
    width = ids.shape[1]
    residues = np.zeros_like(attention)
    labels = np.zeros(ids.shape, dtype=np.float32)
    mask = np.zeros_like(attention)
    for row, (prompt, piece) in enumerate(zip(prompts, pieces)):
        first = width - len(prompt.ids) + prompt.residues
        residues[row, first:first + len(piece)] = True
        if piece.labels is not None:
            labels[row, first:first + len(piece)] = piece.labels
            mask[row, first:first + len(piece)] = piece.mask
    batch = {"ids": torch.from_numpy(ids), "attention": torch.from_numpy(attention),
             "residues": torch.from_numpy(residues)}
    if all(p.labels is not None for p in pieces):
        batch.update(labels=torch.from_numpy(labels), mask=torch.from_numpy(mask))
    return batch


def residue_values(values: torch.Tensor, batch: dict, pieces: Sequence[Piece]) -> list[np.ndarray]:
    """(B, T) values -> one (n,) float32 array per piece, read at its residue positions."""
    values = values.float().cpu().numpy()
    residues = batch["residues"].numpy()
    out = [values[row][residues[row]] for row in range(len(pieces))]
    assert all(len(v) == len(p) for v, p in zip(out, pieces))
    return out
