"""Batches by token budget: proteins of similar length together, so padding stays small.

Memory for a transformer batch grows with its padded size, batch size x (longest sequence +
EXTRA_TOKENS, the start and end tokens), not with the number of proteins. Sorting by length
and filling each batch up to a budget of padded tokens keeps that size steady whatever the
length mix.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from idr_kit.nn.align import EXTRA_TOKENS


def token_budget_batches(lengths: Sequence[int], budget: int, *, extra: int = EXTRA_TOKENS,
                         seed: int | None = None) -> list[list[int]]:
    """Indices into `lengths`, grouped so len(batch) * (max length + extra) <= budget.

    An item longer than the budget on its own forms a batch alone. Every index appears exactly
    once. seed=None: batches in increasing length (deterministic, for prediction); seed=int:
    batch order shuffled reproducibly (training), the batches themselves unchanged.
    """
    if budget < 1 or extra < 0:
        raise ValueError(f"need budget >= 1 and extra >= 0, got budget={budget}, extra={extra}")
    sizes = np.asarray(lengths, dtype=np.int64).reshape(-1)
    if (sizes < 0).any():
        raise ValueError(f"negative length at index {int(np.flatnonzero(sizes < 0)[0])}")
    batches = _fill(np.argsort(sizes, kind="stable"), sizes + extra, budget)
    if seed is not None:
        batches = [batches[k] for k in np.random.default_rng(seed).permutation(len(batches))]
    return batches


def _fill(order: np.ndarray, widths: np.ndarray, budget: int) -> list[list[int]]:
    """Greedy packing of indices in increasing width: the newest item is the batch's widest."""
    batches: list[list[int]] = []
    current: list[int] = []
    for i in order.tolist():
        if current and (len(current) + 1) * widths[i] > budget:
            batches.append(current)
            current = []
        current.append(i)
    return batches + [current] if current else batches
