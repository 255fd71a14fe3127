"""Settings of the ensemble track: importable without its blenders' scipy and scikit-learn."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from idr_kit.tracks import TrackConfig, config_class, parse_overrides


@dataclass(frozen=True)
class EnsembleConfig(TrackConfig):
    members: tuple = ("w2v", "lgbm")  # registered track names
    member_settings: tuple = ()  # "lgbm.num_leaves=63": a member's setting, as --set gives it
    blender: str = "stack"  # mean | weighted | rank | stack (blend.py)
    metric: str = "auc"  # what the weighted blend maximises: auc | f1
    folds: int = 5  # folds for the blend when the run gives none (--folds 0)
    FLAGS: ClassVar[dict[str, str]] = {
        "members": "ensemble members: comma-separated track names, e.g. w2v,lgbm,metapredict"}

    def components(self) -> tuple[str, ...]:
        return tuple(self.members)

    def member_config(self, name: str) -> TrackConfig:
        mine = [s.split(".", 1)[1] for s in self.member_settings if s.split(".", 1)[0] == name]
        cls = config_class(name)
        return cls(**{"seed": self.seed, **parse_overrides(cls, mine)})
