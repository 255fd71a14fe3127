"""Settings of the llm track: what a LoRA-tuned Qwen2.5 learns with (no torch here).

Where it runs (device, precision, threads, checkpoint folder, activation checkpointing) is the
run's Runtime (runtime.py), never part of this config.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from idr_kit.data.errors import SettingError
from idr_kit.data.fields import Range
from idr_kit.nn.config import LoopConfig
from idr_kit.nn.windows import OVERLAP

QWEN_7B_INSTRUCT = "Qwen/Qwen2.5-7B-Instruct"
MODES = ("generate", "head")
# Every linear projection of a Qwen2 block: attention and MLP.
LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass(frozen=True)
class LlmConfig(LoopConfig):
    model_name: str = QWEN_7B_INSTRUCT  # a hub id or a local model directory
    from_scratch: bool = False  # random base weights: benchmarks only, never a fallback
    mode: str = "generate"  # generate | head (model.py)
    epochs: int = 2
    lr: float = 2e-4
    weight_decay: float = 0.0
    warmup: float = 0.03
    patience: int = 2
    # token_budget counts prompt and answer tokens: similar lengths are batched together
    window: int = 1000  # residues per chunk; longer proteins are cut with overlap and stitched
    overlap: int = OVERLAP  # residues shared by neighbouring windows, averaged when stitched
    lora_r: int = 16  # LoRA's rank
    lora_alpha: int = 32  # LoRA's scale
    lora_dropout: float = 0.05  # dropout on LoRA's input
    lora_targets: tuple = LORA_TARGETS  # the modules LoRA adapts
    head_hidden: int = 64  # head mode: nn.head.Head over the residues' hidden states
    head_kernel: int = 31  # residues the head's convolution reads (mode head)
    dropout: float = 0.1  # dropout in the head (mode head)
    # pos_weight applies to head mode only
    RANGES: ClassVar[dict[str, Range]] = {
        "window": Range(1, 100_000), "overlap": Range(0, 100_000), "lora_r": Range(1, 1024),
        "lora_alpha": Range(0, 1e5, True), "lora_dropout": Range(0, 0.99),
        "head_hidden": Range(0, 8192), "head_kernel": Range(1, 1001), "dropout": Range(0, 0.99)}

    def __post_init__(self):
        super().__post_init__()
        if self.mode not in MODES:
            raise SettingError(f"unknown mode {self.mode!r}; expected one of {', '.join(MODES)}")
        if self.mode == "generate" and self.pos_weight != 1:
            raise SettingError("pos_weight applies to mode=head only")
