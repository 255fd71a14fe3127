"""Per-residue ONNX networks run over proteins of any length: batches by a budget of residues,
and a protein longer than ``WINDOW`` run as overlapping windows, stitched.

    outputs = run_residues(session, lengths, row_of, source, budget)  # (L_i, F) -> (L_i,)

A network's memory grows with the longest row of its batch (an LSTM keeps every step's state:
metapredict V3 asks for more than the 1 GiB arena of data/networks.py at about 350,000
residues). No protein is refused for it: a protein of ``WINDOW`` residues or fewer is run
whole, so its answer is what it always was; a longer one is cut into windows of ``WINDOW``
residues, neighbours sharing at least ``2 * CONTEXT``, and each residue's answer is taken from
the window where it lies in the middle part, with at least ``CONTEXT`` residues of context on
either side (or the protein's end). A window still past the network's memory (a larger
network than the shipped ones) is run again as windows of half the size, down to
``MIN_WINDOW``.

What the windows change: nothing beyond float rounding for a network that reads a bounded
stretch shorter than ``CONTEXT`` (the shipped convnet reads 76 residues either side); for an
LSTM (metapredict, the distilled network) what lies more than ``CONTEXT`` residues away no
longer reaches a residue, and metapredict's LSTM carries some of it very far: on 60,000
residues of valid.fasta run in windows of 30,000 with 4,096 to 12,000 of context its scores
moved by up to 0.13 (2026-12-08). Such proteins are far longer than any known protein (titin:
35,000 residues).
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from idr_kit.data.errors import FileRefused
from idr_kit.data.networks import ArenaFull, run_network
from idr_kit.nn.batching import token_budget_batches
from idr_kit.nn.windows import plan_windows

# The longest stretch of one protein a network is given at once: metapredict V3, the shipped
# networks' largest, runs 131,072 residues in about 380 MiB of its 1 GiB arena, and every
# known protein (titin, the longest, 35,000 residues) is run whole.
WINDOW = 131_072
# Residues of context kept on either side of a residue whose answer a window gives (windows
# overlap by twice as much: 25% more work on a protein past WINDOW).
CONTEXT = 16_384
# The smallest window tried when a window is past a network's memory (see run_residues).
MIN_WINDOW = 4_096

Span = tuple[int, int, int, int]  # residues fed [start, end), answers kept [keep_start, keep_end)


def spans(length: int, window: int, context: int) -> list[Span]:
    """Windows of at most ``window`` residues covering ``0..length`` and the part of each whose
    answers are kept: consecutive kept parts meet in the middle of the windows' overlap, so
    every kept residue has ``context`` residues either side (or the protein's end)."""
    fed = plan_windows(length, window, 2 * context)
    cuts = [0] + [(fed[k + 1][0] + fed[k][1]) // 2 for k in range(len(fed) - 1)] + [length]
    return [(start, end, cuts[k], cuts[k + 1]) for k, (start, end) in enumerate(fed)]


def run_residues(session, lengths: Sequence[int], row_of: Callable[[int], np.ndarray],
                 source: str, budget: int, *, window: int | None = None,
                 context: int | None = None) -> list[np.ndarray]:
    """The network's first output for each protein: ``row_of(i)`` gives protein i's inputs
    (L_i, F) float32 (made when its batch is run, so a chunk's rows are never all held at
    once) and the answer is (L_i,) float32, run in batches of at most ``budget`` padded
    residues (a longer window alone). A batch past the network's memory is run again as
    batches and windows of half the size, down to ``MIN_WINDOW`` residues. ``window`` and
    ``context`` default to ``WINDOW`` and ``CONTEXT``."""
    window, context = window or WINDOW, context or CONTEXT
    pieces = [(i, span) for i, n in enumerate(lengths) for span in spans(n, window, context)]
    out = [np.empty(n, np.float32) for n in lengths]
    row = _last_row(row_of)  # a long protein's windows are run one after another
    for batch in token_budget_batches([s[1] - s[0] for _, s in pieces], budget, extra=0):
        fed = [row(pieces[k][0])[pieces[k][1][0]:pieces[k][1][1]] for k in batch]
        try:
            answers = _run_batch(session, fed, source)
        except ArenaFull:
            if window <= MIN_WINDOW or (len(fed) == 1 and len(fed[0]) <= window // 2):
                raise  # halving would change nothing: the network asks that much of any input
            answers = run_residues(session, [len(f) for f in fed], fed.__getitem__, source,
                                   max(1, budget // 2), window=window // 2,
                                   context=min(context, window // 8))
        for k, answer in zip(batch, answers):
            i, (start, _, keep_start, keep_end) = pieces[k]
            out[i][keep_start:keep_end] = answer[keep_start - start:keep_end - start]
    return out


def _last_row(row_of: Callable[[int], np.ndarray]) -> Callable[[int], np.ndarray]:
    """``row_of``, remembering the last row it made."""
    last: dict[int, np.ndarray] = {}

    def row(i: int) -> np.ndarray:
        if i not in last:
            last.clear()
            last[i] = row_of(i)
        return last[i]
    return row


def _run_batch(session, rows: list[np.ndarray], source: str) -> list[np.ndarray]:
    """Rows (L_b, F) padded into one batch (B, T, F) with their lengths (B,) -> (L_b,) each."""
    lengths = np.array([len(r) for r in rows], dtype=np.int64)
    x = np.zeros((len(rows), int(lengths.max()), rows[0].shape[1]), np.float32)  # (B, T, F)
    for b, row in enumerate(rows):
        x[b, :len(row)] = row
    y = run_network(session, {"x": x, "lengths": lengths}, source)[0]
    if not isinstance(y, np.ndarray) or y.shape != x.shape[:2]:  # (B, T)
        raise FileRefused(f"{source}: the network answered {getattr(y, 'shape', type(y))} "
                          f"for a batch of {x.shape[:2]} (proteins, residues)")
    return [y[b, :n] for b, n in enumerate(lengths.tolist())]
