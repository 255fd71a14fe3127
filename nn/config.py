"""What the training loop learns with (no torch here): every track it trains (esm, bert, llm,
bilstm) has these settings in its config, each with its own defaults where they differ."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

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
