"""External predictors on the track contract: members an ensemble can blend, trained elsewhere.

``metapredict`` is metapredict V3 (``pip install metapredict``, runs offline): a deep network
trained by its authors on far more data than a competition ships. ``fit`` learns nothing; it
only checks that metapredict is installed, so an ensemble run fails before its first fold.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from idr_kit.data.records import Protein

# metapredict reads the 20 standard residues only: the others become their nearest standard
# residue (the ambiguity codes B = D/N and Z = E/Q as the amide, selenocysteine as cysteine,
# pyrrolysine as lysine) and X, unknown, as glycine, the most neutral choice for disorder.
STANDARD_FOR = str.maketrans({"B": "N", "Z": "Q", "U": "C", "O": "K", "X": "G"})
BATCH = 2000  # proteins per call: metapredict batches internally; this bounds the dict


@dataclass(frozen=True)
class MetapredictConfig:
    version: str = "V3"
    seed: int = 0  # nothing is random; kept because every config has one


class MetapredictTrack:
    Config = MetapredictConfig

    def __init__(self, config: MetapredictConfig | None = None):
        self.config = config if config is not None else self.Config()

    def fit(self, proteins: Sequence[Protein]) -> "MetapredictTrack":
        _metapredict()
        return self

    def predict_proba(self, proteins: Sequence[Protein]) -> list[np.ndarray]:
        meta = _metapredict()
        out: list[np.ndarray] = []
        for start in range(0, len(proteins), BATCH):
            chunk = proteins[start:start + BATCH]
            # Keys are positions: ids may repeat across files.
            found = meta.predict_disorder({str(i): p.seq.translate(STANDARD_FOR)
                                           for i, p in enumerate(chunk)},
                                          version=self.config.version)
            out += [np.clip(np.asarray(found[str(i)][1], dtype=np.float32), 0, 1)
                    for i in range(len(chunk))]
        return out

    def save(self, directory: str | Path) -> None:
        """Nothing learnt: the config in track.json is the whole model."""

    @classmethod
    def load(cls, directory: str | Path, config: MetapredictConfig) -> "MetapredictTrack":
        return cls(config)


def _metapredict():
    try:
        import metapredict
    except ImportError as err:
        raise ImportError("the metapredict member needs metapredict: pip install metapredict "
                          "(or the kit's 'bench' extra)") from err
    return metapredict
