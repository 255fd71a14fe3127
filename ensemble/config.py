"""Settings of the ensemble track: importable without its blenders' scipy and scikit-learn."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

from idr_kit.data.fields import Range, defaults_of, parse_pairs
from idr_kit.data.styles import check_style
from idr_kit.tracks import TrackConfig, config_class


@dataclass(frozen=True)
class EnsembleConfig(TrackConfig):
    members: tuple = ("w2v", "lgbm")  # registered track names
    member_settings: tuple = ()  # "lgbm.num_leaves=63": a member's setting, as --set gives it
    blender: str = "stack"  # mean | weighted | rank | stack (blend.py)
    metric: str = "auc"  # what the weighted blend maximises: auc | f1
    folds: int = 5  # folds for the blend when the run gives none (--folds 0)
    # The label style every member that has one predicts in ("nox", "pdb"); "": each its own.
    style: str = ""  # the label style its members and blend fit to ("": the labels')
    RANGES: ClassVar[dict[str, Range]] = {"folds": Range(2, 100)}

    def __post_init__(self):
        super().__post_init__()
        check_style(self.style, allow_none=True)

    def components(self) -> dict[str, TrackConfig]:
        return {name: self.member_config(name) for name in self.members}

    def member_config(self, name: str) -> TrackConfig:
        mine = [s.split(".", 1)[1] for s in self.member_settings if s.split(".", 1)[0] == name]
        cls = config_class(name)
        shared = {"seed": self.seed}
        if self.style and "style" in {f.name for f in dataclasses.fields(cls)}:
            shared["style"] = self.style
        return cls(**{**shared, **parse_pairs(mine, defaults_of(cls()))})
