"""The token classifier: a backbone encoder, a per-residue head, and the masked BCE loss.

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
from torch.nn import functional as F

MODES = ("frozen", "lora", "full")
LORA_MARK = "lora_"  # peft names every adapter parameter lora_A / lora_B / lora_embedding_*
# fair-esm's language-model and contact heads hang off the encoder but never reach the hidden
# states: training them would be wasted, and DistributedDataParallel rejects unused parameters.
UNUSED_HEADS = ("lm_head.", "contact_head.")


class Head(nn.Module):
    """hidden (B, T, E) -> logits (B, T).

    ``hidden_size`` 0 is dropout + one linear layer per residue. Above 0, each residue is first
    projected to ``hidden_size`` channels, then a 1-D convolution of width ``kernel`` mixes
    neighbouring residues. Projecting before convolving costs E*H + H*H*k multiply-adds per
    residue instead of E*H*k: a tenth of a small backbone's arithmetic rather than a third.
    Positions outside ``attention`` are zeroed first, so a padded protein sees exactly the
    zeros it would see alone.
    """

    def __init__(self, embed_dim: int, hidden_size: int = 0, kernel: int = 1, dropout: float = 0.1):
        super().__init__()
        if kernel < 1 or kernel % 2 == 0:
            raise ValueError(f"head kernel must be odd and >= 1, got {kernel}")
        self.dropout = nn.Dropout(dropout)
        self.project = nn.Linear(embed_dim, hidden_size) if hidden_size else None
        self.conv = (nn.Conv1d(hidden_size, hidden_size, kernel, padding=kernel // 2)
                     if hidden_size else None)
        self.out = nn.Linear(hidden_size or embed_dim, 1)

    def forward(self, hidden: torch.Tensor, attention: torch.Tensor) -> torch.Tensor:
        # Always fp32, even under bf16 autocast: the head is a sliver of the arithmetic, and in
        # bf16 its probabilities would take a few thousand distinct values and differ between a
        # GPU and a CPU run of the same model.
        with torch.autocast(hidden.device.type, enabled=False):
            hidden = hidden.float()
            keep = attention.unsqueeze(-1).to(hidden.dtype)
            x = self.dropout(hidden * keep)  # (B, T, E)
            if self.conv is not None:
                x = self.project(x) * keep  # (B, T, H); bias zeroed outside the protein too
                x = F.gelu(self.conv(x.transpose(1, 2))).transpose(1, 2)  # (B, T, H)
                x = self.dropout(x)
            return self.out(x).squeeze(-1)  # (B, T) float32


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


def masked_bce(logits: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor,
               pos_weight: float | None = None) -> torch.Tensor:
    """Mean BCE over positions where ``mask`` is True; all (B, T), labels 0/1.

    Unassessed ``-`` residues, start/end tokens and padding carry mask False and contribute
    nothing, not even to the mean's denominator. ``pos_weight`` scales disordered residues' terms.
    """
    with torch.autocast(logits.device.type, enabled=False):  # fp32, like the head
        weight = None if pos_weight is None else torch.tensor(pos_weight, dtype=torch.float32,
                                                              device=logits.device)
        terms = F.binary_cross_entropy_with_logits(logits.float(), labels.float(),
                                                   reduction="none", pos_weight=weight)
        mask = mask.to(terms.dtype)
        return (terms * mask).sum() / mask.sum().clamp_min(1.0)
