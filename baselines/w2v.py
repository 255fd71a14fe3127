"""The challenge's official baseline: Word2Vec residue vectors, a 4-residue mean, naive Bayes.

Each residue is described by the mean Word2Vec vector of residues ``i-2 .. i+1`` (the
baseline's ``seq[max(0, i-2):i+2]``, clipped at the termini); scikit-learn's GaussianNB,
fitted on every assessed residue, gives P(disordered). It is weak by design (valid AUC near
0.7) and is kept as the reference point every other track must beat.

Saved state is two ``.npz`` files: the residue vector table and GaussianNB's fitted arrays,
so prediction needs neither gensim nor pickle.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn.naive_bayes import GaussianNB

from idr_kit.baselines.config import W2VConfig
from idr_kit.baselines.embedding import embed, train_table
from idr_kit.baselines.rows import predict_in_chunks, training_rows
from idr_kit.data.arrays import read_arrays
from idr_kit.data.atomic import atomic_write
from idr_kit.data.records import ALPHABET, Protein, assessed_labels
from idr_kit.data.window_means import window_mean
from idr_kit.tracks import Track

# The baseline's slice seq[i-2:i+2]: two residues before i, i itself, one after.
CONTEXT_LEFT, CONTEXT_RIGHT = 2, 1
TABLE_FILE = "residue_vectors.npz"
NB_FILE = "gaussian_nb.npz"
# GaussianNB's fitted attributes; predict_proba reads theta_, var_, class_prior_, classes_.
NB_FIELDS = ("theta_", "var_", "class_prior_", "classes_", "epsilon_", "class_count_")


def nb_shapes(size: int) -> dict[str, tuple]:
    """The shapes the saved GaussianNB arrays must have, for vectors of ``size``."""
    return {"theta_": (2, size), "var_": (2, size), "class_prior_": (2,), "classes_": (2,),
            "epsilon_": (), "class_count_": (2,)}


class W2VTrack(Track):
    name = "w2v"
    Config = W2VConfig

    def _fit(self, proteins: list[Protein], oof) -> None:
        self.table_ = train_table([p.seq for p in proteins],
                                  vector_size=self.config.vector_size, seed=self.config.seed)
        rows = training_rows(proteins, self.features)
        self.nb_ = GaussianNB().fit(rows, assessed_labels(proteins))

    def features(self, protein: Protein) -> np.ndarray:
        """Mean residue vector over the baseline's window -> (L, vector_size) float32."""
        vectors = embed(protein.seq, self.table_, protein.id)  # (L, D)
        return window_mean(vectors, CONTEXT_LEFT, CONTEXT_RIGHT)

    def _predict(self, proteins: list[Protein]) -> list[np.ndarray]:
        disordered = int(np.flatnonzero(self.nb_.classes_ == 1)[0])
        return predict_in_chunks(proteins, self.features,
                                 lambda rows: self.nb_.predict_proba(rows)[:, disordered])

    def _save(self, directory: Path) -> None:
        with atomic_write(directory / TABLE_FILE, "wb") as handle:
            np.savez(handle, table=self.table_)
        with atomic_write(directory / NB_FILE, "wb") as handle:
            np.savez(handle, **{name: getattr(self.nb_, name) for name in NB_FIELDS})

    def _load(self, directory: Path) -> None:
        size = self.config.vector_size
        self.table_ = read_arrays(directory / TABLE_FILE, {"table": (len(ALPHABET), size)})["table"]
        self.nb_ = _gaussian_nb(read_arrays(directory / NB_FILE, nb_shapes(size)))


def _gaussian_nb(saved) -> GaussianNB:
    """A GaussianNB carrying saved fitted arrays, so sklearn's own predict_proba runs."""
    nb = GaussianNB()
    for name in NB_FIELDS:
        setattr(nb, name, saved[name])
    nb.n_features_in_ = nb.theta_.shape[1]
    return nb
