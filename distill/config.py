"""Settings of the distilled track (no torch here)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from idr_kit.data.errors import SettingError
from idr_kit.data.fields import Range
from idr_kit.data.residue_features import AUTO
from idr_kit.data.styles import STYLES, check_style
from idr_kit.nn.config import SeqNetConfig



@dataclass(frozen=True)
class DistilledConfig(SeqNetConfig):
    """The bilstm's network (SeqNetConfig) on labels and a teacher's soft targets."""
    # The label style predictions speak: "pdb" (CAID's, the one for disorder profiles), "nox"
    # (the competition's), or "auto": PDB style when any training protein is labelled so, else
    # NOX (a run on the competition's train.pkl alone). The network learns every style its
    # training proteins are labelled in, told each protein's.
    style: str = AUTO  # the label style predicted in (see above)
    # Soft targets, "STYLE=PATH": a teacher's probabilities for proteins labelled in STYLE, as
    # an .npz (id -> (L,) probabilities) or a folder of them (a run's oof/: each training
    # protein predicted by a model that never saw it). None: the labels alone.
    teachers: tuple = ()  # soft targets, STYLE=PATH (see above)
    # The loss: labels' masked BCE + teacher_weight x the teacher's BCE on every residue.
    teacher_weight: float = 1.0  # the teachers' weight in the loss (see above)
    RANGES: ClassVar[dict[str, Range]] = {"teacher_weight": Range(0, 100)}

    def __post_init__(self):
        super().__post_init__()
        if self.style != AUTO:
            check_style(self.style)
        for entry in self.teachers:
            style, sep, path = str(entry).partition("=")
            if not sep or style not in STYLES or not path:
                raise SettingError(f"teachers are STYLE=PATH with STYLE one of "
                                   f"{', '.join(STYLES)}; got {entry!r}")
