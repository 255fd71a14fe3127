"""CAID dataset-level scoring of per-residue disorder predictions, vectorised.

Matched to the CAID assessment code, BioComputingUP/CAID ``vectorized_metrics/vectorized_metrics.py``
and ``vectorized_metrics/parsers.py`` (the ``caid-assess`` tool):

* scores are rounded to 3 decimals (``parse_prediction(decimals=3)``); residues labelled ``-``
  are dropped; a reference target whose prediction is missing or has another length is dropped;
  the residues of all remaining targets are pooled into one data set;
* every distinct rounded score is a threshold, predicting 1 where ``score >= threshold``
  (``binary_clf_curve``); precision, recall, FPR and TPR are rounded to 3 decimals (``pr``,
  ``roc``); an undefined precision or recall counts as 0, and so does an undefined F1 or MCC;
* F1 is computed from the rounded precision and recall (``get_metrics``), and the per-threshold
  table is rounded to 3 decimals before ``idxmax`` over thresholds in decreasing order: so
  F1-max compares rounded F1 values and a tie goes to the highest threshold;
* ROC-AUC is the trapezoid rule over the rounded ROC points with (0, 0) prepended; the last
  point, everything predicted 1, is (1, 1). APS is CAID's step sum
  ``sum((R_k - R_{k-1}) * P_k)`` over the rounded points (sklearn's step-wise AP, not the
  trapezoid), and CAID reports AUC, APS and every metric rounded to 3 decimals; so do we.

Choices where CAID is silent or does not apply:

* AUC is None when either class is absent, APS when there are no positives (CAID yields NaN,
  or 0 from its 0/0 -> 0 rule); both are None for a binary-only prediction (CAID would use the
  states as scores).
* At-threshold metrics use, in this order: an explicit ``threshold`` on the rounded scores, else
  the prediction's binary column, else ``scores >= 0.5``. CAID's "default" instead reads its
  curve at the lowest score called disordered; scoring the binary column directly is the same
  when the column agrees with the scores, and is what a competition submission is judged on.
* ``f1_per_protein`` (the competition's per-protein F1, whose exact definition is unpublished)
  is the mean over scored proteins of ``2TP / (2TP + FP + FN)`` on assessed residues, computed
  exactly and reported to 3 decimals like everything else; a protein with no positive label and no positive call scores 1.0 (nothing to
  find, nothing falsely called: sklearn's ``zero_division=1.0``). Proteins with no assessed
  residue are skipped.
"""
from __future__ import annotations

from typing import Mapping, NamedTuple

import numpy as np

from idr_kit.data.errors import InputError
from idr_kit.data.records import Protein, check_unique_ids

DECIMALS = 3  # CAID rounds scores and every reported number to 3 decimals
DEFAULT_THRESHOLD = 0.5  # the usual cut on a disorder probability when none is given

KEYS = ("auc", "aps", "f1_max", "threshold_f1_max", "mcc_f1_max", "f1", "mcc", "precision",
        "recall", "f1_per_protein", "proteins", "residues", "dropped")

Predictions = Mapping[str, np.ndarray]


class Curve(NamedTuple):
    """Counts and rates at each distinct rounded score, thresholds decreasing; all (T,)."""
    thresholds: np.ndarray
    tp: np.ndarray
    fp: np.ndarray
    tn: np.ndarray
    fn: np.ndarray
    precision: np.ndarray  # rounded; 0 where undefined (CAID)
    recall: np.ndarray  # rounded; 0 where undefined (CAID)
    fpr: np.ndarray  # rounded; NaN without negatives
    tpr: np.ndarray  # rounded; NaN without positives


# ---- matching a prediction to the reference ---------------------------------------------------

def match(ref: list[Protein], preds: Predictions) -> tuple[list[str], list[str], list[str]]:
    """Reference ids split into ``(kept, missing, wrong_length)``, in reference order."""
    check_unique_ids(ref)
    kept, missing, wrong = [], [], []
    for p in ref:
        if p.labels is None:
            raise InputError("the reference has no labels to score against", protein=p.id)
        if p.id not in preds:
            missing.append(p.id)
        else:
            (kept if np.shape(preds[p.id]) == (len(p),) else wrong).append(p.id)
    return kept, missing, wrong


def _checked(pid: str, values) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(values))
    if len(bad):
        raise InputError(f"prediction is not a finite number ({values[bad[0]]})", protein=pid,
                         position=int(bad[0]) + 1)
    return values


def pool(ref: list[Protein], preds: Predictions
         ) -> tuple[np.ndarray, np.ndarray, list[str], int]:
    """Pool the assessed residues of every matched protein.

    Returns ``(y_true (N,) uint8, y_pred (N,) float64, kept ids, number dropped)``.
    """
    kept, missing, wrong = match(ref, preds)
    by_id = {p.id: p for p in ref}
    masks = [by_id[pid].mask for pid in kept]
    truths = [by_id[pid].labels[m] for pid, m in zip(kept, masks)]
    values = [_checked(pid, preds[pid])[m] for pid, m in zip(kept, masks)]
    y_true = np.concatenate(truths).astype(np.uint8) if kept else np.zeros(0, np.uint8)
    y_pred = np.concatenate(values) if kept else np.zeros(0)
    return y_true, y_pred, kept, len(missing) + len(wrong)


# ---- curves and the threshold-free metrics ----------------------------------------------------

def _round(x):
    return np.round(x, DECIMALS)


def _ratio(num: np.ndarray, den, fill: float) -> np.ndarray:
    num = np.asarray(num, dtype=np.float64)
    den = np.broadcast_to(np.asarray(den, dtype=np.float64), num.shape)
    return np.divide(num, den, out=np.full(num.shape, fill), where=den != 0)


def _checked_pair(y_true, y_other) -> tuple[np.ndarray, np.ndarray]:
    y_true, y_other = np.asarray(y_true), np.asarray(y_other)
    if y_true.ndim != 1 or y_true.shape != y_other.shape or not y_true.size:
        raise ValueError(f"need two equal, non-empty 1-D arrays; got {y_true.shape} and "
                         f"{y_other.shape}")
    if not np.isin(y_true, (0, 1)).all():
        raise ValueError("y_true must hold only 0 and 1")
    return y_true.astype(bool), y_other


def threshold_curve(y_true, y_score) -> Curve:
    """The confusion counts at every distinct rounded score (one stable sort, cumulative sums)."""
    truth, score = _checked_pair(y_true, y_score)
    score = _round(score.astype(np.float64))
    if not np.isfinite(score).all():
        raise ValueError("scores must be finite numbers")
    order = np.argsort(-score, kind="stable")  # (N,) decreasing score
    score, truth = score[order], truth[order]
    last = np.r_[np.flatnonzero(np.diff(score)), score.size - 1]  # (T,) end of each tie run
    tp = np.cumsum(truth, dtype=np.int64)[last]
    fp = last + 1 - tp
    pos, neg = tp[-1], fp[-1]
    return Curve(score[last], tp, fp, neg - fp, pos - tp,
                 _round(tp / (last + 1)), _round(_ratio(tp, pos, 0.0)),
                 _round(_ratio(fp, neg, np.nan)), _round(_ratio(tp, pos, np.nan)))


def _both_classes(curve: Curve) -> bool:
    return curve.tp[-1] > 0 and curve.fp[-1] > 0


def curve_auc(curve: Curve) -> float | None:
    """Trapezoid area under the rounded ROC points, (0, 0) prepended; None without both classes."""
    if not _both_classes(curve):
        return None
    fpr, tpr = np.r_[0.0, curve.fpr], np.r_[0.0, curve.tpr]
    return float(_round(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2)))


def curve_aps(curve: Curve) -> float | None:
    """CAID's average precision: ``sum((R_k - R_{k-1}) * P_k)``; None without positives."""
    if curve.tp[-1] == 0:
        return None
    return float(_round(np.sum(np.diff(np.r_[0.0, curve.recall]) * curve.precision)))


def _f1(precision: np.ndarray, recall: np.ndarray) -> np.ndarray:
    return _round(_ratio(2 * precision * recall, precision + recall, 0.0))


def _mcc(tp, fp, tn, fn) -> np.ndarray:
    tp, fp, tn, fn = (np.asarray(v, dtype=np.float64) for v in (tp, fp, tn, fn))
    den = np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    return _round(_ratio(tp * tn - fp * fn, den, 0.0))


def curve_f1_max(curve: Curve) -> tuple[float, float, float]:
    """``(f1, threshold, mcc)`` at the best rounded F1; argmax's first hit is the highest threshold."""
    f1 = _f1(curve.precision, curve.recall)
    best = int(np.argmax(f1))
    mcc = _mcc(curve.tp[best], curve.fp[best], curve.tn[best], curve.fn[best])
    return float(f1[best]), float(curve.thresholds[best]), float(mcc)


def roc_auc(y_true, y_score) -> float | None:
    return curve_auc(threshold_curve(y_true, y_score))


def average_precision(y_true, y_score) -> float | None:
    return curve_aps(threshold_curve(y_true, y_score))


def f1_max(y_true, y_score) -> tuple[float, float, float]:
    return curve_f1_max(threshold_curve(y_true, y_score))


# ---- metrics of binary calls ------------------------------------------------------------------

def _as_calls(values: np.ndarray) -> np.ndarray:
    if not np.isin(values, (0, 1)).all():
        raise ValueError("binary predictions must hold only 0 and 1")
    return values.astype(bool)


def binary_scores(y_true, y_binary) -> dict:
    """F1, MCC, precision and recall of 0/1 calls, the CAID way (F1 from rounded P and R)."""
    truth, calls = _checked_pair(y_true, y_binary)
    calls = _as_calls(calls)
    tp, fp = np.sum(truth & calls), np.sum(~truth & calls)
    fn, tn = np.sum(truth & ~calls), np.sum(~truth & ~calls)
    precision, recall = _round(_ratio(tp, tp + fp, 0.0)), _round(_ratio(tp, tp + fn, 0.0))
    return {"f1": float(_f1(precision, recall)), "mcc": float(_mcc(tp, fp, tn, fn)),
            "precision": float(precision), "recall": float(recall)}


def f1_per_protein(ref: list[Protein], binary: Predictions) -> float | None:
    """Mean over proteins of ``2TP / (2TP + FP + FN)`` on assessed residues (1.0 when 0/0).

    Proteins without a matching prediction or without assessed residues are left out; None if
    none is left.
    """
    y_true, y_pred, kept, _ = pool(ref, binary)
    kept = set(kept)
    sizes = np.array([int(p.mask.sum()) for p in ref if p.id in kept], dtype=np.int64)
    if not np.any(sizes):
        return None
    which = np.repeat(np.arange(len(sizes)), sizes)  # (N,) protein index of each residue
    truth, calls = y_true.astype(bool), _as_calls(y_pred)
    tp = np.bincount(which, truth & calls, len(sizes))
    wrong = np.bincount(which, truth ^ calls, len(sizes))  # FP + FN
    f1 = _ratio(2 * tp, 2 * tp + wrong, 1.0)
    return float(np.mean(f1[sizes > 0]))


# ---- the whole evaluation ---------------------------------------------------------------------

def binary_source(has_scores: bool, has_binary: bool, threshold: float | None) -> str:
    """Where the binary calls come from: ``"threshold"``, ``"binary"`` or ``"default"`` (0.5)."""
    if threshold is not None:
        if not np.isfinite(threshold):
            raise InputError(f"threshold {threshold} is not a finite number")
        if not has_scores:
            raise InputError("a threshold needs scores, but this prediction has only 0/1 states")
        return "threshold"
    if has_binary:
        return "binary"
    if not has_scores:
        raise InputError("the prediction has neither scores nor 0/1 states")
    return "default"


def binarize(scores, threshold: float) -> np.ndarray:
    """0/1 calls as CAID reads scores: rounded to 3 decimals, then ``>= threshold``.

    (L,) -> (L,) uint8. The one definition every writer and scorer of calls uses.
    """
    return (_round(np.asarray(scores, dtype=np.float64)) >= threshold).astype(np.uint8)


def _calls(scores: Predictions | None, binary: Predictions | None, threshold: float | None
           ) -> Predictions:
    source = binary_source(scores is not None, binary is not None, threshold)
    if source == "binary":
        return binary
    cut = DEFAULT_THRESHOLD if threshold is None else threshold
    return {pid: binarize(s, cut) for pid, s in scores.items()}


def _in_use(scores: Predictions | None, binary: Predictions | None, threshold: float | None
            ) -> list[Predictions]:
    """The prediction dicts ``evaluate`` reads: the scores, and the binary column if it is used."""
    if binary_source(scores is not None, binary is not None, threshold) != "binary":
        binary = None
    return [preds for preds in (scores, binary) if preds is not None]


def drop_reasons(ref: list[Protein], scores: Predictions | None,
                 binary: Predictions | None = None, threshold: float | None = None
                 ) -> dict[str, list[str]]:
    """Reference ids ``evaluate`` drops: ``{"missing": [...], "wrong_length": [...]}``."""
    missing, wrong = set(), set()
    for preds in _in_use(scores, binary, threshold):
        _, no_pred, bad_length = match(ref, preds)
        missing.update(no_pred)
        wrong.update(bad_length)
    return {"missing": [p.id for p in ref if p.id in missing],
            "wrong_length": [p.id for p in ref if p.id in wrong - missing]}


def _curve_metrics(y_true: np.ndarray, y_score: np.ndarray) -> dict:
    curve = threshold_curve(y_true, y_score)
    f1, threshold, mcc = curve_f1_max(curve)
    return {"auc": curve_auc(curve), "aps": curve_aps(curve), "f1_max": f1,
            "threshold_f1_max": threshold, "mcc_f1_max": mcc}


def evaluate(ref: list[Protein], scores: Predictions | None, binary: Predictions | None = None,
             threshold: float | None = None) -> dict:
    """Every metric in ``KEYS``; the threshold-free ones are None without ``scores``."""
    reasons = drop_reasons(ref, scores, binary, threshold)
    gone = set(reasons["missing"] + reasons["wrong_length"])
    scored = [p for p in ref if p.id not in gone]
    calls = _calls(scores, binary, threshold)
    y_true, y_call, _, _ = pool(scored, calls)
    result = dict.fromkeys(KEYS)
    result.update(proteins=sum(1 for p in scored if p.mask.any()), residues=int(y_true.size),
                  dropped=len(ref) - len(scored))
    if not y_true.size:
        return result
    if scores is not None:
        result.update(_curve_metrics(y_true, pool(scored, scores)[1]))
    per_protein = f1_per_protein(scored, calls)
    result.update(binary_scores(y_true, y_call),
                  f1_per_protein=None if per_protein is None else float(_round(per_protein)))
    return result


def _cell(value) -> str:
    if value is None:
        return "n/a"
    return f"{value:,}" if isinstance(value, int) else f"{value:.{DECIMALS}f}"


def format_report(result: dict) -> str:
    """A short table of an ``evaluate`` result."""
    rows = [("proteins scored", "proteins"), ("residues scored", "residues"),
            ("targets dropped", "dropped"), ("ROC-AUC", "auc"), ("APS", "aps"),
            ("F1-max", "f1_max"), ("  at threshold", "threshold_f1_max"),
            ("  MCC there", "mcc_f1_max"), ("F1", "f1"), ("MCC", "mcc"),
            ("precision", "precision"), ("recall", "recall"), ("F1 per protein", "f1_per_protein")]
    return "\n".join(f"{label:<18}{_cell(result[key]):>10}" for label, key in rows)
