"""Sliding-window means along a protein, clipped at its ends, computed with cumulative sums.

Position ``i`` of a length-``L`` protein averages the rows ``max(0, i - left)`` up to
``min(L - 1, i + right)`` inclusive: near a terminus the window shrinks rather than
padding with made-up values, so every mean is over real residues only.
"""
from __future__ import annotations

import numpy as np


def window_bounds(length: int, left: int, right: int) -> tuple[np.ndarray, np.ndarray]:
    """Half-open row ranges ``[lo, hi)`` of each position's window; both (L,) int64."""
    if left < 0 or right < 0:
        raise ValueError(f"window sides must be >= 0, got left={left}, right={right}")
    positions = np.arange(length)
    lo = np.maximum(positions - left, 0)
    hi = np.minimum(positions + right + 1, length)
    return lo, hi


def window_mean(values: np.ndarray, left: int, right: int) -> np.ndarray:
    """Mean of ``values`` (L, F) over each position's clipped window -> (L, F) float32.

    A 1-D ``values`` (L,) is treated as (L, 1) and gives (L, 1).
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim == 1:
        values = values[:, None]
    length = values.shape[0]
    lo, hi = window_bounds(length, left, right)
    # float64 running sums with a leading zero row: any window sum is one subtraction, and
    # float32 would lose digits over proteins of thousands of residues.
    sums = np.zeros((length + 1, values.shape[1]))
    np.cumsum(values, axis=0, out=sums[1:])
    means = np.take(sums, hi, axis=0)
    means -= np.take(sums, lo, axis=0)
    means /= (hi - lo)[:, None]
    return means.astype(np.float32)


def centred_mean(values: np.ndarray, width: int) -> np.ndarray:
    """``window_mean`` over a window of odd ``width`` centred on each position -> (L, F)."""
    if width < 1 or width % 2 == 0:
        raise ValueError(f"a centred window needs an odd width >= 1, got {width}")
    return window_mean(values, width // 2, width // 2)
