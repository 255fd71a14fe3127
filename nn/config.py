"""What the training loop learns with (no torch here): every track it trains (esm, bert, llm,
bilstm) has these settings in its config, each with its own defaults where they differ."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from idr_kit.data.errors import SettingError
from idr_kit.data.fields import Range
from idr_kit.tracks import TrackConfig


@dataclass(frozen=True)
class LoopConfig(TrackConfig):
    epochs: int = 20  # passes over the training proteins (at most: early stopping)
    lr: float = 1e-3  # the peak learning rate (AdamW, warmed up, then decayed)
    weight_decay: float = 0.01  # AdamW's weight decay
    warmup: float = 0.05  # fraction of all optimiser steps spent ramping the rate up
    grad_clip: float = 1.0  # max gradient norm; 0 turns clipping off
    accumulate: int = 1  # batches per optimiser step
    token_budget: int = 8192  # padded tokens per batch: long proteins get small batches
    pos_weight: float = 1.0  # weight of disordered residues in the loss
    valid_fraction: float = 0.1  # proteins held out for early stopping
    patience: int = 3  # epochs without a better held-out loss before stopping
    max_steps: int = 0  # cap on optimiser steps (0: none), for smoke runs and benchmarks
    RANGES: ClassVar[dict[str, Range]] = {
        "epochs": Range(1, 10_000), "lr": Range(0, 10, True), "weight_decay": Range(0, 10),
        "warmup": Range(0, 1), "grad_clip": Range(0, 1e6), "accumulate": Range(1, 10_000),
        "token_budget": Range(1, 10 ** 8), "pos_weight": Range(0, 1e4, True),
        "valid_fraction": Range(0, 0.9), "patience": Range(1, 10_000),
        "max_steps": Range(0, 10 ** 9)}


@dataclass(frozen=True)
class SeqNetConfig(LoopConfig):
    """The bilstm network's settings (nn/seqnet.py's SeqNet), for the tracks that train it
    (bilstm, distilled): chosen on MMseqs2-grouped folds of both training files."""
    embed: int = 32  # each residue's letter and scales, projected
    conv_channels: int = 64  # a convolution over neighbouring residues
    conv_kernel: int = 9  # residues the convolution reads (odd)
    hidden: int = 48  # LSTM units per direction
    layers: int = 2  # bidirectional LSTM layers
    dropout: float = 0.1  # dropout between layers
    epochs: int = 12
    lr: float = 3e-3
    # Far beyond what a CPU trains; the caps keep a model folder from asking for gigabytes.
    RANGES: ClassVar[dict[str, Range]] = {
        "embed": Range(1, 1024), "conv_channels": Range(1, 1024), "conv_kernel": Range(1, 101),
        "hidden": Range(1, 1024), "layers": Range(1, 8), "dropout": Range(0, 0.99)}

    def __post_init__(self):
        super().__post_init__()
        if self.conv_kernel < 1 or self.conv_kernel % 2 == 0:
            raise SettingError(f"conv_kernel must be odd and >= 1, got {self.conv_kernel}")

    def network(self) -> dict:
        """The network's shape, as SeqNet and nn.numpy_forward take it (dropout aside)."""
        return dict(embed=self.embed, conv_channels=self.conv_channels, kernel=self.conv_kernel,
                    hidden=self.hidden, layers=self.layers)
