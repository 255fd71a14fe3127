"""The per-residue head every torch track reads hidden states with, and the masked BCE loss.

Shapes: hidden (B, T, E) and attention (B, T) bool in; one logit per position (B, T) out.
Both run in fp32 even under bf16 autocast.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from idr_kit.data.errors import SettingError


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
            raise SettingError(f"head kernel must be odd and >= 1, got {kernel}")
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
