"""metapredict V3 as a member of the shipped predictor, run by ONNX Runtime alone.

    member = MetapredictMember(onnx_bytes, threads=1, source="model/metapredict_v3.onnx")
    scores = member.predict(seqs)          # one (L,) float32 array each, as metapredict gives

The network is exported from the installed metapredict wheel (nn/metapredict.py) when a model
is built, and saved in its folder with metapredict's MIT licence; predicting needs neither
torch nor metapredict. What metapredict does around its network is done here too, exactly:
residues one-hot in the order ACDEFGHIKLMNPQRSTVWY, outputs clipped to [0, 1] and rounded to
4 decimals. metapredict reads the 20 standard residues only; the kit's others become what the
kit's metapredict track gives it (ensemble/peers.py: B -> N, Z -> Q, U -> C, O -> K, X -> G).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from idr_kit.data.networks import Signature, open_network
from idr_kit.data.records import ALPHABET, residue_rows
from idr_kit.nn.residue_runs import run_residues

NETWORK_FILE = "metapredict_v3.onnx"
LICENCE_FILE = "metapredict_LICENSE.txt"
COLUMNS = "ACDEFGHIKLMNPQRSTVWY"  # metapredict's one-hot order (backend/encode_sequence.py)
STANDARD_FOR = {"X": "G", "U": "C", "B": "N", "Z": "Q", "O": "K"}
# The kit's residue row (data.records.ALPHABET) -> metapredict's column.
_COLUMN_OF_ROW = np.array([COLUMNS.index(STANDARD_FOR.get(aa, aa)) for aa in ALPHABET])
DECIMALS = 4  # metapredict's round_values
# Residues per batch: smaller batches stay in the caches. On valid.fasta x 3 (2 cores,
# 2026-12-05) the whole default model ran 160k residues/s at 65,536 and 183k at 16,384, with
# the same outputs bit for bit, and ONNX Runtime's LSTM needs far less memory.
BUDGET = 16_384
SIGNATURE = Signature(inputs=(("x", "tensor(float)", ("batch", "residues", len(COLUMNS))),
                              ("lengths", "tensor(int64)", ("batch",))),
                      outputs=(("scores", "tensor(float)", ("batch", "residues")),))


class MetapredictMember:
    """metapredict V3's disorder scores, from its exported network."""

    def __init__(self, data: bytes, threads: int, source: str):
        self.source = source
        self.session = open_network(data, threads, SIGNATURE, source)

    def predict(self, seqs: Sequence[str]) -> list[np.ndarray]:
        """One (L,) float32 array of scores in [0, 1] per sequence."""
        raw = run_residues(self.session, [len(s) for s in seqs], lambda i: one_hot(seqs[i]),
                           self.source, BUDGET)
        return [np.round(np.clip(r, 0, 1), DECIMALS).astype(np.float32) for r in raw]


def one_hot(seq: str) -> np.ndarray:
    """(L, 20) float32: each residue's column in metapredict's order set to 1."""
    columns = _COLUMN_OF_ROW[residue_rows(seq)]
    x = np.zeros((len(seq), len(COLUMNS)), np.float32)
    x[np.arange(len(seq)), columns] = 1.0
    return x
