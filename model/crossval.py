"""Out-of-fold predictions: every training protein predicted by a model that never saw it.

Folds are protein-level and fixed once per run (data/splits.py). Each fold's predictions come
from a fresh track trained on the other folds, so whatever is tuned on them (threshold,
smoothing, an ensemble's blend) is never tuned on predictions that saw their own labels. With a
checkpoint folder each finished fold is saved, and a rerun with the same config, folds and
training data resumes after it.
"""
from __future__ import annotations

import gc
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from idr_kit.data.digests import checkpoint_tag
from idr_kit.data.probs import read_npz, write_npz
from idr_kit.data.progress import progress, stage
from idr_kit.data.records import Protein


def out_of_fold(make_track: Callable[[], object], proteins: Sequence[Protein],
                folds: Sequence[int], *, checkpoint_dir: Path | None = None,
                config: dict | None = None) -> list[np.ndarray]:
    """Predictions for every protein from a track trained without its fold.

    ``folds[i]`` is the fold of ``proteins[i]``. ``make_track()`` gives a fresh track; each one
    is let go before the next is made, so two models never sit in memory together.
    """
    if len(folds) != len(proteins):
        raise ValueError(f"{len(folds)} folds for {len(proteins)} proteins")
    tag = checkpoint_tag(config or {}, folds, proteins)
    out: list[np.ndarray | None] = [None] * len(proteins)
    names = sorted(set(folds))
    for n, k in enumerate(progress(names, desc="out-of-fold", unit="fold"), 1):
        held = [i for i, f in enumerate(folds) if f == k]
        probs = _load_fold(checkpoint_dir, tag, k, len(held))
        if probs is None:
            # each fold's lines say whose, and every fold says each of its steps
            with stage(f"fold {n}/{len(names)}", every_step=True):
                probs = _fold(make_track, [p for p, f in zip(proteins, folds) if f != k],
                              [proteins[i] for i in held])
            _save_fold(checkpoint_dir, tag, k, probs)
        for i, pr in zip(held, probs):
            out[i] = pr
    return out


def _fold(make_track, train: list[Protein], held: list[Protein]) -> list[np.ndarray]:
    track = make_track().fit(train)
    probs = track.predict_proba(held)
    del track
    gc.collect()  # a GPU track's weights go now, before the next fold builds its own
    return probs


def _fold_path(checkpoint_dir: Path, tag: str, k: int) -> Path:
    return Path(checkpoint_dir) / f"fold{k}-{tag}.npz"


def _load_fold(checkpoint_dir, tag, k, n) -> list[np.ndarray] | None:
    if checkpoint_dir is None or not _fold_path(checkpoint_dir, tag, k).is_file():
        return None
    arrays = read_npz(_fold_path(checkpoint_dir, tag, k))
    return [arrays[str(j)] for j in range(n)] if len(arrays) == n else None


def _save_fold(checkpoint_dir, tag, k, probs) -> None:
    if checkpoint_dir is not None:
        # Keys are positions within the fold: ids may repeat across training files.
        write_npz(_fold_path(checkpoint_dir, tag, k), {str(j): p for j, p in enumerate(probs)})
