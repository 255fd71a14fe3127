"""Settings of the bilstm track (no torch here): the network's are nn/config.py's SeqNetConfig."""
from __future__ import annotations

from dataclasses import dataclass

from idr_kit.data.styles import check_style
from idr_kit.nn.config import SeqNetConfig


@dataclass(frozen=True)
class BiLstmConfig(SeqNetConfig):
    # Residues per batch (padded; similar lengths together). On MMseqs2-grouped folds of both
    # training files (bench/tune.py), 8192 beat 32768: out-of-fold AUC / F1-max 0.775 / 0.495
    # against 0.763 / 0.489 on NOX labels, 0.865 / 0.722 against 0.857 / 0.716 on PDB-style
    # ones (four times the optimiser steps per epoch).
    token_budget: int = 8192
    # The label style predictions speak (data/styles.py): "nox", the competition's, or "pdb",
    # CAID's PDB references. Each training protein's style is read from its labels and the
    # network is told it, so it learns both.
    style: str = "nox"  # the label style predicted in: nox or pdb (it learns both)

    def __post_init__(self):
        super().__post_init__()
        check_style(self.style)
