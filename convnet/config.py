"""Settings of the convnet track (no torch here)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from idr_kit.data.errors import SettingError
from idr_kit.data.fields import Range
from idr_kit.data.residue_features import AUTO
from idr_kit.data.styles import check_style
from idr_kit.nn.config import LoopConfig

MEMBERS = ("metapredict",)  # networks whose scores the convnet can read as inputs
# What a network of the convnet reads: the residues' features, or those and the members' scores.
READS = ("residues", "stacked")


@dataclass(frozen=True)
class ConvNetConfig(LoopConfig):
    channels: int = 32  # the convolutions' channels
    kernel: int = 5  # residues each convolution reads (odd)
    dilations: tuple[int, ...] = (1, 2, 4, 8, 16, 1, 2, 4)  # a layer each: its residues' spacing
    dropout: float = 0.1  # dropout before each layer
    seeds: int = 1  # networks trained from seeds seed, seed + 1 ... whose probabilities are averaged
    epochs: int = 12  # passes over the training proteins (at most: early stopping)
    lr: float = 3e-3  # the peak learning rate (AdamW, warmed up, then decayed)
    # "pdb", "nox", or "auto": PDB style when any training protein is labelled so, else NOX
    style: str = AUTO  # the label style predicted in (it learns every style it is shown)
    # "metapredict": metapredict V3 (its network is exported from the metapredict wheel when
    # training and saved with the model; predicting needs neither)
    members: tuple[str, ...] = ()  # networks whose scores stacked networks read, averaged in
    # The prediction is the mean of each network's probabilities and each member's scores. On
    # grouped folds of both training files (3 folds, 2026-12-05) a "stacked" and a "residues"
    # network with metapredict averaged beat each of them, and metapredict alone, in both label
    # styles (PDB-labelled AUC 0.885 against 0.881, 0.871 and 0.878; NOX-labelled 0.791
    # against 0.790, 0.788 and 0.764).
    networks: tuple[str, ...] = ("residues",)  # what each network reads: residues | stacked
    RANGES: ClassVar[dict[str, Range]] = {
        "channels": Range(1, 1024), "kernel": Range(1, 101), "dilations": Range(1, 4096),
        "dropout": Range(0, 0.99), "seeds": Range(1, 16)}

    def __post_init__(self):
        super().__post_init__()
        if self.style != AUTO:
            check_style(self.style)
        if self.kernel % 2 == 0:
            raise SettingError(f"kernel must be odd, got {self.kernel}")
        if not 1 <= len(self.dilations) <= 64:
            raise SettingError(f"dilations: 1 to 64 layers, got {len(self.dilations)}")
        unknown = [m for m in self.members if m not in MEMBERS]
        if unknown or len(set(self.members)) < len(self.members):
            raise SettingError(f"members are some of {', '.join(MEMBERS)}, each once; got "
                               f"{', '.join(self.members)}")
        if not 1 <= len(self.networks) <= 8 or any(n not in READS for n in self.networks):
            raise SettingError(f"networks are 1 to 8 of {', '.join(READS)}; got "
                               f"{', '.join(self.networks)}")
        if "stacked" in self.networks and not self.members:
            raise SettingError("a stacked network reads the members' scores: name members "
                               "(members=metapredict)")

    def train_needs(self) -> tuple[tuple[str, str], ...]:
        """(module, extra) pairs training needs beyond the track's own: a member's wheel."""
        return (("metapredict", "metapredict"),) if "metapredict" in self.members else ()


def parameter_count(features: int, channels: int, kernel: int, layers: int) -> int:
    """The weights of one network (nn/convnet.py's ConvNet), from its settings: what a saved
    network's size is held to."""
    return (features * channels + channels + layers * (channels * channels * kernel + channels)
            + channels + 1)
