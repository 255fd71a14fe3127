"""The shipped predictor's network: residue features -> dilated convolutions -> one logit each.

Shapes: x (B, T, F) float32, lengths (B,) int64; logits (B, T). A stack of residual 1-D
convolutions whose dilations grow (1, 2, 4, ...), so that a few layers read far along the
sequence (the defaults: 8 layers of kernel 5 read 152 residues each way) at a fixed cost per
residue. Padding never reaches a real residue: every layer's input is zeroed beyond each
protein's end, so a protein's edge sees the zeros it would see alone, and a padded batch gives
each protein its own answer.

Why convolutions and not the bilstm's LSTM: ONNX Runtime runs a convolution of this size at
several times the speed of an LSTM (an LSTM steps through the residues one by one), which is
what lets the shipped predictor read metapredict V3's scores as well and still answer faster
than metapredict. On MMseqs2-grouped folds of both training files (3 folds, one seed, this
2-core machine, 2026-12-05) a network of 64 channels and 10 layers did no better than this one
of 32 channels and 8 layers at a quarter of the cost (PDB-labelled proteins: AUC 0.881 both,
APS 0.796 / 0.797; NOX-labelled: AUC 0.791 / 0.790).
"""
from __future__ import annotations


import torch
from torch import nn
from torch.nn import functional as F

from idr_kit.nn.export import onnx_bytes



class ConvNet(nn.Module):
    def __init__(self, features: int, channels: int, kernel: int, dilations: tuple[int, ...],
                 dropout: float):
        super().__init__()
        self.inp = nn.Conv1d(features, channels, 1)
        self.convs = nn.ModuleList(nn.Conv1d(channels, channels, kernel, dilation=d,
                                             padding=d * (kernel - 1) // 2) for d in dilations)
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Conv1d(channels, 1, 1)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        steps = torch.arange(x.shape[1], device=x.device)[None, :]  # (1, T)
        keep = (steps < lengths.to(x.device)[:, None]).unsqueeze(1).to(x.dtype)  # (B, 1, T)
        h = F.gelu(self.inp(x.transpose(1, 2))) * keep  # (B, C, T)
        for conv in self.convs:
            h = (h + F.gelu(conv(self.dropout(h)))) * keep  # residual, padding kept at zero
        return self.out(self.dropout(h)).squeeze(1)  # (B, T)


class ConvStep(nn.Module):
    """What the training loop calls: a batch -> logits (B, T)."""

    def __init__(self, net: ConvNet):
        super().__init__()
        self.net = net

    def forward(self, batch: dict) -> torch.Tensor:
        return self.net(batch["x"], batch["lengths"])


class Mean(nn.Module):
    """Trained networks and given scores as one model: the mean of the networks' probabilities
    and of the score columns of x. Network i reads x's first ``reads[i]`` columns; ``scores``
    are the columns of x that are probabilities themselves (a member's scores)."""

    def __init__(self, nets: list[ConvNet], reads: list[int], scores: list[int]):
        super().__init__()
        self.nets, self.reads, self.scores = nn.ModuleList(nets), list(reads), list(scores)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        votes = [torch.sigmoid(net(x[:, :, :n], lengths)) for net, n in zip(self.nets, self.reads)]
        votes += [x[:, :, c] for c in self.scores]
        return torch.stack(votes).mean(dim=0)  # (B, T)


def export_onnx(model: Mean, features: int) -> bytes:
    """The model as one ONNX graph (nn/export.py's form): output probs (B, T), P(disordered)
    of each residue."""
    return onnx_bytes(model.cpu().eval(), features, "probs")
