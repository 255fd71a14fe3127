"""The network: residue features -> a convolution -> a bidirectional LSTM -> one logit each.

Shapes: x (B, T, F) float32, lengths (B,) int64; logits (B, T). A protein is read whole, at any
length. Padding never reaches a real residue: features beyond a protein's end are zeroed before
the convolution (so its edge sees the zeros it would see alone), and each direction of the LSTM
runs forwards over a padded batch, the backward one over each protein reversed within its own
length, so that padding always comes after a protein's last residue. (PyTorch's packed
sequences would do the same, but their backward pass is about 30 times slower on a CPU.)
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


def reverse_within(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Each row's first ``lengths[b]`` positions reversed, padding left in place: (B, T, C).
    Its own inverse."""
    steps = torch.arange(x.shape[1], device=x.device)[None, :]  # (1, T)
    ends = lengths.to(x.device)[:, None]  # (B, 1)
    index = torch.where(steps < ends, ends - 1 - steps, steps)  # (B, T)
    return x.gather(1, index.unsqueeze(-1).expand_as(x))


class BiLayer(nn.Module):
    """One bidirectional LSTM layer over padded rows: (B, T, C) -> (B, T, 2H)."""

    def __init__(self, inputs: int, hidden: int):
        super().__init__()
        self.forwards = nn.LSTM(inputs, hidden, batch_first=True)
        self.backwards = nn.LSTM(inputs, hidden, batch_first=True)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        ahead, _ = self.forwards(x)
        behind, _ = self.backwards(reverse_within(x, lengths))
        return torch.cat([ahead, reverse_within(behind, lengths)], dim=-1)


class SeqNet(nn.Module):
    @classmethod
    def of(cls, features: int, config) -> "SeqNet":
        """The network a SeqNetConfig (nn/config.py) describes, reading ``features`` columns."""
        return cls(features, **config.network(), dropout=config.dropout)

    def __init__(self, features: int, embed: int, conv_channels: int, kernel: int, hidden: int,
                 layers: int, dropout: float):
        super().__init__()
        self.embed = nn.Linear(features, embed)
        self.conv = nn.Conv1d(embed, conv_channels, kernel, padding=kernel // 2)
        self.layers = nn.ModuleList(BiLayer(conv_channels if i == 0 else 2 * hidden, hidden)
                                    for i in range(layers))
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(2 * hidden, 1)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        width = x.shape[1]
        keep = (torch.arange(width, device=x.device) < lengths.to(x.device)[:, None])
        keep = keep.unsqueeze(-1).to(x.dtype)  # (B, T, 1)
        h = F.gelu(self.embed(x)) * keep  # (B, T, E)
        h = F.gelu(self.conv(h.transpose(1, 2))).transpose(1, 2) * keep  # (B, T, C)
        for layer in self.layers:
            h = layer(self.dropout(h), lengths)  # (B, T, 2H)
        return self.out(self.dropout(h)).squeeze(-1)  # (B, T)


class SeqStep(nn.Module):
    """What the training loop calls: a batch -> logits (B, T)."""

    def __init__(self, net: SeqNet):
        super().__init__()
        self.net = net

    def forward(self, batch: dict) -> torch.Tensor:
        return self.net(batch["x"], batch["lengths"])


def collate(rows: list, labels: list | None = None, masks: list | None = None) -> dict:
    """Per-protein (L, F) features (and (L,) labels and masks) -> a padded batch of tensors."""
    import numpy as np
    lengths = np.array([len(r) for r in rows], dtype=np.int64)
    width = int(lengths.max())
    x = np.zeros((len(rows), width, rows[0].shape[1]), dtype=np.float32)
    for b, r in enumerate(rows):
        x[b, :len(r)] = r
    batch = {"x": torch.from_numpy(x), "lengths": torch.from_numpy(lengths)}
    if labels is not None:
        y = np.zeros((len(rows), width), dtype=np.float32)
        m = np.zeros((len(rows), width), dtype=bool)
        for b, (lab, mask) in enumerate(zip(labels, masks)):
            y[b, :len(lab)], m[b, :len(mask)] = lab, mask
        batch.update(labels=torch.from_numpy(y), mask=torch.from_numpy(m))
    return batch
