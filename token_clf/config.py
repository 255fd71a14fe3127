"""Settings of the esm and bert tracks: what a token classifier learns with (no torch here).

Where it runs (device, precision, threads, checkpoint and cache folders) is the run's Runtime
(runtime.py), never part of this config.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from idr_kit.data.errors import SettingError
from idr_kit.data.fields import Range
from idr_kit.nn.config import LoopConfig
from idr_kit.nn.windows import OVERLAP

MODES = ("frozen", "lora", "full")  # what trains (model.py)


@dataclass(frozen=True)
class EsmConfig(LoopConfig):
    backbone: str = "esm2_t6_8M_UR50D"  # an ESM-2 name, antiberty, or a transformers folder
    weights: str = ""  # a local fair-esm checkpoint (.pt) for the backbone named above
    from_scratch: bool = False  # random backbone weights: only when asked, never as a fallback
    mode: str = "frozen"  # frozen | lora | full (model.py)
    window: int = 0  # residues per window; 0: the backbone's limit (1022 for ESM-2)
    overlap: int = OVERLAP  # residues shared by neighbouring windows, averaged when stitched
    # The head: 0 is linear per residue; >0 projects to head_hidden channels and convolves
    # head_kernel residues (model.Head). Frozen AntiBERTy, 20% of train.pkl held out (never
    # valid.fasta): linear AUC 0.740; a direct convolution of all 512 dims, 32 channels x 15
    # residues 0.791, 64 x 31 0.804; the projected 64 x 31 here 0.797 at a third of the cost.
    head_hidden: int = 64  # the head's channels (0: linear per residue; see above)
    head_kernel: int = 31  # residues the head's convolution reads
    dropout: float = 0.1  # dropout in the head
    lora_r: int = 8  # LoRA's rank (mode lora)
    lora_alpha: int = 16  # LoRA's scale (mode lora)
    lora_dropout: float = 0.05  # dropout on LoRA's input (mode lora)
    RANGES: ClassVar[dict[str, Range]] = {
        "window": Range(0, 100_000), "overlap": Range(0, 100_000),
        "head_hidden": Range(0, 8192), "head_kernel": Range(1, 1001), "dropout": Range(0, 0.99),
        "lora_r": Range(1, 1024), "lora_alpha": Range(0, 1e5, True),
        "lora_dropout": Range(0, 0.99)}

    def __post_init__(self):
        super().__post_init__()
        if self.mode not in MODES:
            raise SettingError(f"unknown mode {self.mode!r}; expected one of {', '.join(MODES)}")


@dataclass(frozen=True)
class BertConfig(EsmConfig):
    backbone: str = "antiberty"  # the protein BERT inside the antiberty wheel (nn/backbones.py)
