"""Out-of-fold predictions on the training set, and the threshold tuned on them.

Folds are protein-level and saved once (data/splits.py). Each fold's predictions come from a track
trained on the other folds, so the threshold is tuned on predictions for proteins the model never saw,
and never on the data being predicted. The out-of-fold arrays are kept as artefacts: the ensemble
learns its blend from them.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from tqdm.auto import tqdm

from idr_kit.data.metrics import f1_max
from idr_kit.data.probs import read_npz, write_npz
from idr_kit.data.records import Protein

# Used when no out-of-fold predictions exist to tune on (--folds 0): the natural cut of a probability.
DEFAULT_THRESHOLD = 0.5


def pooled(proteins: Sequence[Protein], probs: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Assessed residues of all proteins: ``(y_true (N,) uint8, y_score (N,) float32)``."""
    labelled = [(p, s) for p, s in zip(proteins, probs) if p.has_labels]
    if not labelled:
        return np.zeros(0, np.uint8), np.zeros(0, np.float32)
    y = np.concatenate([p.labels[p.mask] for p, _ in labelled])
    s = np.concatenate([np.asarray(s, np.float32)[p.mask] for p, s in labelled])
    return y, s


def tune_threshold(proteins: Sequence[Protein], probs: Sequence[np.ndarray]) -> float:
    """The CAID F1-max threshold over the pooled assessed residues of ``proteins``."""
    y, s = pooled(proteins, probs)
    if len(y) == 0 or y.min() == y.max():
        raise ValueError("cannot tune a threshold: the training labels hold only one class")
    return float(f1_max(y, s)[1])


def fingerprint(config: dict, folds: Sequence[int], proteins: Sequence[Protein]) -> str:
    """Names a checkpoint: a change of config, folds or training data starts afresh."""
    digest = hashlib.sha256(json.dumps({"config": config, "folds": list(map(int, folds))},
                                       sort_keys=True).encode())
    for p in proteins:
        digest.update(f"{p.id}\n{p.seq}\n{p.label_string()}\n".encode())
    return digest.hexdigest()[:16]


def out_of_fold(make_track: Callable[[], object], proteins: Sequence[Protein],
                folds: Sequence[int], *, checkpoint_dir: Path | None = None,
                config: dict | None = None) -> list[np.ndarray]:
    """Predictions for every protein from a track trained without its fold.

    ``folds[i]`` is the fold of ``proteins[i]``. With ``checkpoint_dir``, each finished fold is
    saved there, and a rerun with the same ``config`` and folds resumes after the last one.
    """
    ks = sorted(set(folds))
    tag = fingerprint(config or {}, folds, proteins)
    out: list[np.ndarray | None] = [None] * len(proteins)
    for k in tqdm(ks, desc="out-of-fold", unit="fold"):
        held = [i for i, f in enumerate(folds) if f == k]
        probs = _load_fold(checkpoint_dir, tag, k, len(held))
        if probs is None:
            track = make_track().fit([p for p, f in zip(proteins, folds) if f != k])
            probs = track.predict_proba([proteins[i] for i in held])
            _save_fold(checkpoint_dir, tag, k, probs)
        for i, pr in zip(held, probs):
            out[i] = pr
    return out


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

