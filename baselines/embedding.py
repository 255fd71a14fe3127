"""Residue vectors learned by Word2Vec, kept as a plain table so predicting needs no gensim.

The table has one row per letter of ``data.records.ALPHABET`` (20 standard residues, then
X U B Z O). A letter Word2Vec never saw in training (often U, B, Z, O, sometimes X) keeps a
row of zeros, so it adds nothing to a window mean; this is the official baseline's behaviour
for unseen residues and needs no invented vector.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from idr_kit.data.records import ALPHABET, residue_rows


def embed(seq: str, table: np.ndarray, protein: str | None = None) -> np.ndarray:
    """Each residue's vector: (L,) sequence, (len(ALPHABET), D) table -> (L, D) float32."""
    return table[residue_rows(seq, protein)]


def train_table(seqs: Sequence[str], *, vector_size: int, seed: int) -> np.ndarray:
    """Word2Vec over sequences as lists of residues -> (len(ALPHABET), vector_size) float32.

    gensim defaults otherwise (CBOW, window 5, 5 epochs, negative sampling), as the
    challenge's baseline ran it; ``workers=1`` with a seed makes the vectors reproducible.
    """
    from gensim.models import Word2Vec  # only training needs gensim

    model = Word2Vec(sentences=[list(s) for s in seqs], vector_size=vector_size,
                     min_count=1, workers=1, seed=seed)
    table = np.zeros((len(ALPHABET), vector_size), dtype=np.float32)
    for row, letter in enumerate(ALPHABET):
        if letter in model.wv.key_to_index:
            table[row] = model.wv[letter]
    return table
