"""Residue rows: per-protein feature matrices stacked for a per-residue classifier, and back.

A baseline turns each protein into a feature matrix (L, F); the classifier sees one row per
residue. Training keeps only assessed residues (``mask`` True), so a ``-`` never becomes a 0.
Prediction stacks proteins into chunks of bounded size and splits the answer back by length.
"""
from __future__ import annotations

from typing import Callable, Iterator, Sequence

import numpy as np

from idr_kit.data.progress import progress
from idr_kit.data.records import Protein

Featurize = Callable[[Protein], np.ndarray]  # protein -> (L, F) float32
PredictRows = Callable[[np.ndarray], np.ndarray]  # (N, F) -> (N,) P(disordered)

# Residues stacked per classifier call: large enough that per-call overhead vanishes,
# small enough that a chunk of 150 float32 features stays near 150 MB.
CHUNK_ROWS = 1 << 18


def training_rows(proteins: Sequence[Protein], featurize: Featurize) -> np.ndarray:
    """Features of assessed residues, proteins in order -> (N, F) float32.

    Filled into one preallocated array: stacking a list would briefly hold two copies.
    """
    total = int(sum(p.mask.sum() for p in proteins))
    rows, start = None, 0
    for p in progress(proteins, desc="features", unit="protein"):
        features = featurize(p)[p.mask]
        if rows is None:
            rows = np.empty((total, features.shape[1]), dtype=np.float32)
        rows[start:start + len(features)] = features
        start += len(features)
    return rows


def chunks(proteins: Sequence[Protein], max_rows: int = CHUNK_ROWS) -> Iterator[list[Protein]]:
    """Consecutive groups of at most ``max_rows`` residues (a longer protein goes alone)."""
    group, size = [], 0
    for p in proteins:
        if group and size + len(p) > max_rows:
            yield group
            group, size = [], 0
        group.append(p)
        size += len(p)
    if group:
        yield group


def predict_in_chunks(proteins: Sequence[Protein], featurize: Featurize,
                      predict: PredictRows,
                      prepare: Callable[[list[Protein]], None] | None = None) -> list[np.ndarray]:
    """One (L,) float32 probability array per protein, in order; ``prepare`` is told each
    chunk's proteins before they are featurized (to batch work the features share)."""
    out: list[np.ndarray] = []
    with progress(total=len(proteins), desc="predicting", unit="protein") as bar:
        for group in chunks(proteins):
            if prepare is not None:
                prepare(group)
            probs = predict(np.concatenate([featurize(p) for p in group]))
            probs = np.clip(probs, 0.0, 1.0).astype(np.float32)
            out.extend(np.split(probs, np.cumsum([len(p) for p in group])[:-1]))
            bar.update(len(group))
    return out
