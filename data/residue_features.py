"""Each residue as numbers the network reads (numpy only): its letter, its scales, the style.

    features(seq, style) -> (L, FEATURES) float32

columns: one-hot over ``data.records.ALPHABET`` (25 letters), the kit's physico-chemical scales
(``data.scales``, standardised over the 20 standard residues), and the label style the protein
is labelled or predicted in (``data.styles.style_value``: 0 NOX, 1 PDB).
"""
from __future__ import annotations

import numpy as np

from idr_kit.data.records import ALPHABET, residue_rows
from idr_kit.data.scales import SCALE_TABLE
from idr_kit.data.errors import InputError
from idr_kit.data.styles import label_style, style_value

_STANDARD = SCALE_TABLE[:20]
_SCALES = ((SCALE_TABLE - _STANDARD.mean(axis=0)) / _STANDARD.std(axis=0)).astype(np.float32)
# One row per letter: one-hot, then the letter's standardised scales.
_TABLE = np.concatenate([np.eye(len(ALPHABET), dtype=np.float32), _SCALES], axis=1)
FEATURES = _TABLE.shape[1] + 1  # + the style column


def features(seq: str, style: float, protein: str | None = None) -> np.ndarray:
    """(L, FEATURES) float32 for one sequence, the style column set to ``style``."""
    rows = _TABLE[residue_rows(seq, protein)]
    return np.concatenate([rows, np.full((len(seq), 1), style, np.float32)], axis=1)


def style_of(protein) -> float:
    """The style column of a labelled protein: the style its labels are in."""
    return style_value(label_style(protein))


AUTO = "auto"  # a network's style setting: PDB style when any training protein is so labelled


def resolved_style(style: str, proteins) -> str:
    """``style``, or for "auto" PDB style when any protein is labelled so, else NOX."""
    if style != AUTO:
        return style
    return "pdb" if any(label_style(p) == "pdb" for p in proteins) else "nox"


def training_style(style: str, proteins) -> str:
    """The label style a network told each protein's style learns to predict in
    (``resolved_style``); InputError when no training protein is labelled in it (the network
    would never have seen that style's column)."""
    chosen = resolved_style(style, proteins)
    if style_value(chosen) not in {style_of(p) for p in proteins}:
        raise InputError(f"style={style} predicts in the {chosen.upper()} label style, but no "
                         "training protein is labelled so")
    return chosen
