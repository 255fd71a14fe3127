"""Settings of the esm and bert tracks: what a token classifier learns with (no torch here).

Where it runs (device, precision, threads, checkpoint and cache folders) is the run's Runtime
(tracks.py), never part of this config.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from idr_kit.tracks import TrackConfig

BACKBONE_HELP = ("backbone: a fair-esm ESM-2 name (esm2_t33_650M_UR50D ...), a transformers "
                 "model directory or hub id, or 'antiberty'")


@dataclass(frozen=True)
class LoopConfig(TrackConfig):
    """What the training loop (train.py) learns with; every track it trains (esm, bert, llm,
    bilstm) has these, with its own defaults where they differ."""
    epochs: int = 20
    lr: float = 1e-3
    weight_decay: float = 0.01
    warmup: float = 0.05  # fraction of all optimiser steps spent ramping the rate up
    grad_clip: float = 1.0  # max gradient norm; 0 turns clipping off
    accumulate: int = 1  # batches per optimiser step
    token_budget: int = 8192  # padded tokens per batch: long proteins get small batches
    pos_weight: float = 1.0  # weight of disordered residues in the loss
    valid_fraction: float = 0.1  # proteins held out for early stopping
    patience: int = 3  # epochs without a better held-out loss before stopping
    max_steps: int = 0  # cap on optimiser steps (0: none), for smoke runs and benchmarks


@dataclass(frozen=True)
class EsmConfig(LoopConfig):
    backbone: str = "esm2_t6_8M_UR50D"
    weights: str = ""  # a local fair-esm checkpoint (.pt) for the backbone named above
    from_scratch: bool = False  # random backbone weights: only when asked, never as a fallback
    mode: str = "frozen"  # frozen | lora | full (model.py)
    window: int = 0  # residues per window; 0: the backbone's limit (1022 for ESM-2)
    overlap: int = 128  # residues shared by neighbouring windows, averaged when stitched
    # The head: 0 is linear per residue; >0 projects to head_hidden channels and convolves
    # head_kernel residues (model.Head). Frozen AntiBERTy, 20% of train.pkl held out (never
    # valid.fasta): linear AUC 0.740; a direct convolution of all 512 dims, 32 channels x 15
    # residues 0.791, 64 x 31 0.804; the projected 64 x 31 here 0.797 at a third of the cost.
    head_hidden: int = 64
    head_kernel: int = 31
    dropout: float = 0.1
    lora_r: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.05
    FLAGS: ClassVar[dict[str, str]] = {
        "backbone": BACKBONE_HELP,
        "weights": "a local fair-esm checkpoint (.pt) for the --backbone named",
        "from_scratch": "train from random weights (never done unless asked)"}


@dataclass(frozen=True)
class BertConfig(EsmConfig):
    backbone: str = "antiberty"  # the protein BERT inside the antiberty wheel (backbones.py)
