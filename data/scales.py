"""Per-residue physico-chemical scales, as columns indexed like ``data.records.ALPHABET``.

Non-standard letters get explicit values, the same in every scale:
    B (Asx: D or N)      the mean of D and N
    Z (Glx: E or Q)      the mean of E and Q
    U (selenocysteine)   C's value, its sulphur-for-selenium twin
    O (pyrrolysine)      K's value, the lysine it is built on
    X (unknown)          the mean of the 20 standard residues, so it pulls no window either way
"""
from __future__ import annotations

import numpy as np

from idr_kit.data.records import ALPHABET, STANDARD_RESIDUES

# Kyte J, Doolittle RF (1982) "A simple method for displaying the hydropathic character of a
# protein", J Mol Biol 157:105-132, Table 2.
KYTE_DOOLITTLE = {
    "A": 1.8, "R": -4.5, "N": -3.5, "D": -3.5, "C": 2.5, "Q": -3.5, "E": -3.5, "G": -0.4,
    "H": -3.2, "I": 4.5, "L": 3.8, "K": -3.9, "M": 1.9, "F": 2.8, "P": -1.6, "S": -0.8,
    "T": -0.7, "W": -0.9, "Y": -1.3, "V": 4.2,
}

# Side-chain charge at pH 7 as CIDER counts it (Holehouse AS et al. (2017) Biophys J
# 112:16-21; Das RK, Pappu RV (2013) PNAS 110:13392-13397): K, R +1; D, E -1; His, mostly
# neutral at pH 7 (pKa about 6), counts 0.
CHARGE = {letter: 0.0 for letter in STANDARD_RESIDUES} | {"K": 1.0, "R": 1.0, "D": -1.0,
                                                          "E": -1.0}

# Campen A, Williams RM, Brown CJ, Meng J, Uversky VN, Dunker AK (2008) "TOP-IDP-scale: a new
# amino acid scale measuring propensity for intrinsic disorder", Protein Pept Lett
# 15:956-963, Table 1. Higher is more disorder-promoting. K above S is as published.
TOP_IDP = {
    "W": -0.884, "F": -0.697, "Y": -0.510, "I": -0.486, "M": -0.397, "L": -0.326,
    "V": -0.121, "N": 0.007, "C": 0.020, "T": 0.059, "A": 0.060, "G": 0.166, "R": 0.180,
    "D": 0.192, "H": 0.303, "Q": 0.318, "K": 0.586, "S": 0.341, "E": 0.736, "P": 0.987,
}


def _with_extras(scale: dict[str, float]) -> np.ndarray:
    """A standard-residue scale extended to X U B Z O as the module docstring says -> (25,)."""
    full = dict(scale)
    full["B"] = (scale["D"] + scale["N"]) / 2
    full["Z"] = (scale["E"] + scale["Q"]) / 2
    full["U"] = scale["C"]
    full["O"] = scale["K"]
    full["X"] = float(np.mean([scale[a] for a in STANDARD_RESIDUES]))
    return np.array([full[letter] for letter in ALPHABET], dtype=np.float64)


# Columns of the per-residue scale matrix. "charged" (|charge|) averages to the fraction of
# charged residues (FCR) over a window; "charge" averages to the net charge per residue (NCPR).
SCALE_NAMES = ("hydropathy", "charge", "charged", "top_idp")
SCALE_TABLE = np.stack([
    _with_extras(KYTE_DOOLITTLE),
    _with_extras(CHARGE),
    _with_extras({letter: abs(value) for letter, value in CHARGE.items()}),
    _with_extras(TOP_IDP),
], axis=1)  # (len(ALPHABET), len(SCALE_NAMES))
