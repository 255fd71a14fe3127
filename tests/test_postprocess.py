"""Smoothing, minimum run length and threshold tuning, checked on numbers worked out by hand."""
import json

import numpy as np
import pytest

from idr_kit.data.metrics import binarize as threshold_calls
from idr_kit.data.metrics import binary_scores, f1_per_protein
from idr_kit.data.records import Protein, make_protein
from idr_kit.model.decision import (TUNED, Decision, DecisionSettings, f1_per_protein_curve,
                                    fit_decision, fit_min_length, fit_smoothing, min_length,
                                    min_length_all, runs, smooth_all, tune_threshold,
                                    tune_threshold_per_protein)


def smooth(probs, width: int, kind: str) -> np.ndarray:
    """One protein's smoothing."""
    return smooth_all([np.asarray(probs)], width, kind)[0]


def bits(text: str) -> np.ndarray:
    return np.array([int(c) for c in text], dtype=np.uint8)


# ---- smooth -----------------------------------------------------------------------------------

def test_a_median_of_three_removes_a_lone_spike():
    out = smooth(np.array([0, 0, 1, 0, 0.]), 3, "median")
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, [0, 0, 0, 0, 0])


def test_a_mean_of_three_spreads_a_spike_and_the_ends_average_what_is_inside():
    # ends: (0 + 0) / 2; middle: each window of three holds the 1 once
    np.testing.assert_allclose(smooth(np.array([0, 0, 1, 0, 0.]), 3, "mean"),
                               [0, 1 / 3, 1 / 3, 1 / 3, 0], rtol=1e-6)
    # ends: (1 + 0) / 2 = .5, then (1 + 0 + 0) / 3, (0 + 0 + 0) / 3
    np.testing.assert_allclose(smooth(np.array([1, 0, 0, 0, 1.]), 3, "mean"),
                               [.5, 1 / 3, 0, 1 / 3, .5], rtol=1e-6)


def test_a_mean_of_five_shrinks_to_three_and_four_residues_at_the_ends():
    np.testing.assert_allclose(smooth(np.array([0, 0, 1, 0, 0.]), 5, "mean"),
                               [1 / 3, 1 / 4, 1 / 5, 1 / 4, 1 / 3], rtol=1e-6)


def test_a_median_of_an_even_count_at_an_end_is_the_mean_of_the_two_middle_values():
    # width 3 at position 0 holds (1, 0): median .5
    np.testing.assert_array_equal(smooth(np.array([1, 0, 0, 0, 1.]), 3, "median"),
                                  [.5, 0, 0, 0, .5])
    # width 5 windows of .1 .9 .5 .3 .7:
    #   0: .1 .9 .5 -> .5;  1: .1 .3 .5 .9 -> .4;  2: all five -> .5;  3: .3 .5 .7 .9 -> .6;
    #   4: .5 .3 .7 -> .5
    np.testing.assert_allclose(smooth(np.array([.1, .9, .5, .3, .7]), 5, "median"),
                               [.5, .4, .5, .6, .5], rtol=1e-6)


def test_width_one_is_the_identity_and_a_window_wider_than_the_protein_is_its_mean():
    probs = np.array([.25, .75], dtype=np.float32)
    for kind in ("median", "mean"):
        np.testing.assert_array_equal(smooth(probs, 1, kind), probs)
        np.testing.assert_array_equal(smooth(probs, 15, kind), [.5, .5])


@pytest.mark.parametrize("width, kind", [(2, "mean"), (0, "median"), (3.0, "mean"),
                                         (3, "max")])
def test_smooth_rejects_bad_settings(width, kind):
    with pytest.raises(ValueError):
        smooth(np.zeros(5), width, kind)


@pytest.mark.parametrize("kind", ["median", "mean"])
@pytest.mark.parametrize("width", [1, 3, 5, 9, 15])
def test_smoothing_all_proteins_at_once_equals_one_by_one_bit_for_bit(kind, width):
    rng = np.random.default_rng(width)
    probs = [rng.random(n).astype(np.float32) for n in (1, 2, 7, 30, 400)]
    together = smooth_all(probs, width, kind)
    for p, out in zip(probs, together):
        np.testing.assert_array_equal(out, smooth(p, width, kind))


def test_smooth_all_rejects_non_finite_probs():
    with pytest.raises(ValueError):
        smooth_all([np.array([0.1, np.nan, 0.2])], 3, "mean")


# ---- min_length -------------------------------------------------------------------------------

def test_runs_are_half_open_ranges():
    starts, ends = runs(bits("0111011"))
    np.testing.assert_array_equal(starts, [1, 5])
    np.testing.assert_array_equal(ends, [4, 7])


@pytest.mark.parametrize("calls, length, expected", [
    ("0111011", 3, "0111000"),
    ("0111011", 2, "0111011"),
    ("0111011", 4, "0000000"),
    ("1100111", 3, "0000111"),
    ("1010101", 0, "1010101"),
    ("1010101", 1, "1010101"),
    ("1010101", 2, "0000000"),
    ("1111111", 7, "1111111"),
])
def test_min_length_by_hand(calls, length, expected):
    out = min_length(bits(calls), length)
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, bits(expected))


def test_min_length_of_all_proteins_keeps_runs_inside_each_protein():
    # "011" then "1100": one run of 4 if the proteins touched, two runs of 2 apart
    out = min_length_all([bits("011"), bits("1100"), bits("111")], 3)
    assert [o.tolist() for o in out] == [[0, 0, 0], [0, 0, 0, 0], [1, 1, 1]]


def test_min_length_rejects_non_binary_calls():
    with pytest.raises(ValueError):
        min_length(np.array([0, 2, 1]), 2)


def test_threshold_calls_round_to_three_decimals_first():
    # .4996 rounds to .5, so CAID calls it at .5; .4994 rounds to .499
    np.testing.assert_array_equal(threshold_calls(np.array([.4996, .4994, .5]), .5), [1, 0, 1])


# ---- fitting ----------------------------------------------------------------------------------

def spike_protein() -> tuple[Protein, np.ndarray]:
    """Labels 0x6 1x6 0x6; probs equal to the labels but for a 0 at .9 and a 1 at .1.

    Raw AUC < 1. A median of 3 restores the labels exactly (AUC 1). A mean of 3 also separates
    the classes: positives >= 2/3 (the run's ends, the .1 spot gives .7), negatives <= 1/3.
    """
    labels = "0" * 6 + "1" * 6 + "0" * 6
    probs = bits(labels).astype(np.float32)
    probs[2], probs[8] = .9, .1
    return make_protein("S1", "A" * 18, labels), probs


def test_fit_smoothing_picks_the_smallest_width_and_the_first_kind_among_ties():
    protein, probs = spike_protein()
    assert fit_smoothing([probs], [protein]) == ("median", 3)
    assert fit_smoothing([probs], [protein], kinds=("mean", "median")) == ("mean", 3)
    assert fit_smoothing([probs], [protein], widths=(1, 5)) == ("median", 5)


def test_fit_smoothing_keeps_none_when_smoothing_does_not_help():
    protein, _ = spike_protein()
    perfect = protein.labels.astype(np.float32)
    assert fit_smoothing([perfect], [protein]) == ("none", 1)
    assert fit_smoothing([perfect], [protein], metric="f1") == ("none", 1)


def test_fitting_needs_both_classes_and_a_known_metric():
    protein, probs = spike_protein()
    with pytest.raises(ValueError):
        fit_smoothing([probs], [protein], metric="mcc")
    ordered = make_protein("O1", "AAAA", "0000")
    with pytest.raises(ValueError):
        fit_smoothing([np.zeros(4)], [ordered])
    with pytest.raises(ValueError):
        tune_threshold_per_protein([ordered], [np.zeros(4)])


def test_fit_min_length_by_hand():
    # calls 1 0000 11111 0 1 against labels 0 0000 11111 0 0
    #   length 0: TP 5 FP 2 FN 0 -> P .714 R 1 -> F1 .833
    #   length 2, 3, 5: the lone 1s go -> F1 1 (the run of 5 is not shorter than 5)
    #   length 8: nothing called -> F1 0;  best F1 1, the shortest such length is 2
    protein = make_protein("M1", "A" * 12, "000001111100")
    probs = bits("100001111101").astype(np.float32) * .8
    assert binary_scores(protein.labels, threshold_calls(probs, .5))["f1"] == .833
    assert fit_min_length([probs], [protein], .5, lengths=(0, 2, 3, 5, 8)) == 2
    assert fit_min_length([probs], [protein], .5, lengths=(0, 8)) == 0


def test_tune_threshold_per_protein_by_hand():
    # P1 labels 1 1 0 scores .9 .6 .2;  P2 labels 0 1 scores .7 .8
    #   threshold .9: P1 100 -> 2/3, P2 00 -> 0      mean 1/3
    #             .8: P1 100 -> 2/3, P2 01 -> 1      mean 5/6
    #             .7: P1 100 -> 2/3, P2 11 -> 2/3    mean 2/3
    #             .6: P1 110 -> 1,   P2 11 -> 2/3    mean 5/6
    #             .2: P1 111 -> 4/5, P2 11 -> 2/3    mean 11/15
    # 5/6 at .8 and at .6: the tie goes to the higher threshold, as CAID's F1-max does.
    proteins = [make_protein("P1", "AAA", "110"), make_protein("P2", "AA", "01")]
    probs = [np.array([.9, .6, .2], np.float32), np.array([.7, .8], np.float32)]
    thresholds, f1 = f1_per_protein_curve(proteins, probs)
    np.testing.assert_allclose(thresholds, [.2, .6, .7, .8, .9])
    np.testing.assert_allclose(f1, [11 / 15, 5 / 6, 2 / 3, 5 / 6, 1 / 3])
    assert tune_threshold_per_protein(proteins, probs) == pytest.approx(.8)


def random_set(rng, count: int) -> tuple[list[Protein], list[np.ndarray]]:
    """Proteins with disordered runs, unassessed residues, one all-'-', one all-ordered."""
    proteins, probs = [], []
    for i in range(count):
        length = int(rng.integers(10, 120))  # >= the 9-residue kernel
        labels = (np.convolve(rng.random(length) < .05, np.ones(9), "same") > 0).astype(int)
        labels = np.where(rng.random(length) < .1, -1, labels)
        if i == 0:
            labels[:] = -1
        if i == 1:
            labels[:] = 0
        proteins.append(make_protein(f"R{i}", "A" * length, labels))
        noisy = .5 * (labels == 1) + .5 * rng.random(length)
        probs.append(np.round(noisy, int(rng.integers(2, 5))).astype(np.float32))
    return proteins, probs


def test_the_per_protein_f1_curve_equals_data_metrics_at_every_threshold():
    proteins, probs = random_set(np.random.default_rng(5), 60)
    thresholds, f1 = f1_per_protein_curve(proteins, probs)
    for threshold, value in zip(thresholds[::7], f1[::7]):
        calls = {p.id: threshold_calls(s, threshold) for p, s in zip(proteins, probs)}
        assert value == f1_per_protein(proteins, calls)
    best = tune_threshold_per_protein(proteins, probs)
    calls = {p.id: threshold_calls(s, best) for p, s in zip(proteins, probs)}
    assert f1_per_protein(proteins, calls) == f1.max()


# ---- the decision ----------------------------------------------------------------------------

def test_a_decision_smooths_then_calls_then_drops_short_runs():
    decision = Decision("median", 3, 3, threshold=0.5)
    [probs] = decision.probs([np.array([0, 0, 1, 0, 0.])])
    np.testing.assert_array_equal(probs, [0, 0, 0, 0, 0])
    [calls] = decision.calls([np.array([0, .6, .7, .8, .1, .9, .9], np.float32)])
    np.testing.assert_array_equal(calls, bits("0111000"))  # the run of two is too short
    [same] = Decision().probs([np.array([.25, .5])])
    assert same.dtype == np.float32 and same.tolist() == [.25, .5]


def test_a_decision_round_trips_through_json():
    decision = Decision("mean", 9, 5, 0.375, "test")
    state = json.loads(json.dumps(decision.to_dict()))
    assert state == {"kind": "mean", "width": 9, "min_length": 5, "threshold": 0.375,
                     "source": "test"}
    assert Decision.from_dict(state) == decision


@pytest.mark.parametrize("state", [{"kind": "none", "width": 3}, {"kind": "max"},
                                   {"width": 4}, {"min_length": -1}, {"colour": "red"},
                                   {"threshold": float("nan")}, {"threshold": 1.5},
                                   {"threshold": -0.1}])
def test_a_decision_rejects_bad_settings(state):
    with pytest.raises((ValueError, TypeError)):
        Decision.from_dict(state)


def oof_example():
    """Labels and out-of-fold scores where smoothing helps and a threshold is clear."""
    rng = np.random.default_rng(3)
    proteins, probs = [], []
    for i in range(30):
        labels = np.repeat(rng.integers(0, 2, 8), 10)  # runs of 10
        noisy = np.clip(0.3 + 0.4 * labels + rng.normal(0, 0.25, 80), 0, 1).astype(np.float32)
        proteins.append(Protein(f"p{i}", "A" * 80, labels.astype(np.uint8), np.ones(80, bool)))
        probs.append(noisy)
    return proteins, probs


def test_the_default_decision_is_the_identity_and_a_pooled_threshold():
    proteins, probs = oof_example()
    decision = fit_decision(probs, proteins, DecisionSettings())
    assert (decision.kind, decision.width, decision.min_length) == ("none", 1, 0)
    assert decision.threshold == tune_threshold(proteins, probs) and decision.source == TUNED


def test_a_fitted_decision_smooths_noisy_runs_and_a_given_threshold_wins():
    proteins, probs = oof_example()
    settings = DecisionSettings(smoothing=True, min_length=True)
    decision = fit_decision(probs, proteins, settings)
    assert decision.kind != "none" and decision.width > 1
    fixed = fit_decision(probs, proteins, settings, threshold=0.7)
    assert fixed.threshold == 0.7 and fixed.source == "--threshold"
    assert (fixed.kind, fixed.width) == (decision.kind, decision.width)
    per_protein = fit_decision(probs, proteins, DecisionSettings(threshold_rule="per_protein"))
    assert per_protein.threshold == tune_threshold_per_protein(proteins, probs)


@pytest.mark.parametrize("settings", [dict(threshold_rule="median"),
                                      dict(smoothing_metric="mcc")])
def test_decision_settings_reject_unknown_rules(settings):
    with pytest.raises(ValueError):
        DecisionSettings(**settings)
