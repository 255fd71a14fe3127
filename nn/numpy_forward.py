"""SeqNet's forward pass (nn/seqnet.py) in numpy: what predicts without torch.

    weights = export_weights(net)          # torch, once: name -> float32 array
    logits = forward(weights, x, lengths)  # numpy: (B, T, F), (B,) -> (B, T)

The same arithmetic as the torch module in eval mode, in float32: a linear layer and GELU
(erf form, torch's default), a convolution over residues with zeros beyond a protein's end,
and per layer an LSTM run forwards and one run over each protein reversed within its length
(PyTorch's gate order i, f, g, o). The input projection of every step is one matrix product;
only the recurrence steps one residue at a time, for the whole batch together.
"""
from __future__ import annotations

import numpy as np
from scipy.special import erf

LAYER_KEYS = ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")


def shapes(features: int, embed: int, conv_channels: int, kernel: int, hidden: int,
           layers: int) -> dict[str, tuple[int, ...]]:
    """Every weight's name and shape, for the network's settings (what a saved file must hold)."""
    found = {"embed.weight": (embed, features), "embed.bias": (embed,),
             "conv.weight": (conv_channels, embed, kernel), "conv.bias": (conv_channels,),
             "out.weight": (1, 2 * hidden), "out.bias": (1,)}
    for i in range(layers):
        inputs = conv_channels if i == 0 else 2 * hidden
        for way in ("forwards", "backwards"):
            prefix = f"layers.{i}.{way}."
            found.update({prefix + "weight_ih_l0": (4 * hidden, inputs),
                          prefix + "weight_hh_l0": (4 * hidden, hidden),
                          prefix + "bias_ih_l0": (4 * hidden,),
                          prefix + "bias_hh_l0": (4 * hidden,)})
    return found


def export_weights(net) -> dict[str, np.ndarray]:
    """A torch SeqNet's weights as float32 numpy arrays, by their state-dict names."""
    return {name: value.detach().cpu().numpy().astype(np.float32)
            for name, value in net.state_dict().items()}


def gelu(x: np.ndarray) -> np.ndarray:
    return (0.5 * x * (1.0 + erf(x / np.float32(np.sqrt(2.0))))).astype(np.float32)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return (1.0 / (1.0 + np.exp(-x))).astype(np.float32)


def reverse_within(x: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Each row's first ``lengths[b]`` positions reversed, padding left in place: (B, T, C)."""
    steps = np.arange(x.shape[1])[None, :]
    ends = lengths[:, None]
    index = np.where(steps < ends, ends - 1 - steps, steps)  # (B, T)
    return np.take_along_axis(x, index[:, :, None], axis=1)


def lstm(x: np.ndarray, w: dict[str, np.ndarray], prefix: str) -> np.ndarray:
    """One direction of a layer over padded rows, from the start: (B, T, C) -> (B, T, H)."""
    w_ih, w_hh, b_ih, b_hh = (w[prefix + key] for key in LAYER_KEYS)
    batch, width, _ = x.shape
    hidden = w_hh.shape[1]
    gates_in = (x.reshape(batch * width, -1) @ w_ih.T + (b_ih + b_hh)).reshape(batch, width, -1)
    h = np.zeros((batch, hidden), np.float32)
    c = np.zeros((batch, hidden), np.float32)
    out = np.empty((batch, width, hidden), np.float32)
    w_hh_t = np.ascontiguousarray(w_hh.T)
    for t in range(width):
        gates = gates_in[:, t] + h @ w_hh_t  # (B, 4H): i, f, g, o
        i, f, o = sigmoid(gates[:, :hidden]), sigmoid(gates[:, hidden:2 * hidden]), \
            sigmoid(gates[:, 3 * hidden:])
        c = f * c + i * np.tanh(gates[:, 2 * hidden:3 * hidden])
        h = o * np.tanh(c)
        out[:, t] = h
    return out


def conv1d(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """A centred convolution along residues with zero padding: (B, T, E) -> (B, T, C)."""
    channels, _, kernel = weight.shape
    half = kernel // 2
    padded = np.pad(x, ((0, 0), (half, half), (0, 0)))
    windows = np.lib.stride_tricks.sliding_window_view(padded, kernel, axis=1)  # (B, T, E, K)
    batch, width = x.shape[:2]
    flat = windows.reshape(batch * width, -1)  # (B*T, E*K), E major, as weight (C, E, K)
    return (flat @ weight.reshape(channels, -1).T + bias).reshape(batch, width, channels)


def forward(w: dict[str, np.ndarray], x: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Logits (B, T) float32 of a padded batch x (B, T, F) float32 with ``lengths`` (B,)."""
    keep = (np.arange(x.shape[1])[None, :] < lengths[:, None])[:, :, None].astype(np.float32)
    h = gelu(x @ w["embed.weight"].T + w["embed.bias"]) * keep  # (B, T, E)
    h = gelu(conv1d(h, w["conv.weight"], w["conv.bias"])) * keep  # (B, T, C)
    layer = 0
    while f"layers.{layer}.forwards.weight_ih_l0" in w:
        ahead = lstm(h, w, f"layers.{layer}.forwards.")
        behind = reverse_within(lstm(reverse_within(h, lengths), w, f"layers.{layer}.backwards."),
                                lengths)
        h = np.concatenate([ahead, behind], axis=-1)  # (B, T, 2H)
        layer += 1
    return (h @ w["out.weight"].T + w["out.bias"])[..., 0]  # (B, T)
