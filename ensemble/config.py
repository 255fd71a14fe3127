"""Settings of the ensemble track: importable without its blenders' scipy and scikit-learn."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

from idr_kit.seqnet.config import STYLES
from idr_kit.tracks import TrackConfig, config_class, parse_overrides


@dataclass(frozen=True)
class EnsembleConfig(TrackConfig):
    members: tuple = ("w2v", "lgbm")  # registered track names
    member_settings: tuple = ()  # "lgbm.num_leaves=63": a member's setting, as --set gives it
    blender: str = "stack"  # mean | weighted | rank | stack (blend.py)
    metric: str = "auc"  # what the weighted blend maximises: auc | f1
    folds: int = 5  # folds for the blend when the run gives none (--folds 0)
    # The label style every member that has one predicts in ("nox", "pdb"); "": each its own.
    style: str = ""
    FLAGS: ClassVar[dict[str, str]] = {
        "members": "ensemble members: comma-separated track names, e.g. w2v,lgbm,metapredict"}

    def __post_init__(self):
        super().__post_init__()
        if self.style and self.style not in STYLES:
            raise ValueError(f"unknown style {self.style!r}; expected one of {', '.join(STYLES)}")

    def components(self) -> dict[str, TrackConfig]:
        return {name: self.member_config(name) for name in self.members}

    def member_config(self, name: str) -> TrackConfig:
        mine = [s.split(".", 1)[1] for s in self.member_settings if s.split(".", 1)[0] == name]
        cls = config_class(name)
        shared = {"seed": self.seed}
        if self.style and "style" in {f.name for f in dataclasses.fields(cls)}:
            shared["style"] = self.style
        return cls(**{**shared, **parse_overrides(cls, mine)})
