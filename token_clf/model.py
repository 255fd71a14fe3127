"""The token classifier: a backbone encoder and a per-residue head (nn/head.py).

Shapes: tokens (B, T) int64 and attention (B, T) bool from ``align.encode_batch``; the encoder
gives hidden (B, T, E); the head gives one logit per token (B, T). Only residue positions are
ever read back (``align.unpad``): start, end and padding tokens are scored but never used.

Three modes decide what trains:
    frozen  the encoder is fixed; only the head trains, on embeddings computed once (cache.py)
    lora    low-rank adapters (peft) on the encoder's projections, plus the head
    full    every parameter
"""
from __future__ import annotations

import torch
from torch import nn

from idr_kit.nn.head import Head
from idr_kit.token_clf.config import MODES

LORA_MARK = "lora_"  # peft names every adapter parameter lora_A / lora_B / lora_embedding_*
# fair-esm's language-model and contact heads hang off the encoder but never reach the hidden
# states: training them would be wasted, and DistributedDataParallel rejects unused parameters.
UNUSED_HEADS = ("lm_head.", "contact_head.")


class TokenClassifier(nn.Module):
    """An ``backbones.Encoder`` and a ``Head``: tokens -> per-token disorder logits."""

    def __init__(self, encoder: nn.Module, head: Head):
        super().__init__()
        self.encoder, self.head = encoder, head

    def forward(self, tokens: torch.Tensor, attention: torch.Tensor) -> torch.Tensor:
        hidden = self.encoder(tokens, attention)  # (B, T, E), bf16 under autocast
        return self.head(hidden, attention)  # (B, T) float32


class TokenStep(nn.Module):
    """What training calls in the lora and full modes: a batch of tokens -> logits (B, T)."""

    def __init__(self, classifier: TokenClassifier):
        super().__init__()
        self.classifier = classifier

    def forward(self, batch: dict) -> torch.Tensor:
        return self.classifier(batch["tokens"], batch["attention"])


class HiddenStep(nn.Module):
    """What training calls in the frozen mode: cached hidden states -> logits (B, T)."""

    def __init__(self, head: Head):
        super().__init__()
        self.head = head

    def forward(self, batch: dict) -> torch.Tensor:
        return self.head(batch["hidden"], batch["attention"])


def add_lora(encoder: nn.Module, r: int, alpha: int, dropout: float) -> nn.Module:
    """Inject peft LoRA adapters into ``encoder.lora_targets`` in place; returns the encoder."""
    from peft import LoraConfig, inject_adapter_in_model
    config = LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout,
                        target_modules=list(encoder.lora_targets))
    return inject_adapter_in_model(config, encoder)


def set_trainable(model: TokenClassifier, mode: str) -> None:
    """Freeze what ``mode`` keeps fixed; the head always trains."""
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; expected one of {', '.join(MODES)}")
    for name, param in model.encoder.named_parameters():
        unused = any(head in name for head in UNUSED_HEADS)
        param.requires_grad = not unused and (mode == "full" or (mode == "lora" and LORA_MARK in name))
    for param in model.head.parameters():
        param.requires_grad = True
