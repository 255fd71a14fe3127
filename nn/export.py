"""A torch network as ONNX bytes, in the one form the kit's ONNX networks take: inputs x
(B, T, F) float32 and lengths (B,) int64, one output (B, T) float32, batch and length dynamic
(what data/networks.py's signatures check when a model folder is read)."""
from __future__ import annotations

import io
import warnings

import torch
from torch import nn

OPSET = 17


def onnx_bytes(net: nn.Module, features: int, output: str) -> bytes:
    """``net`` (called as ``net(x, lengths)``) exported with its output named ``output``."""
    x, lengths = torch.zeros(2, 8, features), torch.tensor([8, 3])  # (B, T, F), (B,)
    buffer = io.BytesIO()
    with warnings.catch_warnings():  # torch warns that LSTM batch sizes are fixed: they are not
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (x, lengths), buffer, input_names=["x", "lengths"],
                          output_names=[output], opset_version=OPSET, dynamo=False,
                          dynamic_axes={"x": {0: "batch", 1: "residues"},
                                        "lengths": {0: "batch"},
                                        output: {0: "batch", 1: "residues"}})
    return buffer.getvalue()
