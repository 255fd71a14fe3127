"""metapredict V3's disorder network, rebuilt from the checkpoint in the installed metapredict
wheel and exported to ONNX, so that it runs with ONNX Runtime alone (convnet/members.py).

    data = export_metapredict()         # ONNX bytes; needs torch and the metapredict wheel

metapredict V3 (Emenecker et al., MIT licence; ``backend/networks/epoch099_val_loss1107.08.ckpt``
in the wheel, a PyTorch Lightning checkpoint) is

    one-hot (B, T, 20) -> 2-layer bidirectional LSTM (52 units each way) -> LayerNorm(104)
    -> Linear(104, 1) -> (B, T)

with no activation at the end (its outputs, clipped to [0, 1], are its scores). metapredict
packs its batches, so padding never reaches a residue; here each bidirectional layer is this
package's ``BiLayer`` (nn/seqnet.py: the backward direction runs over each row reversed within
its own length), so a padded batch gives every protein its own answer. The checkpoint is read
with torch's safe loader (weights only); metapredict itself is not imported.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import torch
from torch import nn

from idr_kit.data.errors import MissingExtra
from idr_kit.nn.export import onnx_bytes
from idr_kit.nn.seqnet import BiLayer

CHECKPOINT = "epoch099_val_loss1107.08.ckpt"  # metapredict's network_parameters.py: 'V3'
ALPHABET = "ACDEFGHIKLMNPQRSTVWY"  # its one-hot columns (backend/encode_sequence.py)


def checkpoint_path() -> Path:
    """The V3 checkpoint inside the installed metapredict wheel (found, not imported)."""
    spec = importlib.util.find_spec("metapredict")
    if spec is None or not spec.submodule_search_locations:
        raise MissingExtra("exporting metapredict V3 needs the metapredict wheel: pip install "
                           "-e \".[metapredict]\"")
    return Path(list(spec.submodule_search_locations)[0]) / "backend" / "networks" / CHECKPOINT


def licence_text() -> str:
    """metapredict's MIT licence, as its wheel ships it, to go with the exported network."""
    from importlib.metadata import distribution
    dist = distribution("metapredict")
    for name in dist.files or []:
        if "licen" in str(name).lower():
            return dist.locate_file(name).read_text(encoding="utf-8")
    raise MissingExtra("the installed metapredict has no licence file to ship with its network")


class MetapredictV3(nn.Module):
    def __init__(self, inputs: int = len(ALPHABET), hidden: int = 52, layers: int = 2):
        super().__init__()
        self.layers = nn.ModuleList(BiLayer(inputs if i == 0 else 2 * hidden, hidden)
                                    for i in range(layers))
        self.layer_norm = nn.LayerNorm(2 * hidden)
        self.linear = nn.Linear(2 * hidden, 1)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        h = x  # (B, T, 20)
        for layer in self.layers:
            h = layer(h, lengths)  # (B, T, 104)
        return self.linear(self.layer_norm(h)).squeeze(-1)  # (B, T)

    @classmethod
    def from_checkpoint(cls, path: Path) -> "MetapredictV3":
        """The network with the checkpoint's weights: torch's bidirectional LSTM weights
        (``lstm.*_l{i}``, ``*_reverse``) moved to each layer's two directions."""
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
        hp, state = ckpt["hyper_parameters"], ckpt["state_dict"]
        net = cls(hp["input_size"], hp["lstm_hidden_size"], hp["num_lstm_layers"])
        moved = {}
        for i in range(hp["num_lstm_layers"]):
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                moved[f"layers.{i}.forwards.{name}_l0"] = state[f"lstm.{name}_l{i}"]
                moved[f"layers.{i}.backwards.{name}_l0"] = state[f"lstm.{name}_l{i}_reverse"]
        for name in ("weight", "bias"):
            moved[f"layer_norm.{name}"] = state[f"layer_norm.{name}"]
            moved[f"linear.{name}"] = state[f"linear_layers.0.{name}"]
        net.load_state_dict(moved, strict=True)
        return net.eval()


def export_metapredict() -> bytes:
    """metapredict V3 as ONNX bytes: inputs x (B, T, 20) float32 and lengths (B,) int64,
    output scores (B, T) float32, the network's raw output (batch and length dynamic)."""
    return onnx_bytes(MetapredictV3.from_checkpoint(checkpoint_path()), len(ALPHABET), "scores")
