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

from idr_kit.data.errors import FileRefused
from idr_kit.data.networks import Signature, open_network, run_network
from idr_kit.data.records import ALPHABET, residue_rows
from idr_kit.nn.batching import token_budget_batches

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
        out: list = [None] * len(seqs)
        for index in token_budget_batches([len(s) for s in seqs], BUDGET, extra=0):
            columns = [_COLUMN_OF_ROW[residue_rows(seqs[i])] for i in index]
            lengths = np.array([len(c) for c in columns], dtype=np.int64)
            x = np.zeros((len(index), int(lengths.max()), len(COLUMNS)), np.float32)  # (B, T, 20)
            for b, cols in enumerate(columns):
                x[b, np.arange(len(cols)), cols] = 1.0
            raw = run_network(self.session, {"x": x, "lengths": lengths}, self.source)[0]
            if raw.shape != x.shape[:2]:  # (B, T)
                raise FileRefused(f"{self.source}: the network answered {raw.shape} for a batch "
                                 f"of {x.shape[:2]}")
            for b, i in enumerate(index):
                out[i] = np.round(np.clip(raw[b, :lengths[b]], 0, 1), DECIMALS).astype(np.float32)
        return out
