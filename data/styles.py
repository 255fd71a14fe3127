"""Label styles: how a labelled protein was annotated, and which proteins a style fits on.

    "nox"  every residue labelled; not annotated disordered is 0 (the competition's train.pkl)
    "pdb"  CAID's PDB references: 0 only where a structure is seen, '-' (not assessed) elsewhere

A labelled protein's style is read from its labels: one with unassessed residues is PDB-style,
one without is NOX-style. Which style a model learns changes its scores.
"""
from __future__ import annotations

from typing import Sequence

from idr_kit.data.errors import SettingError
from idr_kit.data.records import Protein

STYLES = ("nox", "pdb")


def label_style(protein: Protein) -> str:
    """"pdb" for a protein with unassessed ``-`` residues, "nox" for one without."""
    return "nox" if protein.mask is None or protein.mask.all() else "pdb"


def check_style(style: str, *, allow_none: bool = False) -> str:
    """``style`` itself, or SettingError naming the known ones ("" means none, if allowed)."""
    if style in STYLES or (allow_none and style == ""):
        return style
    raise SettingError(f"unknown style {style!r}; expected one of {', '.join(STYLES)}")


def style_value(style: str) -> float:
    """The style as a network input: 1.0 PDB style, 0.0 NOX."""
    return 1.0 if check_style(style) == "pdb" else 0.0


def in_style(proteins: Sequence[Protein], style: str) -> list[int]:
    """Indices of the proteins labelled in ``style``, or all of them when ``style`` is "" or
    none is labelled so."""
    chosen = [i for i, p in enumerate(proteins) if label_style(p) == style]
    return chosen if style and chosen else list(range(len(proteins)))
