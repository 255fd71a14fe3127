"""Constrained decoding: the answer read one residue at a time as P(label = 1).

The prompt runs once and fills the KV cache; then each step feeds one label token per row and
reads the next-token logits of the two label tokens only. Their softmax gives P(1) for that
residue; the likelier label is fed back (greedy), so the answer conditions on the labels the
model itself chose, as it would when generating freely. Rows are left-padded prompts of
similar length; each row's answer stops mattering after its own length.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from idr_kit.llm_sft.model import output_layer, positions


@torch.no_grad()
def label_probs(lm: nn.Module, batch: dict, lengths: list[int], label_ids: tuple[int, int],
                device: torch.device) -> list[np.ndarray]:
    """P(label = 1) at each answer step: one (n,) float32 array per row, n = lengths[row]."""
    decoder = lm.get_base_model().get_decoder() if hasattr(lm, "get_base_model") else lm.get_decoder()
    layer = output_layer(lm)
    pair = layer.weight[list(label_ids)].float()  # (2, E): only the two labels are scored
    bias = 0.0 if layer.bias is None else layer.bias[list(label_ids)].float()
    ids, attention = batch["ids"].to(device), batch["attention"].to(device).long()
    out = decoder(input_ids=ids, attention_mask=attention, position_ids=positions(attention),
                  use_cache=True)
    cache, at = out.past_key_values, positions(attention)[:, -1:]  # (B, 1)
    choices = torch.tensor(label_ids, device=device)
    probs = []
    for step in range(max(lengths)):
        with torch.autocast(device.type, enabled=False):  # fp32 even inside bf16 autocast
            logits = out.last_hidden_state[:, -1].float() @ pair.T + bias  # (B, 2)
        p1 = torch.softmax(logits, dim=-1)[:, 1]
        probs.append(p1)
        if step + 1 == max(lengths):
            break
        chosen = choices[(p1 > 0.5).long()].unsqueeze(1)  # (B, 1)
        attention = torch.cat([attention, attention.new_ones(len(ids), 1)], dim=1)
        at = at + 1
        out = decoder(input_ids=chosen, attention_mask=attention, position_ids=at,
                      past_key_values=cache, use_cache=True)
        cache = out.past_key_values
    table = torch.stack(probs, dim=1).cpu().numpy()  # (B, max length)
    return [table[row, :n].astype(np.float32) for row, n in enumerate(lengths)]
