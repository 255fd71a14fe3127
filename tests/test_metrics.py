"""CAID scoring checked against numbers worked out by hand and against scikit-learn."""
import time

import numpy as np
import pytest
from sklearn.metrics import (average_precision_score, f1_score, matthews_corrcoef,
                             precision_recall_curve, roc_auc_score)

from idr_kit.data.errors import InputError
from idr_kit.data.metrics import (KEYS, average_precision, binary_scores, evaluate, f1_max,
                                  f1_per_protein, format_report, pool, roc_auc, threshold_curve)
from idr_kit.data.records import make_protein

# Two proteins, one unassessed residue (P1 position 4, score 0.8).
#   P1 labels 1 1 0 - 0   scores .9 .4 .4 .8 .1
#   P2 labels 1 0 1 0     scores .7 .4 .2 .6
# Pooled assessed residues (4 positive, 4 negative):
#   y = 1 1 0 0 1 0 1 0,  s = .9 .4 .4 .1 .7 .4 .2 .6
# threshold  TP FP  precision recall  FPR  TPR   F1 from rounded P, R
#   .9        1  0    1        .25    0    .25   .4
#   .7        2  0    1        .5     0    .5    .667
#   .6        2  1    .667     .5     .25  .5    .572
#   .4        3  3    .5       .75    .75  .75   .6
#   .2        4  3    .571     1      .75  1     .727   <- F1-max
#   .1        4  4    .5       1      1    1     .667
# AUC: trapezoids over (0,0) (0,.25) (0,.5) (.25,.5) (.75,.75) (.75,1) (1,1)
#      = .125 + .3125 + .25 = .6875 -> CAID reports .688 (sklearn: .6875)
# APS: .25*1 + .25*1 + 0*.667 + .25*.5 + .25*.571 + 0*.5 = .76775 -> .768 (sklearn: .7679)
# MCC at .2: TP4 FP3 TN1 FN0: 4 / sqrt(7*4*4*1) = .378
# At 0.5: calls .9 .7 .6 -> TP2 FP1 FN2 TN3: P .667, R .5, F1 .572 (sklearn .5714),
#         MCC (2*3 - 1*2) / sqrt(3*4*4*5) = .258
# Per protein at 0.5: P1 TP1 FP0 FN1 -> 2/3; P2 TP1 FP1 FN1 -> 1/2; mean .58333
Y = np.array([1, 1, 0, 0, 1, 0, 1, 0])
S = np.array([.9, .4, .4, .1, .7, .4, .2, .6])


def two_proteins(dash="-"):
    return [make_protein("P1", "ACDEF", f"110{dash}0"), make_protein("P2", "GHIK", "1010")]


SCORES = {"P1": np.array([.9, .4, .4, .8, .1]), "P2": np.array([.7, .4, .2, .6])}


def test_pool_drops_unassessed_residues():
    y_true, y_pred, kept, dropped = pool(two_proteins(), SCORES)
    assert y_true.dtype == np.uint8 and kept == ["P1", "P2"] and dropped == 0
    np.testing.assert_array_equal(y_true, Y)
    np.testing.assert_array_equal(y_pred, S)


def test_curve_by_hand():
    c = threshold_curve(Y, S)
    np.testing.assert_array_equal(c.thresholds, [.9, .7, .6, .4, .2, .1])
    np.testing.assert_array_equal(c.tp, [1, 2, 2, 3, 4, 4])
    np.testing.assert_array_equal(c.fp, [0, 0, 1, 3, 3, 4])
    np.testing.assert_array_equal(c.tn + c.fp, 4)
    np.testing.assert_array_equal(c.fn + c.tp, 4)
    np.testing.assert_array_equal(c.precision, [1, 1, .667, .5, .571, .5])
    np.testing.assert_array_equal(c.fpr, [0, 0, .25, .75, .75, 1])


def test_threshold_free_metrics_by_hand_and_against_sklearn():
    assert roc_auc(Y, S) == 0.688
    assert average_precision(Y, S) == 0.768
    assert f1_max(Y, S) == (0.727, 0.2, 0.378)
    assert abs(roc_auc(Y, S) - roc_auc_score(Y, S)) <= 1e-3
    assert abs(average_precision(Y, S) - average_precision_score(Y, S)) <= 1e-3
    precision, recall, thresholds = precision_recall_curve(Y, S)
    f1 = 2 * precision * recall / (precision + recall)
    assert thresholds[np.argmax(f1[:-1])] == 0.2
    assert abs(f1_max(Y, S)[0] - f1.max()) <= 1e-3
    assert abs(0.378 - matthews_corrcoef(Y, S >= 0.2)) <= 5e-4


def test_binary_scores_by_hand_and_against_sklearn():
    calls = (S >= 0.5).astype(int)
    assert binary_scores(Y, calls) == {"f1": 0.572, "mcc": 0.258, "precision": 0.667,
                                       "recall": 0.5}
    assert abs(binary_scores(Y, calls)["f1"] - f1_score(Y, calls)) <= 1e-3
    assert abs(binary_scores(Y, calls)["mcc"] - matthews_corrcoef(Y, calls)) <= 5e-4


def test_binary_scores_at_the_f1_max_threshold_agree_with_f1_max():
    f1, threshold, mcc = f1_max(Y, S)
    scores = binary_scores(Y, S >= threshold)
    assert (scores["f1"], scores["mcc"]) == (f1, mcc)


def test_unassessed_residue_counted_as_zero_would_change_the_scores():
    # Counting P1's "-" (score .8) as 0 adds a negative beaten only by the .9 positive:
    # AUC = 12/20 pairs = .6 instead of .6875.
    as_zero = evaluate(two_proteins(dash="0"), SCORES)
    ignored = evaluate(two_proteins(), SCORES)
    assert as_zero["auc"] == 0.6 and ignored["auc"] == 0.688
    assert (as_zero["residues"], ignored["residues"]) == (9, 8)


def test_evaluate_by_hand():
    result = evaluate(two_proteins(), SCORES)
    assert tuple(result) == KEYS
    assert result == {"auc": 0.688, "aps": 0.768, "f1_max": 0.727, "threshold_f1_max": 0.2,
                      "mcc_f1_max": 0.378, "f1": 0.572, "mcc": 0.258, "precision": 0.667,
                      "recall": 0.5, "f1_per_protein": 0.583, "proteins": 2,
                      "residues": 8, "dropped": 0}


def test_f1_max_tie_goes_to_the_highest_threshold():
    # y 1 0 0 1, s .9 .8 .7 .1: F1 is .667 at .9 (P 1, R .5) and at .1 (P .5, R 1).
    y, s = np.array([1, 0, 0, 1]), np.array([.9, .8, .7, .1])
    assert f1_max(y, s) == (0.667, 0.9, 0.577)  # MCC at .9: 2 / sqrt(1*2*2*3)
    precision, recall, thresholds = precision_recall_curve(y, s)
    f1 = 2 * precision * recall / (precision + recall)
    assert thresholds[np.argmax(f1[:-1])] == 0.1  # sklearn's ascending order picks the lowest


def test_scores_are_rounded_to_three_decimals():
    # .5004 and .4996 both round to .500: one threshold, a tie, AUC .5 (sklearn on raw: 1.0).
    y, s = np.array([1, 0]), np.array([.5004, .4996])
    assert roc_auc_score(y, s) == 1.0 and roc_auc(y, s) == 0.5
    np.testing.assert_array_equal(threshold_curve(y, s).thresholds, [0.5])
    ref = [make_protein("A", "MK", "10")]
    result = evaluate(ref, {"A": s})
    assert (result["precision"], result["recall"]) == (0.5, 1.0)  # .4996 counts as >= .5


def test_dropped_targets_are_counted_and_excluded():
    ref = two_proteins() + [make_protein("P3", "MKV", "111"), make_protein("P4", "MKVL", "0000")]
    preds = {**SCORES, "P4": np.array([.9, .9, .9]), "EXTRA": np.array([.1])}
    y_true, _, kept, dropped = pool(ref, preds)
    assert kept == ["P1", "P2"] and dropped == 2 and len(y_true) == 8
    result = evaluate(ref, preds)
    assert result == {**evaluate(two_proteins(), SCORES), "dropped": 2}


def test_at_threshold_metrics_take_threshold_then_binary_then_half():
    ref = two_proteins()
    binary = {pid: (s >= 0.3).astype(np.uint8) for pid, s in SCORES.items()}
    default, given = evaluate(ref, SCORES), evaluate(ref, SCORES, binary, threshold=0.3)
    assert evaluate(ref, SCORES, binary)["f1"] == given["f1"] != default["f1"]
    assert evaluate(ref, SCORES, threshold=0.5) == default
    assert evaluate(ref, SCORES, binary, threshold=0.5) == default
    with pytest.raises(ValueError, match="threshold needs scores"):
        evaluate(ref, None, binary, threshold=0.5)


def test_binary_only_prediction_has_no_threshold_free_metrics():
    binary = {pid: (s >= 0.5).astype(np.uint8) for pid, s in SCORES.items()}
    result = evaluate(two_proteins(), None, binary)
    assert all(result[k] is None for k in ("auc", "aps", "f1_max", "threshold_f1_max",
                                           "mcc_f1_max"))
    assert result["f1"] == 0.572 and result["residues"] == 8


def test_f1_per_protein_definition():
    ref = [make_protein("A", "MKVL", "0000"), make_protein("B", "MKVL", "00-0"),
           make_protein("C", "MKVL", "1100"), make_protein("D", "MK", "--")]
    calls = {"A": np.array([0, 0, 0, 0]), "B": np.array([0, 0, 1, 1]),
             "C": np.array([1, 0, 0, 1]), "D": np.array([1, 1])}
    # A: nothing to find, nothing called -> 1.0; B: FP at position 4 (3 is unassessed) -> 0;
    # C: TP1 FP1 FN1 -> .5; D: no assessed residue -> left out. Mean (1 + 0 + .5) / 3 = .5
    assert f1_per_protein(ref, calls) == pytest.approx(0.5)
    expected = [f1_score(p.labels[p.mask], calls[p.id][p.mask], zero_division=1.0)
                for p in ref[:3]]
    assert f1_per_protein(ref, calls) == pytest.approx(np.mean(expected))
    assert f1_per_protein(ref[3:], calls) is None


def test_one_class_edge_cases_do_not_crash():
    s = np.array([.2, .5, .9])
    # all disordered: no ROC (no negatives); precision 1 everywhere, recall .333 .667 1 -> APS 1
    assert roc_auc(np.ones(3), s) is None and average_precision(np.ones(3), s) == 1.0
    assert f1_max(np.ones(3), s) == (1.0, 0.2, 0.0)
    # all ordered: no ROC, no APS; every F1 is 0, so the tie goes to the highest threshold
    assert roc_auc(np.zeros(3), s) is None and average_precision(np.zeros(3), s) is None
    assert f1_max(np.zeros(3), s) == (0.0, 0.9, 0.0)
    assert binary_scores(np.zeros(3), np.zeros(3)) == {"f1": 0.0, "mcc": 0.0,
                                                      "precision": 0.0, "recall": 0.0}


def test_nothing_matched_gives_counts_and_no_metrics():
    result = evaluate(two_proteins(), {"OTHER": np.array([.5])})
    assert result["dropped"] == 2 and result["residues"] == 0 and result["auc"] is None
    assert "n/a" in format_report(result)


def test_bad_inputs_are_named():
    with pytest.raises(InputError, match="P2.*position 3"):
        pool(two_proteins(), {**SCORES, "P2": np.array([.7, .4, np.nan, .6])})
    with pytest.raises(InputError, match="no labels"):
        pool([make_protein("U", "MKV")], {"U": np.zeros(3)})
    with pytest.raises(ValueError, match="only 0 and 1"):
        binary_scores(Y, S)
    with pytest.raises(ValueError, match="finite"):
        roc_auc(Y, np.r_[S[:-1], np.inf])
    with pytest.raises(ValueError, match="not a finite number"):
        evaluate(two_proteins(), SCORES, threshold=float("nan"))


def test_big_random_case_agrees_with_sklearn():
    rng = np.random.default_rng(7)
    y = (rng.random(100_000) < 0.3).astype(np.uint8)
    s = np.clip(rng.normal(0.4 + 0.2 * y, 0.2), 0, 1)
    assert abs(roc_auc(y, s) - roc_auc_score(y, s)) <= 1e-3
    assert abs(average_precision(y, s) - average_precision_score(y, np.round(s, 3))) <= 1e-3
    f1, threshold, mcc = f1_max(y, s)
    assert abs(f1 - f1_score(y, np.round(s, 3) >= threshold)) <= 1e-3
    assert abs(mcc - matthews_corrcoef(y, np.round(s, 3) >= threshold)) <= 5e-4


def test_a_million_residues_take_well_under_a_second_of_cpu():
    # CPU time, not the wall clock: beside other work a wall clock says nothing of the code
    rng = np.random.default_rng(1)
    y = (rng.random(1_000_000) < 0.3).astype(np.uint8)
    s = rng.random(1_000_000)
    start = time.process_time()
    roc_auc(y, s)
    assert time.process_time() - start < 1.0


def test_format_report_lists_every_metric():
    text = format_report(evaluate(two_proteins(), SCORES))
    assert "0.688" in text and "F1-max" in text and len(text.splitlines()) == len(KEYS)
