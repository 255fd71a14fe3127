"""Blending the members of an ensemble: per-residue probabilities of M tracks into one.

A blender is fitted on out-of-fold member probabilities of the training proteins and applied to
new proteins. Members come ``stacked``: one (L_i, M) float array per protein, column m = member m. Every blender follows the estimator contract (``fit`` returns self, learned state ends
in ``_``), predicts one (L_i,) float32 array in [0, 1] per protein, and round-trips exactly
through a JSON-able ``state()``.

The fast metrics are CAID-exact: data.metrics rounds scores to 3 decimals, so a histogram over
the 1001 rounded values gives the same confusion counts as ``threshold_curve`` without a sort.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy.special import expit, logit

from idr_kit.data.errors import InputError, SettingError
from idr_kit.data.metrics import DECIMALS, Curve, curve_auc, curve_f1_max
from idr_kit.data.records import Protein, both_classes
from idr_kit.data.window_means import centred_mean

SCALE = 10 ** DECIMALS  # 1000: a rounded score is a bin index / SCALE
BINS = SCALE + 1  # 1001 rounded values 0.000 .. 1.000
QUANTILES = 1001  # RankBlender's grid: fine enough for 3-decimal scores, small in a JSON state
# logit(p) of a member that says exactly 0 or 1 is infinite; 1e-4 keeps it finite (|logit| < 9.3)
# while staying finer than the 3-decimal resolution the scores are judged at.
LOGIT_EPS = 1e-4
# The logistic stack learns ~20 coefficients; 200k residues pin them down and keep lbfgs fast.
STACK_MAX_ROWS = 200_000


# ---- fast CAID-exact pooled metrics -------------------------------------------------------------

def _bins(s: np.ndarray) -> np.ndarray:
    """Bin index (N,) of each score: exactly data.metrics' np.round(s, 3) * 1000, half to even."""
    idx = np.rint(np.asarray(s, dtype=np.float64) * SCALE)  # the same arithmetic as np.round
    if not (idx.min() >= 0 and idx.max() <= SCALE):  # NaN fails both
        raise ValueError("scores must be finite numbers in [0, 1]")
    return idx.astype(np.intp)


def _labels(y: np.ndarray, s: np.ndarray) -> np.ndarray:
    """y (N,) as intp 0/1, checked against the scores s (N,)."""
    y = np.asarray(y)
    if y.ndim != 1 or y.shape != np.shape(s) or not y.size:
        raise ValueError(f"need two equal, non-empty 1-D arrays; got {y.shape} and {np.shape(s)}")
    if y.dtype.kind not in "biu":  # labels are integers; a float would be silently truncated
        raise ValueError(f"y must be integer 0/1 labels, not {y.dtype}")
    y = y.astype(np.intp)
    if y.min() < 0 or y.max() > 1:
        raise ValueError("y must hold only 0 and 1")
    return y


def _curve(y: np.ndarray, s: np.ndarray) -> Curve:
    """data.metrics.Curve from a (2, 1001) histogram of rounded scores by class."""
    counts = np.bincount(_bins(s) + BINS * _labels(y, s), minlength=2 * BINS)
    neg, pos = counts[:BINS][::-1], counts[BINS:][::-1]  # (1001,) each, thresholds decreasing
    seen = (neg + pos) > 0  # only the distinct rounded scores are thresholds
    tp, fp = np.cumsum(pos)[seen], np.cumsum(neg)[seen]
    n_pos, n_neg = tp[-1], fp[-1]
    thresholds = (SCALE - np.flatnonzero(seen)) / SCALE
    return Curve(thresholds, tp, fp, n_neg - fp, n_pos - tp, _rate(tp, tp + fp, 0.0),
                 _rate(tp, n_pos, 0.0), _rate(fp, n_neg, np.nan), _rate(tp, n_pos, np.nan))


def _rate(num: np.ndarray, den, fill: float) -> np.ndarray:
    """Rounded ``num / den``, ``fill`` where ``den`` is 0 (as data.metrics does)."""
    ratio = np.divide(num, den, out=np.full(num.shape, fill), where=np.asarray(den) != 0)
    return np.round(ratio, DECIMALS)


def fast_auc(y: np.ndarray, s: np.ndarray) -> float | None:
    """data.metrics.roc_auc(y (N,), s (N,)) in O(N); None without both classes."""
    return curve_auc(_curve(y, s))


def fast_f1_max(y: np.ndarray, s: np.ndarray) -> float:
    """data.metrics.f1_max(y, s)[0] in O(N)."""
    return curve_f1_max(_curve(y, s))[0]


METRICS = {"auc": fast_auc, "f1": fast_f1_max}


# ---- members stacked per protein ---------------------------------------------------------------

def check_stack(stack: Sequence[np.ndarray], n_members: int | None = None) -> int:
    """The member count M of ``stack`` (each (L_i, M), finite, in [0, 1]); ValueError otherwise."""
    if not len(stack):
        raise ValueError("no proteins to blend")
    widths = {np.shape(rows)[1] if np.ndim(rows) == 2 else -1 for rows in stack}
    if len(widths) != 1 or -1 in widths:
        raise ValueError(f"every protein's rows must be (L, M) with the same M; got M in "
                         f"{sorted(widths)}")
    m = widths.pop()
    if m < 1 or (n_members is not None and m != n_members):
        raise ValueError(f"the stack has {m} members, expected {n_members or 'at least 1'}")
    if not all(np.all((np.asarray(rows) >= 0) & (np.asarray(rows) <= 1)) for rows in stack):
        raise ValueError("member probabilities must be finite numbers in [0, 1]")  # NaN fails too
    return m


def pooled_members(stack: Sequence[np.ndarray], proteins: Sequence[Protein]
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Assessed residues of all proteins: ``(y (N,) uint8, X (N, M) float64)``, both classes."""
    check_stack(stack)
    if len(stack) != len(proteins):
        raise ValueError(f"{len(stack)} stacked arrays for {len(proteins)} proteins")
    for rows, p in zip(stack, proteins):
        if not p.has_labels:
            raise ValueError(f"protein {p.id} has no labels to fit a blender on")
        if len(rows) != len(p):
            raise ValueError(f"protein {p.id}: {len(rows)} stacked rows for {len(p)} residues")
    y = np.concatenate([p.labels[p.mask] for p in proteins])
    if not both_classes(y):
        raise InputError("cannot fit a blender: the assessed residues hold only one class")
    X = np.concatenate([np.asarray(rows, np.float64)[p.mask] for rows, p in zip(stack, proteins)])
    return y, X


def _as_probs(values: np.ndarray) -> np.ndarray:
    """(L,) float32 clipped to [0, 1] (sums of weights can overshoot 1 by an ulp)."""
    return np.clip(values, 0.0, 1.0).astype(np.float32)


# ---- blenders -----------------------------------------------------------------------------------

class MeanBlender:
    """Equal weights; nothing to learn."""

    kind = "mean"

    def fit(self, stack, proteins) -> MeanBlender:
        pooled_members(stack, proteins)  # the same input checks as every blender
        return self

    def predict(self, stack) -> list[np.ndarray]:
        check_stack(stack)
        return [_as_probs(np.asarray(rows, np.float64).mean(axis=1)) for rows in stack]

    def state(self) -> dict:
        return {"kind": self.kind}

    @classmethod
    def from_state(cls, state: dict) -> MeanBlender:
        return cls()


class WeightedBlender:
    """Simplex weights from greedy forward selection with replacement (Caruana et al. 2004).

    Each round adds the member whose inclusion gives the best pooled metric of the averaged
    selection (ties: the lowest index); the weights are the selection counts of the best round.
    """

    kind = "weighted"

    def __init__(self, metric: str = "auc", rounds: int = 30):
        if metric not in METRICS:
            raise SettingError(f"unknown metric {metric!r}; known: {', '.join(METRICS)}")
        if rounds < 1:
            raise SettingError(f"rounds must be >= 1, got {rounds}")
        self.metric, self.rounds = metric, rounds

    def fit(self, stack, proteins) -> WeightedBlender:
        y, X = pooled_members(stack, proteins)
        counts = _greedy_counts(y, np.ascontiguousarray(X.T), METRICS[self.metric], self.rounds)
        self.weights_ = counts / counts.sum()
        return self

    def predict(self, stack) -> list[np.ndarray]:
        check_stack(stack, len(_fitted(self, "weights_")))
        return [_as_probs(np.asarray(rows, np.float64) @ self.weights_) for rows in stack]

    def state(self) -> dict:
        return {"kind": self.kind, "metric": self.metric, "rounds": self.rounds,
                "weights": _fitted(self, "weights_").tolist()}

    @classmethod
    def from_state(cls, state: dict) -> WeightedBlender:
        blender = cls(state["metric"], state["rounds"])
        blender.weights_ = np.asarray(state["weights"], dtype=np.float64)
        return blender


def _greedy_counts(y: np.ndarray, columns: np.ndarray, score, rounds: int) -> np.ndarray:
    """Selection counts (M,) of the best-scoring round; ``columns`` is (M, N) member scores."""
    total = np.zeros(columns.shape[1])  # (N,) sum of the members selected so far
    counts = np.zeros(len(columns), dtype=np.int64)
    best, best_counts = -np.inf, None
    for k in range(1, rounds + 1):
        scores = [score(y, (total + column) / k) for column in columns]
        pick = int(np.argmax(scores))
        total += columns[pick]
        counts[pick] += 1
        if scores[pick] > best:  # strict: on a tie the smaller selection is kept
            best, best_counts = scores[pick], counts.copy()
    return best_counts


class RankBlender:
    """Each member's value -> its quantile among that member's out-of-fold values; then the mean.

    The out-of-fold distribution is kept as a grid of ``QUANTILES`` values, so new proteins are
    transformed one at a time, independently of each other.
    """

    kind = "rank"

    def fit(self, stack, proteins) -> RankBlender:
        _, X = pooled_members(stack, proteins)
        self.grid_ = np.quantile(X, np.linspace(0.0, 1.0, QUANTILES), axis=0).T  # (M, Q)
        return self

    def predict(self, stack) -> list[np.ndarray]:
        grid = _fitted(self, "grid_")
        check_stack(stack, len(grid))
        tables = [_quantile_table(values) for values in grid]
        return [_as_probs(np.mean([np.interp(column, *table) for column, table
                                   in zip(np.asarray(rows, np.float64).T, tables)], axis=0))
                for rows in stack]

    def state(self) -> dict:
        return {"kind": self.kind, "grid": _fitted(self, "grid_").tolist()}

    @classmethod
    def from_state(cls, state: dict) -> RankBlender:
        blender = cls()
        blender.grid_ = np.asarray(state["grid"], dtype=np.float64)
        return blender


def _quantile_table(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(xp, fp)`` for np.interp from a (Q,) quantile grid: a value repeated over several grid
    points (a member often says exactly 0) maps to the middle of their quantiles."""
    xp, inverse = np.unique(values, return_inverse=True)
    q = np.linspace(0.0, 1.0, len(values))
    return xp, np.bincount(inverse, q) / np.bincount(inverse)


# Context widths: on out-of-fold blends of w2v + lgbm + metapredict over 5 folds of the
# training files (never valid.fasta), (3, 9, 21, 51, 101) gave AUC 0.888 / F1-max 0.758 on
# train_pdb_style.fasta and 0.790 / 0.508 on train.pkl, against 0.887 / 0.755 and 0.788 / 0.507
# for (5, 15, 31); gradient boosting on the same features did worse (0.883, 0.785).
STACK_WIDTHS = (3, 9, 21, 51, 101)


class StackBlender:
    """Logistic regression on ``context_features``, standardised, fitted on assessed residues.

    At most ``STACK_MAX_ROWS`` residues (a seeded random subset) go into the fit.
    """

    kind = "stack"

    def __init__(self, widths: Sequence[int] = STACK_WIDTHS, C: float = 1.0, seed: int = 0):
        for w in widths:
            if w < 1 or w % 2 == 0:
                raise SettingError(f"context widths must be odd and >= 1, got {w}")
        self.widths, self.C, self.seed = tuple(int(w) for w in widths), float(C), int(seed)

    def fit(self, stack, proteins) -> StackBlender:
        from sklearn.linear_model import LogisticRegression  # sklearn only where it is needed
        y, _ = pooled_members(stack, proteins)
        X = np.concatenate([context_features(rows, self.widths)[p.mask]
                            for rows, p in zip(stack, proteins)])  # (N, F)
        if len(y) > STACK_MAX_ROWS:
            picked = np.sort(np.random.default_rng(self.seed).choice(len(y), STACK_MAX_ROWS,
                                                                     replace=False))
            X, y = X[picked], y[picked]
        self.mean_, self.scale_ = X.mean(axis=0), X.std(axis=0)
        self.scale_[self.scale_ == 0] = 1.0  # a constant feature stays 0 rather than NaN
        model = LogisticRegression(C=self.C, max_iter=1000)  # lbfgs: deterministic
        model.fit((X - self.mean_) / self.scale_, y)
        self.coef_, self.intercept_ = model.coef_[0].copy(), float(model.intercept_[0])
        self.n_members_ = stack[0].shape[1]
        return self

    def predict(self, stack) -> list[np.ndarray]:
        check_stack(stack, _fitted(self, "n_members_"))
        return [_as_probs(expit(((context_features(rows, self.widths) - self.mean_) / self.scale_)
                                @ self.coef_ + self.intercept_)) for rows in stack]

    def state(self) -> dict:
        return {"kind": self.kind, "widths": list(self.widths), "C": self.C, "seed": self.seed,
                "n_members": _fitted(self, "n_members_"), "mean": self.mean_.tolist(),
                "scale": self.scale_.tolist(), "coef": self.coef_.tolist(),
                "intercept": self.intercept_}

    @classmethod
    def from_state(cls, state: dict) -> StackBlender:
        blender = cls(state["widths"], state["C"], state["seed"])
        blender.n_members_, blender.intercept_ = int(state["n_members"]), state["intercept"]
        for key in ("mean", "scale", "coef"):
            setattr(blender, key + "_", np.asarray(state[key], dtype=np.float64))
        return blender


def context_features(rows: np.ndarray, widths: Sequence[int]) -> np.ndarray:
    """(L, M) member probabilities -> (L, M * (1 + len(widths))) float64 features.

    Columns: the M clipped logits, then for each width in turn the M centred moving means of p
    (near a terminus the mean is over the residues inside the protein).
    """
    rows = np.asarray(rows, dtype=np.float64)
    blocks = [logit(np.clip(rows, LOGIT_EPS, 1 - LOGIT_EPS))]
    blocks += [centred_mean(rows, w).astype(np.float64) for w in widths]
    return np.concatenate(blocks, axis=1)


def _fitted(blender, attribute: str):
    """A learned attribute, or a ValueError before fit."""
    if not hasattr(blender, attribute):
        raise ValueError(f"{type(blender).__name__} is not fitted: call fit first")
    return getattr(blender, attribute)


# ---- registry -----------------------------------------------------------------------------------

BLENDERS = {"mean": MeanBlender, "weighted": WeightedBlender, "rank": RankBlender,
            "stack": StackBlender}


def _blender_class(name: str) -> type:
    if name not in BLENDERS:
        raise SettingError(f"unknown blender {name!r}; known: {', '.join(BLENDERS)}")
    return BLENDERS[name]


def make_blender(name: str, **kwargs):
    """A fresh, unfitted blender of kind ``name`` with its settings from ``kwargs``."""
    return _blender_class(name)(**kwargs)


def blender_from_state(state: dict):
    """The blender a ``state()`` dict describes, ready to predict."""
    return _blender_class(state["kind"]).from_state(state)
