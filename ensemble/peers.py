"""External predictors on the track contract: members an ensemble can blend, trained elsewhere.

``metapredict`` is metapredict V3 (``pip install metapredict``, runs offline): a deep network
trained by its authors on far more data than a competition ships. ``fit`` learns nothing (the
registry has already checked that metapredict is installed, before any work).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from idr_kit.data.progress import progress
from idr_kit.data.records import Protein
from idr_kit.tracks import Track, TrackConfig

# metapredict reads the 20 standard residues only: the others become their nearest standard
# residue (the ambiguity codes B = D/N and Z = E/Q as the amide, selenocysteine as cysteine,
# pyrrolysine as lysine) and X, unknown, as glycine, the most neutral choice for disorder.
STANDARD_FOR = str.maketrans({"B": "N", "Z": "Q", "U": "C", "O": "K", "X": "G"})


@dataclass(frozen=True)
class MetapredictConfig(TrackConfig):
    version: str = "V3"  # metapredict's network: V3, V2 or V1


class MetapredictTrack(Track):
    name = "metapredict"
    Config = MetapredictConfig
    learns = False

    def _fit(self, proteins: list[Protein], oof) -> None:
        """Nothing to learn: metapredict was trained by its authors."""

    def _predict(self, proteins: list[Protein]) -> list[np.ndarray]:
        import metapredict as meta
        # One protein per call: metapredict's batches pad proteins together, which moves its
        # 4-decimal outputs by up to 1e-4 with the company a protein keeps; alone, a protein
        # always gets the same values (and on 2 CPU cores it is no slower: 2.7 s against
        # 3.7 s for 150 CAID proteins).
        return [np.clip(np.asarray(meta.predict_disorder({"p": p.seq.translate(STANDARD_FOR)},
                                                         version=self.config.version)["p"][1],
                                   dtype=np.float32), 0, 1)
                for p in progress(proteins, desc="metapredict", unit="protein")]

    def _save(self, directory: Path) -> None:
        """Nothing learnt: the config in track.json is the whole model."""

    def _load(self, directory: Path) -> None:
        """Nothing to read back."""
