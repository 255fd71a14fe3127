"""From probabilities to the submitted 0/1 calls: smoothing, threshold, short-run removal.

Any track's out-of-fold predictions can fit these; by default a track's decision is the
identity plus a threshold (``Track.decision_defaults``; the ensemble also fits smoothing and a
minimum IDR length). Everything fitted here is fitted on out-of-fold predictions, never on the
proteins being predicted, and scored the CAID way (``data.metrics``: scores rounded to 3
decimals, pooled over the assessed residues).

    smooth_all     centred median or mean along each sequence; near a terminus the window
                   shrinks to the residues inside the protein rather than padding
    min_length     calls of disorder in runs shorter than ``length`` residues become order
    fit_*          choose the smoothing, the minimum run length, the threshold
    Decision       the chosen settings and threshold, a frozen JSON-able record saved with the
                   model, that turns a track's probabilities into its submitted calls

The fitting functions pool every protein into one long array with gaps of NaN (smoothing) or
0 (runs) between proteins, so one vectorised pass serves ~10^6 residues; the gap keeps each
protein's windows and runs inside the protein, so the result equals one protein at a time
exactly (tested).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Callable, Sequence

import numpy as np

from idr_kit.data.errors import InputError, SettingError, brief
from idr_kit.data.fields import defaults_of, typed_json
from idr_kit.data.metrics import (DECIMALS, DEFAULT_THRESHOLD, average_precision, binarize,
                                  binary_scores, f1_max, roc_auc)
from idr_kit.data.records import Protein, both_classes, pooled

SMOOTHERS = ("median", "mean")
NO_SMOOTHING = "none"  # Decision.kind when nothing is smoothed (width 1)
WIDTHS = (1, 3, 5, 9, 15)  # odd; 15 residues is about the shortest IDR worth annotating
MAX_WIDTH = 1001  # a saved decision may not ask for wider windows (each is an (N, width) view)
MAX_MIN_LENGTH = 100_000
LENGTHS = (0, 2, 3, 5, 8, 12, 20)  # 0: keep every call; 20: a common minimum IDR length

# Pooled metrics a smoothing can be chosen by; each is CAID's, rounded to 3 decimals, so a gain
# smaller than 0.001 is a tie and the tie goes to the smaller width.
METRICS: dict[str, Callable[[np.ndarray, np.ndarray], float | None]] = {
    "auc": roc_auc,
    "aps": average_precision,
    "f1": lambda y, s: f1_max(y, s)[0],
}


# ---- smoothing --------------------------------------------------------------------------------

def _check_width(width: int) -> None:
    if (isinstance(width, bool) or not isinstance(width, (int, np.integer)) or width < 1
            or width % 2 == 0 or width > MAX_WIDTH):
        raise SettingError(f"a centred window needs an odd width from 1 to {MAX_WIDTH}, got "
                           f"{brief(width)}")


def _windows(values: np.ndarray, width: int) -> np.ndarray:
    """Centred windows of a NaN-padded 1-D array: (N,) -> (N, width) float32, NaN outside."""
    half = width // 2
    padded = np.pad(values.astype(np.float32), half, constant_values=np.nan)
    return np.lib.stride_tricks.sliding_window_view(padded, width)


def _window_median(values: np.ndarray, width: int) -> np.ndarray:
    """Median of the non-NaN values of each centred window: (N,) -> (N,) float64."""
    ordered = np.sort(_windows(values, width), axis=1)  # (N, width), NaN sorted last
    count = np.sum(~np.isnan(ordered), axis=1)  # (N,) residues inside the window
    rows = np.arange(len(values))
    # An even count (a shrunken window at a terminus) takes the mean of the two middle values.
    middle = ordered[rows, (count - 1) // 2].astype(np.float64)
    return (middle + ordered[rows, count // 2]) / 2


def _window_mean(values: np.ndarray, width: int) -> np.ndarray:
    """Mean of the non-NaN values of each centred window: (N,) -> (N,) float64."""
    half = width // 2
    padded = np.pad(values.astype(np.float64), half, constant_values=np.nan)
    inside = ~np.isnan(padded)
    padded[~inside] = 0.0
    total, count = np.zeros(len(values)), np.zeros(len(values))
    # One shifted slice per offset, added in a fixed order (not running sums): the same bits
    # whatever else is pooled in the array, so the pooled fit equals the one-protein smooth.
    for offset in range(width):
        total += padded[offset:offset + len(values)]
        count += inside[offset:offset + len(values)]
    return total / count


def _smooth_pooled(values: np.ndarray, width: int, kind: str) -> np.ndarray:
    if kind not in SMOOTHERS:
        raise SettingError(f"unknown smoothing {kind!r}; choose from {SMOOTHERS}")
    _check_width(width)
    if width == 1:
        return values.astype(np.float32)
    window = _window_median if kind == "median" else _window_mean
    return window(values, width).astype(np.float32)


def smooth_all(probs: Sequence[np.ndarray], width: int, kind: str) -> list[np.ndarray]:
    """``smooth`` of every protein in one pass: NaN gaps keep each window inside its protein."""
    _check_width(width)
    arrays = [np.asarray(p, dtype=np.float32) for p in probs]
    if not all(a.ndim == 1 and np.isfinite(a).all() for a in arrays):
        raise ValueError("each protein's probs must be a finite (L,) array")
    gap = np.full(width // 2, np.nan, dtype=np.float32)
    pieces = [piece for a in arrays for piece in (a, gap)]
    flat = np.concatenate(pieces) if pieces else np.zeros(0, np.float32)
    smoothed = _smooth_pooled(flat, width, kind)
    starts = np.cumsum([0] + [len(p) + len(gap) for p in probs])
    return [smoothed[a:a + len(p)] for a, p in zip(starts, probs)]


# ---- minimum run length -----------------------------------------------------------------------

def runs(binary: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Runs of 1 as half-open ranges ``[start, end)``: (L,) -> (starts (R,), ends (R,)) int64."""
    ones = np.asarray(binary).astype(bool).astype(np.int8)
    edges = np.diff(np.r_[0, ones, 0])  # +1 where a run starts, -1 one past where it ends
    return np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)


def min_length(binary: np.ndarray, length: int) -> np.ndarray:
    """``binary`` (L,) 0/1 with every run of 1 shorter than ``length`` set to 0 -> (L,) uint8.

    ``length`` 0 or 1 keeps every call.
    """
    calls = np.asarray(binary)
    if calls.ndim != 1 or not np.isin(calls, (0, 1)).all():
        raise ValueError("min_length needs one protein's (L,) array of 0 and 1")
    if not isinstance(length, (int, np.integer)) or length < 0:
        raise ValueError(f"length must be >= 0, got {length}")
    starts, ends = runs(calls)
    short = ends - starts < length
    # +1 at the start and -1 at the end of each short run; the running sum marks its residues.
    marks = np.zeros(len(calls) + 1, dtype=np.int64)
    marks[starts[short]] += 1  # starts and ends are distinct positions: no index repeats
    marks[ends[short]] -= 1
    return (calls.astype(bool) & (np.cumsum(marks[:-1]) == 0)).astype(np.uint8)


def min_length_all(binary: Sequence[np.ndarray], length: int) -> list[np.ndarray]:
    """``min_length`` of every protein in one pass: a 0 between proteins ends every run."""
    pieces = [piece for b in binary for piece in (np.asarray(b), np.zeros(1, np.uint8))]
    flat = np.concatenate(pieces).astype(np.uint8) if pieces else np.zeros(0, np.uint8)
    kept = min_length(flat, length)
    starts = np.cumsum([0] + [len(b) + 1 for b in binary])
    return [kept[a:a + len(b)] for a, b in zip(starts, binary)]


# ---- fitting on out-of-fold predictions -------------------------------------------------------

def _check_fit(proteins: Sequence[Protein], probs: Sequence[np.ndarray]) -> None:
    y, _ = pooled(proteins, probs)
    if not both_classes(y):
        raise InputError("cannot fit a decision: the assessed labels hold only one class")


def _pooled_metric(metric: str, proteins: Sequence[Protein], probs: Sequence[np.ndarray]
                   ) -> float:
    """``METRICS[metric]`` over the pooled assessed residues."""
    y, s = pooled(proteins, probs)
    # Pooled metrics do not depend on residue order. Ordering by the 1001 rounded levels first
    # (a linear-time radix sort of int16) lets threshold_curve's own sort meet a sorted array,
    # which makes it about 3x faster on 10^6 residues; the value is unchanged.
    level = np.rint(np.round(s.astype(np.float64), DECIMALS) * 10**DECIMALS).astype(np.int16)
    order = np.argsort(-level, kind="stable")
    return METRICS[metric](y[order], s[order])


def fit_smoothing(probs: Sequence[np.ndarray], proteins: Sequence[Protein],
                  widths: Sequence[int] = WIDTHS, kinds: Sequence[str] = SMOOTHERS,
                  metric: str = "auc") -> tuple[str, int]:
    """The ``(kind, width)`` with the best pooled ``metric`` ("auc", "aps", "f1").

    Width 1 is ``("none", 1)``; ties (equal at 3 decimals) go to the smaller width, then to
    the earlier kind, so smoothing must earn its place.
    """
    _check_fit(proteins, probs)
    if metric not in METRICS:
        raise SettingError(f"unknown metric {metric!r}; choose from {tuple(METRICS)}")
    best, best_value = (NO_SMOOTHING, 1), _pooled_metric(metric, proteins, probs)
    for width in sorted(set(widths) - {1}):
        for kind in kinds:
            value = _pooled_metric(metric, proteins, smooth_all(probs, width, kind))
            if value > best_value:
                best, best_value = (kind, int(width)), value
    return best


def fit_min_length(probs: Sequence[np.ndarray], proteins: Sequence[Protein], threshold: float,
                   lengths: Sequence[int] = LENGTHS) -> int:
    """The minimum run length with the best pooled CAID F1 of the calls; ties -> the shorter."""
    _check_fit(proteins, probs)
    calls = [binarize(p, threshold) for p in probs]
    best, best_f1 = 0, -1.0
    for length in sorted(set(lengths)):
        y, kept = pooled(proteins, min_length_all(calls, length))
        f1 = binary_scores(y, kept.astype(np.uint8))["f1"]
        if f1 > best_f1:
            best, best_f1 = int(length), f1
    return best


def f1_per_protein_curve(proteins: Sequence[Protein], probs: Sequence[np.ndarray]
                         ) -> tuple[np.ndarray, np.ndarray]:
    """``data.metrics.f1_per_protein`` at every distinct rounded score as a threshold.

    Returns ``(thresholds (T,) increasing, f1 (T,))``. One (P, T) table of per-protein counts
    and reverse cumulative sums replace T calls of f1_per_protein.
    """
    scored = [(p, s) for p, s in zip(proteins, probs) if p.has_labels and p.mask.any()]
    sizes = np.array([int(p.mask.sum()) for p, _ in scored], dtype=np.int64)
    y, s = pooled([p for p, _ in scored], [s for _, s in scored])
    thresholds, level = np.unique(np.round(s.astype(np.float64), DECIMALS), return_inverse=True)
    which = np.repeat(np.arange(len(sizes)), sizes)  # (N,) protein of each residue
    cell = which * len(thresholds) + level.ravel()  # (N,) flat (protein, level) index
    shape = (len(sizes), len(thresholds))
    pos = np.bincount(cell, y, np.prod(shape)).reshape(shape)  # (P, T) positives per level
    called = np.bincount(cell, minlength=np.prod(shape)).reshape(shape)  # (P, T) residues
    # Threshold j calls every residue whose level is >= j: reverse cumulative sums.
    positives = pos.sum(axis=1, keepdims=True)  # (P, 1)
    tp = np.cumsum(pos[:, ::-1], axis=1)[:, ::-1]  # (P, T)
    called = np.cumsum(called[:, ::-1], axis=1)[:, ::-1]  # TP + FP
    den = called + positives  # 2TP + FP + FN
    f1 = np.divide(2 * tp, den, out=np.ones(shape), where=den != 0)  # 0/0 -> 1.0, as metrics
    # One contiguous row per threshold: np.mean then sums in f1_per_protein's order, bit for bit.
    return thresholds, np.ascontiguousarray(f1.T).mean(axis=1)


def tune_threshold(proteins: Sequence[Protein], probs: Sequence[np.ndarray]) -> float:
    """The CAID F1-max threshold over the pooled assessed residues of ``proteins``."""
    _check_fit(proteins, probs)
    return float(f1_max(*pooled(proteins, probs))[1])


def tune_threshold_per_protein(proteins: Sequence[Protein], probs: Sequence[np.ndarray]) -> float:
    """The threshold (a distinct rounded score) maximising the mean per-protein F1.

    Ties go to the highest threshold, as CAID's F1-max does.
    """
    _check_fit(proteins, probs)
    thresholds, f1 = f1_per_protein_curve(proteins, probs)
    best = len(f1) - 1 - int(np.argmax(f1[::-1]))
    return float(thresholds[best])


# ---- the decision: settings to fit, and what was fitted -----------------------------------------

THRESHOLD_RULES = ("pooled", "per_protein")


@dataclass(frozen=True)
class DecisionSettings:
    """What a run fits on out-of-fold predictions to turn probabilities into calls."""
    smoothing: bool = False  # fit a moving median or mean (WIDTHS), kept only if it helps
    smoothing_metric: str = "auc"  # what the smoothing must improve: auc | aps | f1
    min_length: bool = False  # fit a minimum IDR length for the calls (LENGTHS)
    threshold_rule: str = "pooled"  # pooled F1-max, or per_protein: the best mean per-protein F1

    def __post_init__(self):
        if self.threshold_rule not in THRESHOLD_RULES:
            raise SettingError(f"unknown threshold_rule {self.threshold_rule!r}; expected "
                               f"{', '.join(THRESHOLD_RULES)}")
        if self.smoothing_metric not in METRICS:
            raise SettingError(f"unknown smoothing_metric {self.smoothing_metric!r}; expected "
                               f"{', '.join(METRICS)}")


@dataclass(frozen=True)
class Decision:
    """Smoothing of the probabilities, the threshold and the minimum run length of the calls."""
    kind: str = NO_SMOOTHING  # "none", "median" or "mean"
    width: int = 1  # odd; 1 smooths nothing
    min_length: int = 0  # runs of disorder shorter than this become order; 0 keeps all
    threshold: float = DEFAULT_THRESHOLD
    source: str = "default"  # where the threshold came from

    def __post_init__(self):
        if self.kind not in (NO_SMOOTHING, *SMOOTHERS):
            raise SettingError(f"unknown smoothing {self.kind!r}")
        _check_width(self.width)
        if self.kind == NO_SMOOTHING and self.width != 1:
            raise SettingError(f"kind 'none' needs width 1, got {self.width}")
        if (isinstance(self.min_length, bool) or not isinstance(self.min_length, (int, np.integer))
                or not 0 <= self.min_length <= MAX_MIN_LENGTH):
            raise SettingError(f"min_length must be a whole number from 0 to {MAX_MIN_LENGTH}, "
                               f"got {brief(self.min_length)}")
        check_threshold(self.threshold)

    def probs(self, probs: Sequence[np.ndarray]) -> list[np.ndarray]:
        """The probabilities as submitted (smoothed), one (L,) float32 array per protein."""
        if self.kind == NO_SMOOTHING:
            return [np.asarray(p, dtype=np.float32) for p in probs]
        return smooth_all(probs, self.width, self.kind)

    def calls(self, probs: Sequence[np.ndarray]) -> list[np.ndarray]:
        """0/1 calls of already smoothed ``probs``: CAID's binarization, then short runs off."""
        return [min_length(binarize(p, self.threshold), self.min_length) for p in probs]

    def with_threshold(self, threshold: float, source: str) -> "Decision":
        return replace(self, threshold=float(threshold), source=source)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, state: dict) -> "Decision":
        """A saved decision, each value checked against its field's type (data.fields)."""
        if not isinstance(state, dict):
            raise SettingError(f"a decision is a JSON object, not {brief(state)}")
        defaults = defaults_of(cls())
        unknown = set(state) - set(defaults)
        if unknown:
            raise SettingError(f"unknown decision settings: {sorted(unknown)}")
        return cls(**{k: typed_json(k, defaults[k], v) for k, v in state.items()})


def check_threshold(threshold: float) -> float:
    if isinstance(threshold, bool) or not (isinstance(threshold, (int, float, np.floating))
                                           and 0 <= threshold <= 1):
        raise SettingError(f"threshold {threshold!r} is not a number in [0, 1]")
    return float(threshold)


TUNED = "F1-max on out-of-fold predictions of the training set"
TUNED_PER_PROTEIN = "mean per-protein F1 on out-of-fold predictions of the training set"


def fit_decision(oof: Sequence[np.ndarray], proteins: Sequence[Protein],
                 settings: DecisionSettings, threshold: float | None = None) -> Decision:
    """Smoothing, then the threshold (unless given), then the minimum IDR length, in that
    order, each fitted on out-of-fold probabilities of the training proteins."""
    kind, width = (fit_smoothing(oof, proteins, metric=settings.smoothing_metric)
                   if settings.smoothing else (NO_SMOOTHING, 1))
    smoothed = Decision(kind, width).probs(oof)
    if threshold is not None:
        cut, source = check_threshold(threshold), "--threshold"
    elif settings.threshold_rule == "per_protein":
        cut, source = tune_threshold_per_protein(proteins, smoothed), TUNED_PER_PROTEIN
    else:
        cut, source = tune_threshold(proteins, smoothed), TUNED
    length = fit_min_length(smoothed, proteins, cut) if settings.min_length else 0
    return Decision(kind, width, length, cut, source)
