"""What the training loop learns with (no torch here): every track it trains (esm, bert, llm,
bilstm) has these settings in its config, each with its own defaults where they differ."""
from __future__ import annotations

from dataclasses import dataclass

from idr_kit.tracks import TrackConfig


@dataclass(frozen=True)
class LoopConfig(TrackConfig):
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
